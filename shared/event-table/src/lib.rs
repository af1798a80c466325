#![doc = include_str!("../README.md")]

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

/// The table's partition key attribute.
pub const PARTITION_KEY: &str = "pk";
/// The table's sort key attribute.
pub const SORT_KEY: &str = "sk";
/// The table's TTL attribute (Unix seconds).
pub const TTL_ATTRIBUTE: &str = "expires_at";

/// The partition key prefix of event records.
pub const EVENT_PREFIX: &str = "EVENT#";
/// The partition key prefix of a customer's items.
pub const CUSTOMER_PREFIX: &str = "CUSTOMER#";
/// The partition key prefix of notifications.
pub const NOTIFICATION_PREFIX: &str = "NOTIFICATION#";
/// A notification's sort key.
pub const NOTIFICATION_SORT: &str = "NOTIFICATION";
const EVENT_SORT: &str = "EVENT";
const SUBSCRIPTION_SORT: &str = "SUBSCRIPTION";

fn key(partition: String, sort: String) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (PARTITION_KEY.to_owned(), AttributeValue::S(partition)),
        (SORT_KEY.to_owned(), AttributeValue::S(sort)),
    ])
}

/// `EVENT#<event id>`.
pub fn event_partition(event_id: &str) -> String {
    format!("{EVENT_PREFIX}{event_id}")
}

/// `CUSTOMER#<customer id>`.
pub fn customer_partition(customer_id: &str) -> String {
    format!("{CUSTOMER_PREFIX}{customer_id}")
}

/// The event record's key: `EVENT#<event id>` / `EVENT`.
pub fn event_record_key(event_id: &str) -> HashMap<String, AttributeValue> {
    key(event_partition(event_id), EVENT_SORT.to_owned())
}

/// The customer's subscription: `CUSTOMER#<customer id>` / `SUBSCRIPTION`.
pub fn subscription_key(customer_id: &str) -> HashMap<String, AttributeValue> {
    key(customer_partition(customer_id), SUBSCRIPTION_SORT.to_owned())
}

/// `NOTIFICATION#<event id>`: a partition of its own, so IAM's `dynamodb:LeadingKeys` can
/// confine the notifier to notification items.
pub fn notification_partition(event_id: &str) -> String {
    format!("{NOTIFICATION_PREFIX}{event_id}")
}

/// A payment-failure notification: `NOTIFICATION#<event id>` / `NOTIFICATION`.
pub fn notification_key(event_id: &str) -> HashMap<String, AttributeValue> {
    key(notification_partition(event_id), NOTIFICATION_SORT.to_owned())
}

/// A notification item's attributes and the states its `status` moves through:
/// `pending` (the worker wrote it with the event) → `sent` (the notifier's email went out) or
/// `unsendable` (there is no address to send it to). Only the notifier moves it, and only from
/// `pending`, so a redelivered stream record sends nothing twice.
pub mod notification {
    /// Where the notification is: one of the states below.
    pub const STATUS: &str = "status";
    /// Written with the event; the stream's filter passes only inserts in this state.
    pub const PENDING: &str = "pending";
    /// The email was accepted by SES.
    pub const SENT: &str = "sent";
    /// No address to send to; nothing will send it.
    pub const UNSENDABLE: &str = "unsendable";
    /// What happened (`payment_failed`).
    pub const KIND: &str = "kind";
    /// The Stripe customer.
    pub const CUSTOMER_ID: &str = "customer_id";
    /// The Stripe event that caused it.
    pub const EVENT_ID: &str = "event_id";
    /// Stripe's failure message, when the event had one.
    pub const REASON: &str = "reason";
    /// The customer's email address, when the event had one.
    pub const EMAIL: &str = "email";
    /// The worker's `process-webhook` span context, a map of propagator entries named as a
    /// queued message's attributes: the stream consumer's parent.
    pub const TRACE_CONTEXT: &str = "trace_context";
    /// SES's message id once sent.
    pub const MESSAGE_ID: &str = "message_id";
    /// When it was sent or found unsendable (Unix milliseconds).
    pub const NOTIFIED_AT_MS: &str = "notified_at_ms";
    /// Why it is unsendable.
    pub const UNSENDABLE_REASON: &str = "unsendable_reason";
}

/// What recording an event did, as its record says (`outcome`).
pub mod outcome {
    /// The event changed what it describes.
    pub const APPLIED: &str = "applied";
    /// The event type is not handled: recorded, nothing else.
    pub const IGNORED: &str = "ignored";
    /// A newer event about the same object was recorded first.
    pub const SUPERSEDED: &str = "superseded";
}

/// An event record, read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEventRecord {
    /// The Stripe event id.
    pub event_id: String,
    /// The Stripe event type.
    pub event_type: String,
    /// `applied`, `ignored` or `superseded` ([`outcome`]).
    pub outcome: String,
    /// Why an ignored event was ignored.
    pub ignored_reason: Option<String>,
    /// The customer the event is about, when it has one.
    pub customer_id: Option<String>,
    /// When SQS received the message (Unix milliseconds).
    pub received_at_ms: Option<i64>,
    /// When the worker stored it (Unix milliseconds).
    pub processed_at_ms: Option<i64>,
    /// The SQS receive count when it was stored (1 on first delivery).
    pub receive_count: Option<u32>,
    /// The trace that processed it (W3C form).
    pub trace_id: Option<String>,
}

impl StoredEventRecord {
    /// The record in `item`, if it is one.
    pub fn from_item(item: &HashMap<String, AttributeValue>) -> Option<Self> {
        let text = |name: &str| item.get(name).and_then(|value| value.as_s().ok()).cloned();
        let number = |name: &str| {
            item.get(name)
                .and_then(|value| value.as_n().ok())
                .and_then(|n| n.parse().ok())
        };
        Some(Self {
            event_id: text("event_id")?,
            event_type: text("event_type").unwrap_or_default(),
            outcome: text("outcome").unwrap_or_default(),
            ignored_reason: text("ignored_reason"),
            customer_id: text("customer_id"),
            received_at_ms: number("received_at_ms"),
            processed_at_ms: number("processed_at_ms"),
            receive_count: number("receive_count").and_then(|count: i64| u32::try_from(count).ok()),
            trace_id: text("trace_id"),
        })
    }
}
