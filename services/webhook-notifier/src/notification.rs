//! One stream record read as a notification to send, or as something to leave alone. Pure: the
//! record is what Lambda delivered, nothing is fetched.

use std::collections::BTreeMap;

use aws_lambda_events::dynamodb::EventRecord;
use event_table::notification as item;
use serde_dynamo::AttributeValue;

/// A pending notification, as its item's new image holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The Stripe event that caused it; the item is `NOTIFICATION#<event id>`.
    pub event_id: String,
    /// The Stripe customer to tell.
    pub customer_id: String,
    /// What happened (`payment_failed`).
    pub kind: String,
    /// Stripe's failure message, when the event had one.
    pub reason: Option<String>,
    /// The customer's address, when the event had one.
    pub email: Option<String>,
    /// The worker's span context as propagator entries; empty or unusable: the span is a root.
    pub trace_context: BTreeMap<String, String>,
}

/// What a stream record is to the notifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reading {
    /// A pending notification to send.
    Pending(Notification),
    /// Not the notifier's: the filter should have kept it away, and it changes nothing.
    Ignored(&'static str),
}

/// A notification item whose new image cannot be read. Retrying will not help: the record
/// fails until its retries run out and it reaches the on-failure destination, where an
/// operator sees it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The record has no new image: the stream's view type leaves it out.
    #[error("the stream record has no NewImage (the stream view type must include new images)")]
    MissingImage,
    /// A required attribute is absent.
    #[error("the notification item has no {0} attribute")]
    Missing(&'static str),
    /// An attribute is not a string.
    #[error("the notification item's {name} attribute is {found}, not a string")]
    WrongType {
        /// The attribute.
        name: &'static str,
        /// Its DynamoDB type.
        found: &'static str,
    },
}

impl RecordError {
    /// The `error.type` span attribute.
    pub fn error_type(&self) -> &'static str {
        "malformed_notification_record"
    }
}

/// Reads `record`: inserts of pending notification items are notifications; other changes and
/// other items are ignored; a notification item that cannot be read is an error.
pub fn read(record: &EventRecord) -> Result<Reading, RecordError> {
    if record.event_name != "INSERT" {
        return Ok(Reading::Ignored("not an insert"));
    }
    let image = &record.change.new_image;
    // The keys are in every record, whatever the view type: they say whose item it is.
    let partition = string_in(&record.change.keys, event_table::PARTITION_KEY)
        .ok()
        .flatten()
        .or_else(|| string_in(image, event_table::PARTITION_KEY).ok().flatten());
    if !partition.is_some_and(|pk| pk.starts_with(event_table::NOTIFICATION_PREFIX)) {
        return Ok(Reading::Ignored("not a notification item"));
    }
    if image.is_empty() {
        return Err(RecordError::MissingImage);
    }
    let required = |name: &'static str| string_in(image, name)?.ok_or(RecordError::Missing(name));
    if required(item::STATUS)? != item::PENDING {
        return Ok(Reading::Ignored("not pending"));
    }
    Ok(Reading::Pending(Notification {
        event_id: required(item::EVENT_ID)?.to_owned(),
        customer_id: required(item::CUSTOMER_ID)?.to_owned(),
        kind: string_in(image, item::KIND)?
            .unwrap_or("payment_failed")
            .to_owned(),
        reason: string_in(image, item::REASON)?.map(str::to_owned),
        email: string_in(image, item::EMAIL)?
            .filter(|email| !email.is_empty())
            .map(str::to_owned),
        trace_context: trace_context(image.get(item::TRACE_CONTEXT)),
    }))
}

/// A string attribute: `None` when absent, an error when of another type.
fn string_in<'a>(
    attributes: &'a std::collections::HashMap<String, AttributeValue>,
    name: &'static str,
) -> Result<Option<&'a str>, RecordError> {
    match attributes.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::S(value)) => Ok(Some(value)),
        Some(other) => Err(RecordError::WrongType {
            name,
            found: type_name(other),
        }),
    }
}

/// The string entries of the trace context map; anything else carries no context (the span
/// becomes a root and the notification is sent all the same).
fn trace_context(value: Option<&AttributeValue>) -> BTreeMap<String, String> {
    match value {
        Some(AttributeValue::M(entries)) => entries
            .iter()
            .filter_map(|(name, value)| match value {
                AttributeValue::S(value) => Some((name.clone(), value.clone())),
                _ => None,
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

fn type_name(value: &AttributeValue) -> &'static str {
    match value {
        AttributeValue::N(_) => "a number (N)",
        AttributeValue::S(_) => "a string (S)",
        AttributeValue::Bool(_) => "a boolean (BOOL)",
        AttributeValue::B(_) => "binary (B)",
        AttributeValue::Null(_) => "null (NULL)",
        AttributeValue::M(_) => "a map (M)",
        AttributeValue::L(_) => "a list (L)",
        AttributeValue::Ss(_) => "a string set (SS)",
        AttributeValue::Ns(_) => "a number set (NS)",
        AttributeValue::Bs(_) => "a binary set (BS)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(event_name: &str, dynamodb: serde_json::Value) -> EventRecord {
        serde_json::from_value(json!({
            "awsRegion": "us-east-1", "eventID": "1", "eventName": event_name,
            "eventSource": "aws:dynamodb",
            "dynamodb": dynamodb,
        }))
        .expect("a stream record Lambda could deliver")
    }

    fn keys() -> serde_json::Value {
        json!({"pk": {"S": "NOTIFICATION#evt_1"}, "sk": {"S": "NOTIFICATION"}})
    }

    fn image(extra: serde_json::Value) -> serde_json::Value {
        let mut image = json!({
            "pk": {"S": "NOTIFICATION#evt_1"}, "sk": {"S": "NOTIFICATION"},
            "status": {"S": "pending"}, "event_id": {"S": "evt_1"}, "customer_id": {"S": "cus_1"},
            "kind": {"S": "payment_failed"},
        });
        if let (Some(image), Some(extra)) = (image.as_object_mut(), extra.as_object()) {
            image.extend(extra.clone());
        }
        image
    }

    fn insert(new_image: serde_json::Value) -> EventRecord {
        record(
            "INSERT",
            json!({"Keys": keys(), "NewImage": new_image, "SequenceNumber": "100", "SizeBytes": 10}),
        )
    }

    #[test]
    fn a_pending_insert_is_a_notification_with_its_context() {
        let reading = read(&insert(image(json!({
            "email": {"S": "jo@example.com"}, "reason": {"S": "Card declined."},
            "trace_context": {"M": {"traceparent": {"S": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}}},
        }))));
        let Ok(Reading::Pending(notification)) = reading else {
            panic!("expected a notification: {reading:?}");
        };
        assert_eq!(notification.event_id, "evt_1");
        assert_eq!(notification.email.as_deref(), Some("jo@example.com"));
        assert_eq!(notification.reason.as_deref(), Some("Card declined."));
        assert_eq!(notification.trace_context.len(), 1);
    }

    #[test]
    fn other_changes_and_other_items_are_ignored() {
        let modify = record(
            "MODIFY",
            json!({"Keys": keys(), "NewImage": image(json!({})), "SizeBytes": 1}),
        );
        assert_eq!(read(&modify), Ok(Reading::Ignored("not an insert")));
        let remove = record(
            "REMOVE",
            json!({"Keys": keys(), "OldImage": image(json!({})), "SizeBytes": 1}),
        );
        assert_eq!(read(&remove), Ok(Reading::Ignored("not an insert")));
        let event_record = record(
            "INSERT",
            json!({"Keys": {"pk": {"S": "EVENT#evt_1"}, "sk": {"S": "EVENT"}}, "NewImage": {"pk": {"S": "EVENT#evt_1"}}, "SizeBytes": 1}),
        );
        assert_eq!(
            read(&event_record),
            Ok(Reading::Ignored("not a notification item"))
        );
        let sent = insert(image(json!({"status": {"S": "sent"}})));
        assert_eq!(read(&sent), Ok(Reading::Ignored("not pending")));
        let no_keys = record("INSERT", json!({"SizeBytes": 1}));
        assert_eq!(read(&no_keys), Ok(Reading::Ignored("not a notification item")));
    }

    #[test]
    fn an_unreadable_notification_item_says_what_is_wrong() {
        let missing = record("INSERT", json!({"Keys": keys(), "SizeBytes": 1}));
        assert_eq!(read(&missing), Err(RecordError::MissingImage));
        let null_image = record(
            "INSERT",
            json!({"Keys": keys(), "NewImage": null, "SizeBytes": 1}),
        );
        assert_eq!(read(&null_image), Err(RecordError::MissingImage));
        let wrong = insert(image(json!({"event_id": {"N": "7"}})));
        assert_eq!(
            read(&wrong),
            Err(RecordError::WrongType {
                name: "event_id",
                found: "a number (N)"
            })
        );
        assert!(
            read(&wrong)
                .expect_err("wrong type")
                .to_string()
                .contains("event_id attribute is a number (N)")
        );
        let mut without_customer = image(json!({}));
        if let Some(image) = without_customer.as_object_mut() {
            image.remove("customer_id");
        }
        assert_eq!(
            read(&insert(without_customer)),
            Err(RecordError::Missing("customer_id"))
        );
        let status_as_list = insert(image(json!({"status": {"L": [{"S": "pending"}]}})));
        assert!(matches!(
            read(&status_as_list),
            Err(RecordError::WrongType { name: "status", .. })
        ));
    }

    #[test]
    fn a_malformed_trace_context_leaves_the_notification_without_one() {
        for context in [
            json!({"S": "Root=1-abc"}),
            json!({"M": {"traceparent": {"N": "1"}}}),
            json!({"L": []}),
        ] {
            let reading = read(&insert(image(json!({"trace_context": context}))));
            let Ok(Reading::Pending(notification)) = reading else {
                panic!("still sent: {reading:?}");
            };
            assert!(notification.trace_context.is_empty());
        }
    }
}
