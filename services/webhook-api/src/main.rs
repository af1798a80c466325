//! The `webhook-api` Lambda: configuration and clients built once per cold start, then the
//! runtime loop with the invocation span layer.

use std::process::ExitCode;
use std::sync::Arc;

use lambda_runtime::{LambdaEvent, Runtime, service_fn};
use shared_telemetry::{InvocationHandler, InvocationLayer, Telemetry, Trigger};
use webhook_api::config::{ApiConfig, Destination};
use webhook_api::destination::ConfiguredSink;
use webhook_api::intake::WebhookIntake;
use webhook_api::queue::SqsQueue;
use webhook_api::topic::SnsTopic;
use webhook_api::{lambda, secrets};

#[tokio::main]
async fn main() -> ExitCode {
    let telemetry = match Telemetry::init(env!("CARGO_PKG_NAME")) {
        Ok(telemetry) => telemetry,
        Err(error) => {
            shared_telemetry::report_init_error(&error.to_string()).await;
            return ExitCode::FAILURE;
        }
    };
    let config = match ApiConfig::from_env() {
        Ok(config) => config,
        Err(error) => {
            shared_telemetry::report_init_error(&error.to_string()).await;
            return ExitCode::FAILURE;
        }
    };
    match run(telemetry, config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "webhook-api stopped");
            ExitCode::FAILURE
        }
    }
}

async fn run(telemetry: Telemetry, config: ApiConfig) -> Result<(), lambda_runtime::Error> {
    let aws = sdk_config::lambda();
    let signing_secrets = match secrets::load_signing_secrets(&config.secret, &aws).await {
        Ok(secrets) => secrets,
        Err(error) => {
            shared_telemetry::report_init_error(&error.to_string()).await;
            return Err(error.into());
        }
    };
    let queue = match config.destination {
        Destination::Queue(url) => ConfiguredSink::Queue(SqsQueue::new(
            aws_sdk_sqs::Client::new(&aws),
            url,
            telemetry.clone(),
        )),
        Destination::Topic(arn) => ConfiguredSink::Topic(SnsTopic::new(
            aws_sdk_sns::Client::new(&aws),
            arn,
            telemetry.clone(),
        )),
    };
    let intake = Arc::new(WebhookIntake::new(queue, signing_secrets, config.limits));

    let handler = service_fn(move |event: LambdaEvent<lambda::GatewayRequest>| {
        let intake = Arc::clone(&intake);
        async move { Ok::<_, lambda_runtime::Error>(lambda::handle_request(&intake, &event.payload).await) }
    });
    Runtime::new(InvocationHandler::new(handler))
        .layer(InvocationLayer::new(telemetry, Trigger::Http))
        .run()
        .await
}
