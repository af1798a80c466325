//! Notification items in the webhook table: a consistent `GetItem` of the status and an
//! `UpdateItem` conditional on `pending`, each with its CLIENT span.

use std::collections::HashMap;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use event_table::notification as item;
use tracing::Instrument;

use super::{Mark, Marked, NotificationStore, StoreError};

/// The webhook table's notification items.
#[derive(Debug, Clone)]
pub struct DynamoDbNotifications {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoDbNotifications {
    /// Notification items of `table`, through `client`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn client_span(&self, operation: &'static str) -> tracing::Span {
        let region = self.client.config().region().map(ToString::to_string);
        shared_telemetry::dynamodb_client_span(operation, &self.table, region)
    }
}

impl NotificationStore for DynamoDbNotifications {
    async fn status(&self, event_id: &str) -> Result<Option<String>, StoreError> {
        let call = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(event_table::notification_key(event_id)))
            .consistent_read(true)
            .projection_expression("#status")
            .expression_attribute_names("#status", item::STATUS)
            .send();
        let span = self.client_span("GetItem");
        match call.instrument(span.clone()).await {
            Ok(output) => Ok(output.item.and_then(|found| {
                found
                    .get(item::STATUS)
                    .and_then(|status| status.as_s().ok())
                    .cloned()
            })),
            Err(error) => Err(failed(&span, &error)),
        }
    }

    async fn mark(&self, event_id: &str, mark: &Mark) -> Result<Marked, StoreError> {
        let s = |value: &str| AttributeValue::S(value.to_owned());
        let mut values = HashMap::from([(":pending".to_owned(), s(item::PENDING))]);
        let mut names = HashMap::from([("#status".to_owned(), item::STATUS.to_owned())]);
        let expression = match mark {
            Mark::Sent { message_id, at_ms } => {
                values.insert(":status".to_owned(), s(item::SENT));
                values.insert(":message".to_owned(), s(message_id));
                values.insert(":at".to_owned(), AttributeValue::N(at_ms.to_string()));
                names.insert("#message".to_owned(), item::MESSAGE_ID.to_owned());
                names.insert("#at".to_owned(), item::NOTIFIED_AT_MS.to_owned());
                "SET #status = :status, #message = :message, #at = :at"
            }
            Mark::Unsendable { reason, at_ms } => {
                values.insert(":status".to_owned(), s(item::UNSENDABLE));
                values.insert(":reason".to_owned(), s(reason));
                values.insert(":at".to_owned(), AttributeValue::N(at_ms.to_string()));
                names.insert("#reason".to_owned(), item::UNSENDABLE_REASON.to_owned());
                names.insert("#at".to_owned(), item::NOTIFIED_AT_MS.to_owned());
                "SET #status = :status, #reason = :reason, #at = :at"
            }
        };
        let call = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(event_table::notification_key(event_id)))
            .update_expression(expression)
            .condition_expression("#status = :pending")
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .send();
        let span = self.client_span("UpdateItem");
        match call.instrument(span.clone()).await {
            Ok(_) => Ok(Marked::Now),
            Err(SdkError::ServiceError(service)) if service.err().is_conditional_check_failed_exception() => {
                Ok(Marked::Before)
            }
            Err(error) => Err(failed(&span, &error)),
        }
    }
}

fn failed<E: ProvideErrorMetadata + std::error::Error + 'static>(
    span: &tracing::Span,
    error: &SdkError<E, HttpResponse>,
) -> StoreError {
    let error_type = match error {
        SdkError::ServiceError(service) => match service.err().code().unwrap_or_default() {
            "ThrottlingException" | "ProvisionedThroughputExceededException" | "RequestLimitExceeded" => {
                "dynamodb_throttled"
            }
            _ if service.raw().status().as_u16() >= 500 => "dynamodb_unavailable",
            _ => "dynamodb_rejected",
        },
        SdkError::ConstructionFailure(_) => "dynamodb_rejected",
        _ => "dynamodb_unavailable",
    };
    let error = StoreError {
        error_type,
        detail: DisplayErrorContext(error).to_string(),
    };
    shared_telemetry::record_error(span, error_type, &error);
    error
}
