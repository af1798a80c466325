//! The Lambda edge: an SQS event in, a partial batch response out.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;

use crate::batch::Worker;
use crate::metrics::{BatchMetrics, MetricsPublisher};
use crate::store::EventStore;

/// Runs the batch, publishes its figures (when `metrics` is set) and answers with the messages
/// to redeliver.
pub async fn respond_to_batch<S: EventStore>(
    worker: &Worker<S>,
    metrics: Option<&MetricsPublisher>,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let deadline = event.context.deadline();
    let outcome = worker.run_batch(&event.payload.records, deadline).await;
    if let Some(metrics) = metrics {
        metrics.publish(BatchMetrics {
            messages: outcome.messages.len(),
            failed: outcome.failed(),
        });
    }
    Ok(outcome.into_response()?)
}
