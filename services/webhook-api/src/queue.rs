//! Putting an accepted event on SQS: a PRODUCER span `send <queue>` whose context travels with
//! the message (message attributes + `AWSTraceHeader`), FIFO group and deduplication ids when
//! the queue is FIFO.

use std::future::Future;
use std::sync::{Arc, Mutex};

use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::MessageSystemAttributeNameForSends;
use sha2::{Digest, Sha256};
use shared_telemetry::Telemetry;
use shared_telemetry::attributes as attr;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use webhook_event::StripeEvent;

use crate::config::QueueUrl;

/// Why a message was not queued. The text is for logs and spans; clients only learn "retry".
#[derive(Debug, thiserror::Error)]
#[error("{operation} to {destination} failed ({}): {detail}", .failure.as_str())]
pub struct QueueError {
    /// The call that failed: `SQS SendMessage` or `SNS Publish`.
    pub operation: &'static str,
    /// The queue's or topic's name.
    pub destination: String,
    pub failure: QueueFailure,
    pub detail: String,
}

/// What kind of failure it was: what an operator checks first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueFailure {
    /// No answer: connection refused or reset, DNS, or a timeout.
    Unreachable,
    Throttled,
    /// The function's role may not send to the queue or publish to the topic (or use its key).
    AccessDenied,
    /// The queue or topic does not exist.
    QueueNotFound,
    /// Any other refusal by SQS.
    Rejected,
}

impl QueueFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unreachable => "unreachable",
            Self::Throttled => "throttled",
            Self::AccessDenied => "access_denied",
            Self::QueueNotFound => "queue_not_found",
            Self::Rejected => "rejected",
        }
    }

    /// A service error by its code (SQS's, with the query protocol's `AWS.SimpleQueueService.*`,
    /// or SNS's).
    pub fn of_code(code: Option<&str>) -> Self {
        match code.unwrap_or_default() {
            "AccessDenied"
            | "AccessDeniedException"
            | "KmsAccessDenied"
            | "KMS.AccessDeniedException"
            | "AuthorizationError"
            | "KMSAccessDenied" => Self::AccessDenied,
            "RequestThrottled"
            | "ThrottlingException"
            | "Throttling"
            | "KmsThrottled"
            | "Throttled"
            | "KMSThrottling" => Self::Throttled,
            "AWS.SimpleQueueService.NonExistentQueue" | "QueueDoesNotExist" | "NotFound" => {
                Self::QueueNotFound
            }
            _ => Self::Rejected,
        }
    }

    /// The failure of an AWS SDK call (SQS's or SNS's): no answer, or the service's refusal.
    pub fn of_sdk_error<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> Self {
        match error {
            SdkError::ServiceError(service) => Self::of_code(service.err().code()),
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
                Self::Unreachable
            }
            _ => Self::Rejected,
        }
    }
}

/// Where accepted events go. SQS in production; tests use an in-memory double.
pub trait EventQueue: Send + Sync {
    /// Queues `body` (the original event JSON) and returns the queue's message id.
    fn enqueue(
        &self,
        event: &StripeEvent,
        body: &str,
    ) -> impl Future<Output = Result<String, QueueError>> + Send;
}

/// The SQS queue of a deployment.
#[derive(Debug, Clone)]
pub struct SqsEventQueue {
    client: aws_sdk_sqs::Client,
    url: QueueUrl,
    telemetry: Telemetry,
}

impl SqsEventQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: QueueUrl, telemetry: Telemetry) -> Self {
        Self {
            client,
            url,
            telemetry,
        }
    }

    async fn send(&self, event: &StripeEvent, body: &str) -> Result<String, QueueError> {
        let span = tracing::Span::current();
        let trace = self
            .telemetry
            .inject_into_sqs(&span.context(), &Default::default());
        let mut request = self
            .client
            .send_message()
            .queue_url(self.url.as_str())
            .message_body(body)
            .set_message_attributes(
                (!trace.message_attributes.is_empty()).then_some(trace.message_attributes),
            );
        // Set explicitly: the SDK would otherwise let SQS fill it from the Lambda segment's
        // context, not this span's.
        if let Some(header) = trace.aws_trace_header {
            request =
                request.message_system_attributes(MessageSystemAttributeNameForSends::AwsTraceHeader, header);
        }
        if self.url.is_fifo() {
            let (group, deduplication) = fifo_ids(event);
            request = request
                .message_group_id(group)
                .message_deduplication_id(deduplication);
        }
        let sent = request.send().await.map(|output| output.message_id);
        settle(&span, sent, "SQS SendMessage", self.url.name(), "sqs_send_failed")
    }
}

/// A send's or publish's outcome on its PRODUCER `span`: the message id SQS or SNS answered
/// with, or the failure as a [`QueueError`], recorded as the span's error (`error_type`).
pub(crate) fn settle<E, R>(
    span: &tracing::Span,
    sent: Result<Option<String>, SdkError<E, R>>,
    operation: &'static str,
    destination: &str,
    error_type: &'static str,
) -> Result<String, QueueError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match sent {
        Ok(message_id) => {
            let message_id = message_id.unwrap_or_default();
            span.set_attribute(attr::MESSAGING_MESSAGE_ID, message_id.clone());
            Ok(message_id)
        }
        Err(error) => {
            let error = QueueError {
                operation,
                destination: destination.to_owned(),
                failure: QueueFailure::of_sdk_error(&error),
                detail: DisplayErrorContext(&error).to_string(),
            };
            shared_telemetry::record_error(span, error_type, &error);
            Err(error)
        }
    }
}

impl EventQueue for SqsEventQueue {
    fn enqueue(
        &self,
        event: &StripeEvent,
        body: &str,
    ) -> impl Future<Output = Result<String, QueueError>> + Send {
        let queue = self.url.name();
        let span = tracing::info_span!(
            "send",
            otel.name = format!("send {queue}"),
            otel.kind = "producer",
            { attr::MESSAGING_SYSTEM } = attr::MESSAGING_SYSTEM_SQS,
            { attr::MESSAGING_OPERATION_NAME } = attr::MESSAGING_OPERATION_SEND,
            { attr::MESSAGING_OPERATION_TYPE } = attr::MESSAGING_OPERATION_SEND,
            { attr::MESSAGING_DESTINATION_NAME } = queue,
            { attr::AWS_SQS_QUEUE_URL } = self.url.as_str(),
            { attr::RPC_SYSTEM } = attr::RPC_SYSTEM_AWS_API,
            { attr::RPC_SERVICE } = "SQS",
            { attr::RPC_METHOD } = "SendMessage",
            { attr::WEBHOOK_EVENT_ID } = event.id().as_str(),
            { attr::WEBHOOK_TYPE } = event.event_type(),
        );
        shared_telemetry::search::index_event_id(&span);
        self.send(event, body).instrument(span)
    }
}

/// An in-memory queue for tests and tools: records what was sent, or, made `unavailable`,
/// refuses every send as an unreachable SQS would.
#[derive(Debug, Clone, Default)]
pub struct MemoryQueue {
    sent: Arc<Mutex<Vec<(String, String)>>>,
    unavailable: bool,
}

impl MemoryQueue {
    pub fn new() -> Self {
        Self::default()
    }

    /// A queue whose every send fails.
    pub fn unavailable() -> Self {
        Self {
            unavailable: true,
            ..Self::default()
        }
    }

    /// `(event id, body)` of every message sent, in order.
    pub fn sent(&self) -> Vec<(String, String)> {
        self.sent.lock().map(|sent| sent.clone()).unwrap_or_default()
    }
}

impl EventQueue for MemoryQueue {
    fn enqueue(
        &self,
        event: &StripeEvent,
        body: &str,
    ) -> impl Future<Output = Result<String, QueueError>> + Send {
        let refused = |detail: &str| QueueError {
            operation: "memory send",
            destination: "memory".to_owned(),
            failure: QueueFailure::Unreachable,
            detail: detail.to_owned(),
        };
        let outcome = match self.sent.lock() {
            _ if self.unavailable => Err(refused("unavailable")),
            Ok(mut sent) => {
                sent.push((event.id().to_string(), body.to_owned()));
                Ok(format!("memory-{}", sent.len()))
            }
            Err(_) => Err(refused("lock poisoned")),
        };
        std::future::ready(outcome)
    }
}

/// Events without a customer or account share one group, so their order is kept too.
const DEFAULT_MESSAGE_GROUP: &str = "stripe";

/// The FIFO message group and deduplication ids of `event`, for a FIFO queue or topic: one
/// group per customer (or account), so each customer's events keep their order, and the event
/// id as the deduplication id, so a retried webhook is not queued twice.
pub fn fifo_ids(event: &StripeEvent) -> (String, String) {
    let group = event
        .customer_id()
        .or_else(|| event.account())
        .unwrap_or(DEFAULT_MESSAGE_GROUP);
    (fifo_id(group), fifo_id(event.id().as_str()))
}

/// A FIFO group or deduplication id: the value itself when SQS and SNS accept it (at most 128
/// printable ASCII characters), otherwise its SHA-256, so every value maps to a valid id.
fn fifo_id(value: &str) -> String {
    let valid = !value.is_empty() && value.len() <= 128 && value.bytes().all(|b| b.is_ascii_graphic());
    if valid {
        value.to_owned()
    } else {
        hex::encode(Sha256::digest(value.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_named_by_their_code() {
        assert_eq!(
            QueueFailure::of_code(Some("AccessDenied")),
            QueueFailure::AccessDenied
        );
        assert_eq!(
            QueueFailure::of_code(Some("KMS.AccessDeniedException")),
            QueueFailure::AccessDenied
        );
        assert_eq!(
            QueueFailure::of_code(Some("RequestThrottled")),
            QueueFailure::Throttled
        );
        assert_eq!(
            QueueFailure::of_code(Some("AWS.SimpleQueueService.NonExistentQueue")),
            QueueFailure::QueueNotFound
        );
        assert_eq!(
            QueueFailure::of_code(Some("InvalidParameterValue")),
            QueueFailure::Rejected
        );
        assert_eq!(QueueFailure::of_code(None), QueueFailure::Rejected);
    }

    #[test]
    fn fifo_ids_keep_valid_values_and_hash_the_rest() {
        assert_eq!(fifo_id("cus_123"), "cus_123");
        let long = "a".repeat(200);
        assert_eq!(fifo_id(&long).len(), 64);
        assert_eq!(fifo_id("cus 1").len(), 64, "spaces are not allowed");
        assert_ne!(fifo_id("cus 1"), fifo_id("cus 2"));
    }
}
