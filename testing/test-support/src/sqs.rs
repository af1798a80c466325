//! SQS messages as Lambda delivers them, built for tests, and the bodies SNS and EventBridge
//! put on a queue.

use aws_lambda_events::sqs::{SqsMessage, SqsMessageAttribute};

/// The ARN of the standard queue sample messages come from.
pub const STANDARD_QUEUE_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:webhooks";
/// The ARN of the FIFO queue sample messages come from.
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

/// The SNS topic of the test notifications.
pub const TOPIC_ARN: &str = "arn:aws:sns:us-east-1:123456789012:webhooks";

/// The body an SQS subscription without raw message delivery receives for a notification of
/// `message`, with String `attributes`: SNS's JSON envelope, every field SNS sends.
pub fn sns_notification(message_id: &str, message: &[u8], attributes: &[(&str, &str)]) -> Vec<u8> {
    let attributes: serde_json::Map<String, serde_json::Value> = attributes
        .iter()
        .map(|(name, value)| {
            (
                (*name).to_owned(),
                serde_json::json!({"Type": "String", "Value": value}),
            )
        })
        .collect();
    serde_json::json!({
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": TOPIC_ARN,
        "Message": String::from_utf8_lossy(message),
        "Timestamp": "2026-12-02T05:00:00.000Z",
        "SignatureVersion": "2",
        "Signature": "c2lnbmF0dXJl",
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0.pem",
        "UnsubscribeURL": format!("https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={TOPIC_ARN}:1"),
        "MessageAttributes": attributes,
    })
    .to_string()
    .into_bytes()
}

/// The body an EventBridge rule targeting the queue delivers for a partner event whose
/// `detail` is `event` (a Stripe event on Stripe's partner event source).
pub fn eventbridge_event(id: &str, event: &[u8]) -> Vec<u8> {
    let detail: serde_json::Value =
        serde_json::from_slice(event).unwrap_or_else(|_| String::from_utf8_lossy(event).into());
    serde_json::json!({
        "version": "0",
        "id": id,
        "detail-type": detail.get("type").cloned().unwrap_or_else(|| "unknown".into()),
        "source": "aws.partner/stripe.com/ed_test_1",
        "account": "123456789012",
        "time": "2026-12-02T05:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    })
    .to_string()
    .into_bytes()
}
