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
use crate::sink::{EventSink, SendError, SendFailure};

/// The SQS queue of a deployment.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    url: QueueUrl,
    telemetry: Telemetry,
}

impl SqsQueue {
    /// A queue at `url`, sent to with `client`.
    pub fn new(client: aws_sdk_sqs::Client, url: QueueUrl, telemetry: Telemetry) -> Self {
        Self {
            client,
            url,
            telemetry,
        }
    }

    async fn send(&self, event: &StripeEvent, body: &str) -> Result<String, SendError> {
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
/// with, or the failure as a [`SendError`], recorded as the span's error (`error_type`).
pub(crate) fn settle<E, R>(
    span: &tracing::Span,
    sent: Result<Option<String>, SdkError<E, R>>,
    operation: &'static str,
    destination: &str,
    error_type: &'static str,
) -> Result<String, SendError>
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
            let error = SendError {
                operation,
                destination: destination.to_owned(),
                failure: SendFailure::of_sdk_error(&error),
                detail: DisplayErrorContext(&error).to_string(),
            };
            shared_telemetry::record_error(span, error_type, &error);
            Err(error)
        }
    }
}

impl EventSink for SqsQueue {
    fn send(
        &self,
        event: &StripeEvent,
        body: &str,
    ) -> impl Future<Output = Result<String, SendError>> + Send {
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
        shared_telemetry::index_event_id(&span);
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
    /// A queue that accepts everything.
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

impl EventSink for MemoryQueue {
    fn send(
        &self,
        event: &StripeEvent,
        body: &str,
    ) -> impl Future<Output = Result<String, SendError>> + Send {
        let refused = |detail: &str| SendError {
            operation: "memory send",
            destination: "memory".to_owned(),
            failure: SendFailure::Unreachable,
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
            SendFailure::of_code(Some("AccessDenied")),
            SendFailure::AccessDenied
        );
        assert_eq!(
            SendFailure::of_code(Some("KMS.AccessDeniedException")),
            SendFailure::AccessDenied
        );
        assert_eq!(
            SendFailure::of_code(Some("RequestThrottled")),
            SendFailure::Throttled
        );
        assert_eq!(
            SendFailure::of_code(Some("AWS.SimpleQueueService.NonExistentQueue")),
            SendFailure::NotFound
        );
        assert_eq!(
            SendFailure::of_code(Some("InvalidParameterValue")),
            SendFailure::Rejected
        );
        assert_eq!(SendFailure::of_code(None), SendFailure::Rejected);
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
