//! The DLQ read without consuming it. Each message is received (hidden while the scan runs, so
//! every receive returns new ones), then made visible again straight away. Side effect: each
//! DLQ message's `ApproximateReceiveCount` grows by one per scan. That count is the DLQ's own;
//! a redriven message starts again from its source queue's count. If a scan is killed midway,
//! the messages it received reappear when their visibility timeout ends.

use aws_sdk_sqs::types::{ChangeMessageVisibilityBatchRequestEntry, Message, MessageSystemAttributeName};
use serde_json::Value;
use webhook_event::Envelope;

use crate::OperatorError;

/// How long a scanned message stays hidden if the scan cannot make it visible again.
const SCAN_VISIBILITY_SECS: i32 = 30;
/// An upper bound on one scan: a DLQ this deep needs a redrive more than a search.
pub const MAX_SCANNED: usize = 1000;

/// A dead-lettered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// Its SQS message id.
    pub message_id: String,
    /// The event id in its body, when the body is an event.
    pub event_id: Option<String>,
    /// When it was first sent to the source queue (Unix milliseconds).
    pub sent_at_ms: Option<i64>,
    /// How often it has been received, from the source queue and the DLQ.
    pub receive_count: Option<u32>,
    /// The trace its producer sent it in (W3C form), from its message attributes or
    /// `AWSTraceHeader`.
    pub trace_id: Option<String>,
}

/// What a scan saw.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    /// Every message read.
    pub messages: Vec<DeadLetter>,
    /// More messages than [`MAX_SCANNED`] were there.
    pub truncated: bool,
}

impl Scan {
    /// The message carrying `event_id`, if one does.
    pub fn find(&self, event_id: &str) -> Option<&DeadLetter> {
        self.messages
            .iter()
            .find(|message| message.event_id.as_deref() == Some(event_id))
    }
}

/// Up to ten messages from `queue_url` with every attribute (message and system), hidden for
/// `visibility_secs`; empty when the queue has none visible.
pub(crate) async fn receive_page(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    visibility_secs: i32,
) -> Result<Vec<Message>, OperatorError> {
    let received = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .visibility_timeout(visibility_secs)
        .wait_time_seconds(0)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .message_attribute_names("All")
        .send()
        .await
        .map_err(|error| OperatorError::aws("SQS", "ReceiveMessage", error))?;
    Ok(received.messages.unwrap_or_default())
}

/// How many messages the queue at `queue_url` holds, visible or in flight.
pub async fn depth(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Result<u64, OperatorError> {
    use aws_sdk_sqs::types::QueueAttributeName;
    let output = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .map_err(|error| OperatorError::aws("SQS", "GetQueueAttributes", error))?;
    let attributes = output.attributes.unwrap_or_default();
    let count = |name: &QueueAttributeName| {
        attributes
            .get(name)
            .and_then(|value| value.parse::<u64>().ok())
            .unwrap_or_default()
    };
    Ok(count(&QueueAttributeName::ApproximateNumberOfMessages)
        + count(&QueueAttributeName::ApproximateNumberOfMessagesNotVisible))
}

/// Every message in the DLQ at `dlq_url`, up to [`MAX_SCANNED`], left in place.
pub async fn scan(sqs: &aws_sdk_sqs::Client, dlq_url: &str) -> Result<Scan, OperatorError> {
    let mut scan = Scan::default();
    let mut receipts = Vec::new();
    let outcome = async {
        loop {
            let messages = receive_page(sqs, dlq_url, SCAN_VISIBILITY_SECS).await?;
            if messages.is_empty() {
                return Ok(());
            }
            for message in messages {
                receipts.extend(message.receipt_handle.clone());
                scan.messages.push(dead_letter(&message));
            }
            if scan.messages.len() >= MAX_SCANNED {
                scan.truncated = true;
                return Ok(());
            }
        }
    }
    .await;
    release(sqs, dlq_url, &receipts).await;
    outcome.map(|()| scan)
}

/// Makes the scanned messages visible again, ten at a time.
async fn release(sqs: &aws_sdk_sqs::Client, dlq_url: &str, receipts: &[String]) {
    for (batch, chunk) in receipts.chunks(10).enumerate() {
        let entries = chunk.iter().enumerate().filter_map(|(index, receipt)| {
            ChangeMessageVisibilityBatchRequestEntry::builder()
                .id(format!("m{batch}-{index}"))
                .receipt_handle(receipt)
                .visibility_timeout(0)
                .build()
                .ok()
        });
        let _ = sqs
            .change_message_visibility_batch()
            .queue_url(dlq_url)
            .set_entries(Some(entries.collect()))
            .send()
            .await;
    }
}

fn dead_letter(message: &aws_sdk_sqs::types::Message) -> DeadLetter {
    let system = |name: MessageSystemAttributeName| {
        message
            .attributes
            .as_ref()
            .and_then(|attributes| attributes.get(&name))
            .cloned()
    };
    let attribute = |name: &str| {
        message
            .message_attributes
            .as_ref()
            .and_then(|attributes| attributes.get(name))
            .and_then(|value| value.string_value.clone())
    };
    // The event may be inside an SNS or EventBridge envelope, as the worker reads it.
    let envelope = message.body.as_deref().and_then(|body| Envelope::open(body).ok());
    let body: Value = envelope
        .as_ref()
        .and_then(|envelope| serde_json::from_str(envelope.payload()).ok())
        .unwrap_or(Value::Null);
    let notification = |name: &str| {
        envelope
            .as_ref()
            .and_then(Envelope::sns)
            .and_then(|notification| notification.message_attributes.get(name))
            .map(|attribute| attribute.value.clone())
    };
    // The consumer's carrier precedence: message attributes, an SNS envelope's, then
    // `AWSTraceHeader`.
    let trace_id = attribute("traceparent")
        .as_deref()
        .and_then(trace_id_of_traceparent)
        .or_else(|| {
            attribute("X-Amzn-Trace-Id")
                .as_deref()
                .and_then(trace_id_of_xray_header)
        })
        .or_else(|| {
            notification("traceparent")
                .as_deref()
                .and_then(trace_id_of_traceparent)
        })
        .or_else(|| {
            notification("X-Amzn-Trace-Id")
                .as_deref()
                .and_then(trace_id_of_xray_header)
        })
        .or_else(|| {
            system(MessageSystemAttributeName::AwsTraceHeader)
                .as_deref()
                .and_then(trace_id_of_xray_header)
        });
    DeadLetter {
        message_id: message.message_id.clone().unwrap_or_default(),
        event_id: body["id"].as_str().map(str::to_owned),
        sent_at_ms: system(MessageSystemAttributeName::SentTimestamp).and_then(|value| value.parse().ok()),
        receive_count: system(MessageSystemAttributeName::ApproximateReceiveCount)
            .and_then(|value| value.parse().ok()),
        trace_id,
    }
}

/// The trace id of a W3C `traceparent` (`00-<32 hex>-<16 hex>-<flags>`).
pub fn trace_id_of_traceparent(traceparent: &str) -> Option<String> {
    let mut parts = traceparent.split('-');
    let (_, trace_id) = (parts.next()?, parts.next()?);
    (trace_id.len() == 32 && trace_id.bytes().all(|b| b.is_ascii_hexdigit())).then(|| trace_id.to_owned())
}

/// The trace id of an X-Ray header (`Root=1-<8 hex>-<24 hex>;...`), in W3C form.
pub fn trace_id_of_xray_header(header: &str) -> Option<String> {
    let root = header
        .split(';')
        .find_map(|part| part.trim().strip_prefix("Root="))?;
    let mut parts = root.split('-');
    let (version, epoch, unique) = (parts.next()?, parts.next()?, parts.next()?);
    let trace_id = format!("{epoch}{unique}");
    (version == "1" && trace_id.len() == 32 && trace_id.bytes().all(|b| b.is_ascii_hexdigit()))
        .then_some(trace_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_enveloped_dead_letter_names_its_event_and_trace() {
        let event = br#"{"id":"evt_sns_1","type":"invoice.paid","data":{"object":{}}}"#;
        let traceparent = "00-69559a005a3b1e0c2d4f6a8b9c0d1e2f-7a085853722dc6d2-01";
        let body = test_support::sqs::sns_notification("sns-1", event, &[("traceparent", traceparent)]);
        let message = Message::builder()
            .message_id("m-1")
            .body(String::from_utf8(body).unwrap_or_default())
            .build();
        let letter = dead_letter(&message);
        assert_eq!(letter.event_id.as_deref(), Some("evt_sns_1"));
        assert_eq!(
            letter.trace_id.as_deref(),
            Some("69559a005a3b1e0c2d4f6a8b9c0d1e2f")
        );

        let body = test_support::sqs::eventbridge_event("eb-1", event);
        let message = Message::builder()
            .body(String::from_utf8(body).unwrap_or_default())
            .build();
        assert_eq!(dead_letter(&message).event_id.as_deref(), Some("evt_sns_1"));
    }

    #[test]
    fn trace_ids_come_from_either_carrier() {
        assert_eq!(
            trace_id_of_traceparent("00-69559a005a3b1e0c2d4f6a8b9c0d1e2f-7a085853722dc6d2-01").as_deref(),
            Some("69559a005a3b1e0c2d4f6a8b9c0d1e2f")
        );
        assert_eq!(
            trace_id_of_xray_header(
                "Root=1-69559a00-5a3b1e0c2d4f6a8b9c0d1e2f;Parent=7a085853722dc6d2;Sampled=1"
            )
            .as_deref(),
            Some("69559a005a3b1e0c2d4f6a8b9c0d1e2f")
        );
        for bad in ["", "00-xyz-1-01", "Root=2-1-2", "Parent=1"] {
            assert_eq!(trace_id_of_traceparent(bad), None, "{bad}");
            assert_eq!(trace_id_of_xray_header(bad), None, "{bad}");
        }
    }
}
