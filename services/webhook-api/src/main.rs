//! The `webhook-api` Lambda: configuration and clients built once per cold start, then the
//! runtime loop with the invocation span layer.

use std::process::ExitCode;
use std::sync::Arc;

use lambda_runtime::{Runtime, service_fn};
use shared_telemetry::{InvocationLayer, Telemetry, Trigger};
use webhook_api::config::ApiConfig;
use webhook_api::intake::WebhookIntake;
use webhook_api::queue::SqsEventQueue;
use webhook_api::{lambda, secrets};

#[tokio::main]
async fn main() -> ExitCode {
    let telemetry = match Telemetry::init(env!("CARGO_PKG_NAME")) {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    match run(telemetry).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "webhook-api stopped");
            ExitCode::FAILURE
        }
    }
}

async fn run(telemetry: Telemetry) -> Result<(), lambda_runtime::Error> {
    let config = ApiConfig::from_env()?;
    let aws = sdk_config::load().await;
    let signing_secrets = secrets::load_signing_secrets(&config.secret, &aws).await?;
    let queue = SqsEventQueue::new(
        aws_sdk_sqs::Client::new(&aws),
        config.queue_url,
        telemetry.clone(),
    );
    let intake = Arc::new(WebhookIntake::new(queue, signing_secrets, config.limits));

    let handler = service_fn(move |request| {
        let intake = Arc::clone(&intake);
        async move { lambda::handle_request(&intake, request).await }
    });
    Runtime::new(lambda_http::Adapter::from(handler))
        .layer(InvocationLayer::new(telemetry, Trigger::Http))
        .run()
        .await
}
