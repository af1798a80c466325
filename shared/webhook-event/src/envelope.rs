//! What an SQS message body holds when the message came through another service first: the
//! payload itself (a direct send, or SNS with raw message delivery), an SNS notification
//! envelope (its `Message` is the payload, its `MessageAttributes` carry the trace context), or
//! an EventBridge event (its `detail` is the payload). Opened once per message, before the
//! context is extracted, so the body is parsed for its shape only once.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sns::SnsMessage;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

/// The `Type` of an SNS notification envelope.
const SNS_NOTIFICATION: &str = "Notification";

/// An SQS message body, opened.
#[derive(Debug, Clone)]
pub enum Envelope<'a> {
    /// The body is the payload.
    Direct(&'a str),
    /// An SNS notification (a subscription without raw message delivery).
    Sns(Box<SnsMessage>),
    /// An event delivered by an EventBridge rule whose target is the queue.
    EventBridge(Box<EventBridgeEvent<Box<RawValue>>>),
}

/// A body that announces an envelope but is not a valid one. Nothing in it can be processed, so
/// it is poison like any other body that is not an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// `"Type": "Notification"` without the fields of one.
    #[error("the body is an SNS notification envelope but not a valid one: {0}")]
    Sns(String),
    /// `detail-type` and `detail` without the rest of an EventBridge event.
    #[error("the body is an EventBridge event envelope but not a valid one: {0}")]
    EventBridge(String),
}

impl EnvelopeError {
    /// The `error.type` span attribute.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Sns(_) => "malformed_sns_envelope",
            Self::EventBridge(_) => "malformed_eventbridge_envelope",
        }
    }
}

/// Only the keys that tell the shapes apart; everything else is skipped unread. A Stripe event
/// has none of them (its type is the lowercase `type`, its body `data`).
#[derive(Deserialize)]
struct Shape<'a> {
    #[serde(rename = "Type", default, borrow)]
    sns_type: Option<std::borrow::Cow<'a, str>>,
    #[serde(rename = "detail-type", default)]
    detail_type: Option<IgnoredAny>,
    #[serde(default)]
    detail: Option<IgnoredAny>,
}

impl<'a> Envelope<'a> {
    /// Recognises `body`'s shape. A body that is not a JSON object, or an object of neither
    /// envelope's shape, is [`Envelope::Direct`]: whether it is an event is the payload parser's
    /// question.
    pub fn open(body: &'a str) -> Result<Self, EnvelopeError> {
        let Ok(shape) = serde_json::from_str::<Shape<'_>>(body) else {
            return Ok(Envelope::Direct(body));
        };
        if shape.sns_type.as_deref() == Some(SNS_NOTIFICATION) {
            return serde_json::from_str::<SnsMessage>(body)
                .map(|notification| Envelope::Sns(Box::new(notification)))
                .map_err(|error| EnvelopeError::Sns(error.to_string()));
        }
        if shape.detail_type.is_some() && shape.detail.is_some() {
            return serde_json::from_str::<EventBridgeEvent<Box<RawValue>>>(body)
                .map(|event| Envelope::EventBridge(Box::new(event)))
                .map_err(|error| EnvelopeError::EventBridge(error.to_string()));
        }
        Ok(Envelope::Direct(body))
    }

    /// The payload: the body, the notification's `Message` or the event's `detail`.
    pub fn payload(&self) -> &str {
        match self {
            Envelope::Direct(body) => body,
            Envelope::Sns(notification) => &notification.message,
            Envelope::EventBridge(event) => event.detail.get(),
        }
    }

    /// The `webhook.envelope` span attribute: `none`, `sns` or `eventbridge`.
    pub fn kind(&self) -> &'static str {
        match self {
            Envelope::Direct(_) => "none",
            Envelope::Sns(_) => "sns",
            Envelope::EventBridge(_) => "eventbridge",
        }
    }

    /// The SNS notification, when the body was one.
    pub fn sns(&self) -> Option<&SnsMessage> {
        match self {
            Envelope::Sns(notification) => Some(notification),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_support::sqs;

    const EVENT: &str = r#"{"id":"evt_1","object":"event","type":"invoice.paid","created":1,"livemode":false,"data":{"object":{}}}"#;

    fn sns_envelope(message: &str) -> String {
        let attributes = [(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )];
        String::from_utf8(sqs::sns_notification("sns-1", message.as_bytes(), &attributes)).unwrap_or_default()
    }

    #[test]
    fn an_event_is_its_own_payload() {
        let envelope = Envelope::open(EVENT).expect("opens");
        assert_eq!((envelope.kind(), envelope.payload()), ("none", EVENT));
        for not_json in ["", "not json", "[1,2]", "{\"Type\":3}"] {
            let envelope = Envelope::open(not_json).expect("left to the payload parser");
            assert_eq!(envelope.payload(), not_json);
        }
    }

    #[test]
    fn an_sns_notification_gives_its_message_and_attributes() {
        let body = sns_envelope(EVENT);
        let envelope = Envelope::open(&body).expect("opens");
        assert_eq!((envelope.kind(), envelope.payload()), ("sns", EVENT));
        let notification = envelope.sns().expect("sns");
        assert_eq!(notification.topic_arn, sqs::TOPIC_ARN);
        assert!(notification.message_attributes.contains_key("traceparent"));
    }

    #[test]
    fn an_eventbridge_event_gives_its_detail() {
        // Written out: the detail must come back byte for byte, key order included.
        let body = format!(
            r#"{{"version":"0","id":"6a7e8feb","detail-type":"invoice.paid","source":"aws.partner/stripe.com/ed_1","account":"123456789012","time":"2026-12-02T05:00:00Z","region":"eu-west-1","resources":[],"detail":{EVENT}}}"#
        );
        let envelope = Envelope::open(&body).expect("opens");
        assert_eq!((envelope.kind(), envelope.payload()), ("eventbridge", EVENT));
    }

    #[test]
    fn a_broken_envelope_is_named() {
        let error = Envelope::open(r#"{"Type":"Notification","Message":"x"}"#).expect_err("no MessageId");
        assert_eq!(error.code(), "malformed_sns_envelope");
        assert!(error.to_string().contains("MessageId"), "{error}");
        let error = Envelope::open(r#"{"detail-type":"x","detail":{}}"#).expect_err("no source");
        assert_eq!(error.code(), "malformed_eventbridge_envelope");
    }

    #[test]
    fn other_sns_message_types_are_not_notifications() {
        let body = r#"{"Type":"SubscriptionConfirmation","Message":"confirm"}"#;
        assert_eq!(Envelope::open(body).expect("opens").kind(), "none");
    }
}
