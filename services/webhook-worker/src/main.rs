//! The `webhook-worker` Lambda: configuration and clients built once per cold start, then the
//! runtime loop with the invocation span layer.

use std::process::ExitCode;
use std::sync::Arc;

use lambda_runtime::{LambdaEvent, Runtime, service_fn};
use shared_telemetry::{InvocationHandler, InvocationLayer, Telemetry, Trigger};
use webhook_worker::batch::Worker;
use webhook_worker::config::WorkerConfig;
use webhook_worker::lambda;
use webhook_worker::metrics::MetricsPublisher;
use webhook_worker::store::dynamodb::DynamoDbStore;

#[tokio::main]
async fn main() -> ExitCode {
    let telemetry = match Telemetry::init(env!("CARGO_PKG_NAME")) {
        Ok(telemetry) => telemetry,
        Err(error) => {
            shared_telemetry::report_init_error(&error.to_string()).await;
            return ExitCode::FAILURE;
        }
    };
    let config = match WorkerConfig::from_env() {
        Ok(config) => config,
        Err(error) => {
            shared_telemetry::report_init_error(&error.to_string()).await;
            return ExitCode::FAILURE;
        }
    };
    match run(telemetry, config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "webhook-worker stopped");
            ExitCode::FAILURE
        }
    }
}

async fn run(telemetry: Telemetry, config: WorkerConfig) -> Result<(), lambda_runtime::Error> {
    let aws = sdk_config::lambda();
    let store = DynamoDbStore::new(aws_sdk_dynamodb::Client::new(&aws), config.table_name);
    let worker = Arc::new(Worker::new(store, telemetry.clone(), config.settings));
    let function_name = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_default();
    let metrics = config
        .metrics_namespace
        .map(|namespace| Arc::new(MetricsPublisher::stdout(namespace, function_name)));

    let handler = service_fn(move |event: LambdaEvent<_>| {
        let (worker, metrics) = (Arc::clone(&worker), metrics.clone());
        async move { lambda::respond_to_batch(&worker, metrics.as_deref(), event).await }
    });
    Runtime::new(InvocationHandler::new(handler))
        .layer(InvocationLayer::new(telemetry, Trigger::PubSub))
        .run()
        .await
}
