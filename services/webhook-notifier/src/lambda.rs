//! The Lambda edge: a DynamoDB stream event in, a partial batch response (the failed record's
//! sequence number) out.

use aws_lambda_events::dynamodb::Event;
use aws_lambda_events::streams::DynamoDbEventResponse;
use lambda_runtime::LambdaEvent;

use crate::batch::Notifier;
use crate::mailer::Mailer;
use crate::store::NotificationStore;

/// Runs the batch and answers with the checkpoint to retry from.
pub async fn respond_to_batch<S: NotificationStore, M: Mailer>(
    notifier: &Notifier<S, M>,
    event: LambdaEvent<Event>,
) -> Result<DynamoDbEventResponse, lambda_runtime::Error> {
    let deadline = event.context.deadline();
    let outcome = notifier.run_batch(&event.payload.records, deadline).await;
    Ok(outcome.into_response()?)
}
