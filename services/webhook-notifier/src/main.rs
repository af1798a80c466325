//! The `webhook-notifier` Lambda: configuration and clients built once per cold start, then the
//! runtime loop with the invocation span layer.

use std::process::ExitCode;
use std::sync::Arc;

use lambda_runtime::{LambdaEvent, Runtime, service_fn};
use shared_telemetry::{InvocationHandler, InvocationLayer, Telemetry, Trigger};
use webhook_notifier::batch::Notifier;
use webhook_notifier::config::NotifierConfig;
use webhook_notifier::lambda;
use webhook_notifier::mailer::ses::SesMailer;
use webhook_notifier::store::dynamodb::DynamoDbNotifications;

#[tokio::main]
async fn main() -> ExitCode {
    let telemetry = match Telemetry::init(env!("CARGO_PKG_NAME")) {
        Ok(telemetry) => telemetry,
        Err(error) => {
            shared_telemetry::report_init_error(&error.to_string()).await;
            return ExitCode::FAILURE;
        }
    };
    let config = match NotifierConfig::from_env() {
        Ok(config) => config,
        Err(error) => {
            shared_telemetry::report_init_error(&error.to_string()).await;
            return ExitCode::FAILURE;
        }
    };
    match run(telemetry, config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "webhook-notifier stopped");
            ExitCode::FAILURE
        }
    }
}

async fn run(telemetry: Telemetry, config: NotifierConfig) -> Result<(), lambda_runtime::Error> {
    let aws = sdk_config::lambda();
    let store = DynamoDbNotifications::new(aws_sdk_dynamodb::Client::new(&aws), config.table_name);
    let mailer = SesMailer::new(
        aws_sdk_sesv2::Client::new(&aws),
        config.sender,
        config.configuration_set,
    );
    let notifier = Arc::new(Notifier::new(store, mailer, telemetry.clone(), config.settings));
    let handler = service_fn(move |event: LambdaEvent<_>| {
        let notifier = Arc::clone(&notifier);
        async move { lambda::respond_to_batch(&notifier, event).await }
    });
    Runtime::new(InvocationHandler::new(handler))
        .layer(InvocationLayer::new(telemetry, Trigger::Datasource))
        .run()
        .await
}
