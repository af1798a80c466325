//! SQS messages as Lambda delivers them, built for tests.

use aws_lambda_events::sqs::{SqsMessage, SqsMessageAttribute};

pub const STANDARD_QUEUE_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:webhooks";
pub const FIFO_QUEUE_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:webhooks.fifo";

/// A message from the standard test queue with `id` and `body`.
pub fn message(id: &str, body: &[u8]) -> SqsMessage {
    let mut message = SqsMessage::default();
    message.message_id = Some(id.to_owned());
    message.receipt_handle = Some(format!("receipt-{id}"));
    message.body = Some(String::from_utf8_lossy(body).into_owned());
    message.event_source = Some("aws:sqs".to_owned());
    message.event_source_arn = Some(STANDARD_QUEUE_ARN.to_owned());
    message.aws_region = Some("us-east-1".to_owned());
    message
        .attributes
        .insert("ApproximateReceiveCount".to_owned(), "1".to_owned());
    message
}

/// Adds a String message attribute (`traceparent`, `X-Amzn-Trace-Id`, ...).
pub fn with_attribute(mut message: SqsMessage, name: &str, value: &str) -> SqsMessage {
    let mut attribute = SqsMessageAttribute::default();
    attribute.data_type = Some("String".to_owned());
    attribute.string_value = Some(value.to_owned());
    message.message_attributes.insert(name.to_owned(), attribute);
    message
}

/// Adds a message system attribute (`AWSTraceHeader`, `MessageGroupId`, ...).
pub fn with_system_attribute(mut message: SqsMessage, name: &str, value: &str) -> SqsMessage {
    message.attributes.insert(name.to_owned(), value.to_owned());
    message
}

/// Moves the message to the FIFO test queue, in `group`.
pub fn in_fifo_group(message: SqsMessage, group: &str) -> SqsMessage {
    let mut message = with_system_attribute(message, "MessageGroupId", group);
    message.event_source_arn = Some(FIFO_QUEUE_ARN.to_owned());
    message
}
