//! Where processed events are recorded: the contract every store keeps, and its two
//! implementations (DynamoDB in production, memory for tests and benchmarks).
//!
//! The contract: the event record and its effect commit together or not at all, and at most
//! once per event id. A second delivery is reported as a duplicate and changes nothing. A
//! status change older than the one stored is recorded as superseded and changes nothing.

use std::collections::BTreeMap;
use std::future::Future;

use crate::effect::Effect;

pub mod dynamodb;
pub mod memory;

/// The record of one processed event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    /// The Stripe event id.
    pub event_id: String,
    /// The Stripe event type.
    pub event_type: String,
    /// When Stripe created the event (Unix seconds); orders status changes.
    pub created: i64,
    /// Whether the event is from live mode.
    pub livemode: bool,
    /// When SQS received the message (Unix milliseconds), if it said.
    pub received_at_ms: Option<i64>,
    /// When the worker recorded it (Unix milliseconds).
    pub processed_at_ms: i64,
    /// The trace that processed it, W3C form, so a record leads to its trace.
    pub trace_id: Option<String>,
    /// The processing span's context as propagator entries, written into the items a stream
    /// consumer picks up (the notification) so its span joins this trace.
    pub trace_context: BTreeMap<String, String>,
    /// SQS's `ApproximateReceiveCount`: 1 on first delivery.
    pub receive_count: u32,
    /// When the record may be deleted (Unix seconds; the table's TTL attribute).
    pub expires_at: i64,
}

/// What recording an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordOutcome {
    /// The record and its effect were written.
    Stored,
    /// The record was written; its status change was older than the stored one and was dropped.
    Superseded,
    /// The event was recorded before: nothing was written.
    Duplicate,
}

impl RecordOutcome {
    /// The outcome's name: a processed message's `webhook.outcome`, and (but for `duplicate`,
    /// which writes nothing) the event record's `outcome`.
    pub fn label(self, effect: &Effect) -> &'static str {
        match (self, effect) {
            (RecordOutcome::Duplicate, _) => "duplicate",
            (RecordOutcome::Superseded, _) => event_table::outcome::SUPERSEDED,
            (RecordOutcome::Stored, Effect::Ignored { .. }) => event_table::outcome::IGNORED,
            (RecordOutcome::Stored, _) => event_table::outcome::APPLIED,
        }
    }
}

/// Why recording failed. Every failure fails only its message, which SQS redelivers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {detail}")]
pub struct StoreError {
    /// What kind of failure it was.
    pub kind: StoreErrorKind,
    /// The store's own words, for logs and spans.
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
/// The kinds of store failure an operator tells apart.
pub enum StoreErrorKind {
    /// Throttled even after the SDK's retries; transient.
    #[error("DynamoDB throttled the write")]
    Throttled,
    /// 5xx, timeout, connection failure, transaction conflict; transient.
    #[error("DynamoDB was unavailable")]
    Unavailable,
    /// The request itself was refused (missing table, validation); retrying will not help.
    #[error("DynamoDB rejected the write")]
    Rejected,
}

impl StoreErrorKind {
    /// The `error.type` span attribute.
    pub fn error_type(self) -> &'static str {
        match self {
            StoreErrorKind::Throttled => "dynamodb_throttled",
            StoreErrorKind::Unavailable => "dynamodb_unavailable",
            StoreErrorKind::Rejected => "dynamodb_rejected",
        }
    }
}

/// Records processed events, idempotently.
pub trait EventStore: Send + Sync {
    /// Records `record` and its `effect` atomically, unless the event was recorded before.
    fn record(
        &self,
        record: &EventRecord,
        effect: &Effect,
    ) -> impl Future<Output = Result<RecordOutcome, StoreError>> + Send;
}
