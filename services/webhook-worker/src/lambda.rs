//! The Lambda edge: an SQS event in, a partial batch response out.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;

use crate::batch::Worker;
use crate::store::EventStore;

pub async fn respond_to_batch<S: EventStore>(
    worker: &Worker<S>,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let deadline = event.context.deadline();
    let outcome = worker.run_batch(&event.payload.records, deadline).await;
    Ok(outcome.into_response()?)
}
