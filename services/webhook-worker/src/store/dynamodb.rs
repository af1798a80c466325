//! The DynamoDB store: one `TransactWriteItems` writes the event record (conditional on its id
//! being new) together with its effect, so a redelivered event never has a second effect. The
//! key layout is the `event-table` crate.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};

use shared_telemetry::attributes as attr;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::{EventRecord, EventStore, RecordOutcome, StoreError, StoreErrorKind};
use crate::effect::{Effect, PAST_DUE};
use event_table::TTL_ATTRIBUTE;
use event_table::notification as item;

const CONDITIONAL_CHECK_FAILED: &str = "ConditionalCheckFailed";
/// The first transaction item is always the event record; the second the status change.
const RECORD_ITEM: usize = 0;
const STATUS_ITEM: usize = 1;

/// The webhook table.
#[derive(Debug, Clone)]
pub struct DynamoDbStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoDbStore {
    /// A store writing to `table` with `client`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    async fn record_with_effect(
        &self,
        record: &EventRecord,
        effect: &Effect,
    ) -> Result<RecordOutcome, StoreError> {
        let items = self.transaction(record, effect)?;
        let call = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send();
        let span = self.client_span("TransactWriteItems");
        let reasons = match call.instrument(span.clone()).await {
            Ok(_) => return Ok(RecordOutcome::Stored),
            Err(SdkError::ServiceError(service)) => match service.err() {
                TransactWriteItemsError::TransactionCanceledException(canceled) => canceled
                    .cancellation_reasons()
                    .iter()
                    .map(|reason| reason.code().unwrap_or("None").to_owned())
                    .collect::<Vec<_>>(),
                error => {
                    let kind = classify_answer(error.code(), service.raw().status().as_u16());
                    return Err(failed(&span, kind, error));
                }
            },
            Err(error) => return Err(failed(&span, classify_transport(&error), &error)),
        };
        span.set_attribute(attr::AWS_DYNAMODB_CANCELLATION_REASONS, reasons.join(","));
        let condition_failed =
            |index: usize| reasons.get(index).map(String::as_str) == Some(CONDITIONAL_CHECK_FAILED);
        if condition_failed(RECORD_ITEM) {
            return Ok(RecordOutcome::Duplicate);
        }
        if condition_failed(STATUS_ITEM) {
            return self.record_superseded(record, effect.customer_id()).await;
        }
        let kind = reasons
            .iter()
            .map(|code| classify_service_error(Some(code)))
            .find(|kind| *kind != StoreErrorKind::Rejected)
            .unwrap_or(StoreErrorKind::Rejected);
        let error = StoreError {
            kind,
            detail: format!("transaction canceled: [{}]", reasons.join(", ")),
        };
        shared_telemetry::record_error(&span, kind.error_type(), &error);
        Err(error)
    }

    /// The event is older than the status already stored: keep its record, change nothing.
    async fn record_superseded(
        &self,
        record: &EventRecord,
        customer_id: Option<&str>,
    ) -> Result<RecordOutcome, StoreError> {
        let item = event_item(record, event_table::outcome::SUPERSEDED, None, customer_id);
        let call = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send();
        let span = self.client_span("PutItem");
        match call.instrument(span.clone()).await {
            Ok(_) => Ok(RecordOutcome::Superseded),
            Err(SdkError::ServiceError(service)) if service.err().is_conditional_check_failed_exception() => {
                Ok(RecordOutcome::Duplicate)
            }
            Err(SdkError::ServiceError(service)) => Err(failed(
                &span,
                classify_answer(service.err().code(), service.raw().status().as_u16()),
                service.err(),
            )),
            Err(error) => Err(failed(&span, classify_transport(&error), &error)),
        }
    }

    fn transaction(
        &self,
        record: &EventRecord,
        effect: &Effect,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let outcome = RecordOutcome::Stored.label(effect);
        let ignored_reason = match effect {
            Effect::Ignored { reason } => Some(*reason),
            _ => None,
        };
        let mut items = vec![
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(event_item(
                            record,
                            outcome,
                            ignored_reason,
                            effect.customer_id(),
                        )))
                        .condition_expression("attribute_not_exists(pk)")
                        .build()
                        .map_err(invalid_request)?,
                )
                .build(),
        ];
        match effect {
            Effect::PaymentFailed {
                customer_id,
                reason,
                email,
            } => {
                items.push(self.status_update(record, customer_id, PAST_DUE, None)?);
                let mut notification = event_table::notification_key(&record.event_id);
                notification.extend([
                    (item::KIND.to_owned(), s("payment_failed")),
                    (item::STATUS.to_owned(), s(item::PENDING)),
                    (item::CUSTOMER_ID.to_owned(), s(customer_id)),
                    (item::EVENT_ID.to_owned(), s(&record.event_id)),
                    ("created_at_ms".to_owned(), n(record.processed_at_ms)),
                    (TTL_ATTRIBUTE.to_owned(), n(record.expires_at)),
                ]);
                if let Some(reason) = reason {
                    notification.insert(item::REASON.to_owned(), s(reason));
                }
                if let Some(email) = email {
                    notification.insert(item::EMAIL.to_owned(), s(email));
                }
                if !record.trace_context.is_empty() {
                    let context = record
                        .trace_context
                        .iter()
                        .map(|(name, value)| (name.clone(), s(value)))
                        .collect();
                    notification.insert(item::TRACE_CONTEXT.to_owned(), AttributeValue::M(context));
                }
                items.push(
                    TransactWriteItem::builder()
                        .put(
                            Put::builder()
                                .table_name(&self.table)
                                .set_item(Some(notification))
                                .build()
                                .map_err(invalid_request)?,
                        )
                        .build(),
                );
            }
            Effect::SubscriptionStatus {
                customer_id,
                subscription_id,
                status,
            } => items.push(self.status_update(record, customer_id, status, subscription_id.as_deref())?),
            Effect::Ignored { .. } => {}
        }
        Ok(items)
    }

    /// Sets the subscription status unless a newer event (by Stripe's `created`) already did:
    /// Stripe does not deliver in order.
    fn status_update(
        &self,
        record: &EventRecord,
        customer_id: &str,
        status: &str,
        subscription_id: Option<&str>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut expression = String::from(
            "SET #status = :status, customer_id = :customer, status_event_id = :event, \
             status_event_created = :created, updated_at_ms = :now",
        );
        let mut values = HashMap::from([
            (":status".to_owned(), s(status)),
            (":customer".to_owned(), s(customer_id)),
            (":event".to_owned(), s(&record.event_id)),
            (":created".to_owned(), n(record.created)),
            (":now".to_owned(), n(record.processed_at_ms)),
        ]);
        if let Some(subscription_id) = subscription_id {
            expression.push_str(", subscription_id = :subscription");
            values.insert(":subscription".to_owned(), s(subscription_id));
        }
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(event_table::subscription_key(customer_id)))
            .update_expression(expression)
            .condition_expression(
                "attribute_not_exists(status_event_created) OR status_event_created <= :created",
            )
            .expression_attribute_names("#status", "status")
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(invalid_request)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// A CLIENT span per DynamoDB call, with the database semantic conventions.
    fn client_span(&self, operation: &'static str) -> tracing::Span {
        let region = self.client.config().region().map(ToString::to_string);
        shared_telemetry::dynamodb_client_span(operation, &self.table, region)
    }
}

impl EventStore for DynamoDbStore {
    async fn record(&self, record: &EventRecord, effect: &Effect) -> Result<RecordOutcome, StoreError> {
        self.record_with_effect(record, effect).await
    }
}

fn event_item(
    record: &EventRecord,
    outcome: &str,
    ignored_reason: Option<&str>,
    customer_id: Option<&str>,
) -> HashMap<String, AttributeValue> {
    let mut item = event_table::event_record_key(&record.event_id);
    item.extend([
        ("event_id".to_owned(), s(&record.event_id)),
        ("event_type".to_owned(), s(&record.event_type)),
        ("created".to_owned(), n(record.created)),
        ("livemode".to_owned(), AttributeValue::Bool(record.livemode)),
        ("processed_at_ms".to_owned(), n(record.processed_at_ms)),
        ("receive_count".to_owned(), n(record.receive_count)),
        ("outcome".to_owned(), s(outcome)),
        (TTL_ATTRIBUTE.to_owned(), n(record.expires_at)),
    ]);
    if let Some(received_at_ms) = record.received_at_ms {
        item.insert("received_at_ms".to_owned(), n(received_at_ms));
    }
    if let Some(trace_id) = &record.trace_id {
        item.insert("trace_id".to_owned(), s(trace_id));
    }
    if let Some(reason) = ignored_reason {
        item.insert("ignored_reason".to_owned(), s(reason));
    }
    if let Some(customer_id) = customer_id {
        item.insert("customer_id".to_owned(), s(customer_id));
    }
    item
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// Error codes DynamoDB uses for throttling, in errors and in cancellation reasons.
fn classify_service_error(code: Option<&str>) -> StoreErrorKind {
    match code.unwrap_or_default() {
        "ThrottlingException"
        | "ThrottlingError"
        | "ProvisionedThroughputExceeded"
        | "ProvisionedThroughputExceededException"
        | "RequestLimitExceeded" => StoreErrorKind::Throttled,
        "InternalServerError"
        | "ServiceUnavailable"
        | "TransactionConflict"
        | "TransactionInProgressException" => StoreErrorKind::Unavailable,
        _ => StoreErrorKind::Rejected,
    }
}

/// An error answer: by its code, else by its status, so a 5xx without a readable code (a
/// proxy's or load balancer's page) counts as transient.
fn classify_answer(code: Option<&str>, status: u16) -> StoreErrorKind {
    match classify_service_error(code) {
        StoreErrorKind::Rejected if status >= 500 => StoreErrorKind::Unavailable,
        kind => kind,
    }
}

/// No service answer: a timeout, a connection failure or an unreadable response is transient;
/// a request the SDK could not even build is not.
fn classify_transport<E, R>(error: &SdkError<E, R>) -> StoreErrorKind {
    match error {
        SdkError::ConstructionFailure(_) => StoreErrorKind::Rejected,
        SdkError::ServiceError(_) => StoreErrorKind::Rejected,
        _ => StoreErrorKind::Unavailable,
    }
}

fn failed(span: &tracing::Span, kind: StoreErrorKind, error: &dyn std::error::Error) -> StoreError {
    let error = StoreError {
        kind,
        detail: DisplayErrorContext(error).to_string(),
    };
    shared_telemetry::record_error(span, kind.error_type(), &error);
    error
}

fn invalid_request(error: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError {
        kind: StoreErrorKind::Rejected,
        detail: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_and_server_errors_are_transient_the_rest_rejected() {
        assert_eq!(classify_answer(None, 503), StoreErrorKind::Unavailable);
        assert_eq!(
            classify_answer(Some("ValidationException"), 400),
            StoreErrorKind::Rejected
        );
        assert_eq!(
            classify_service_error(Some("ThrottlingException")),
            StoreErrorKind::Throttled
        );
        assert_eq!(
            classify_service_error(Some("ProvisionedThroughputExceeded")),
            StoreErrorKind::Throttled
        );
        assert_eq!(
            classify_service_error(Some("TransactionConflict")),
            StoreErrorKind::Unavailable
        );
        assert_eq!(
            classify_service_error(Some("InternalServerError")),
            StoreErrorKind::Unavailable
        );
        assert_eq!(
            classify_service_error(Some("ValidationError")),
            StoreErrorKind::Rejected
        );
        assert_eq!(classify_service_error(None), StoreErrorKind::Rejected);
    }
}
