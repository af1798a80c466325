//! One message: parse and validate the event, then decide its effect and record both
//! idempotently. Tracing is the batch loop's job; these are the business steps it wraps.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use webhook_event::EnvelopeError;
use webhook_event::{EventError, StripeEvent};

use crate::effect::Effect;
use crate::store::{EventRecord, EventStore, RecordOutcome, StoreError};

/// One delivered message as the core needs it, built from the queue's message at the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery<'a> {
    /// The event JSON: the message body, or the payload of the SNS or EventBridge envelope it
    /// holds.
    pub body: &'a str,
    /// When the queue received it (Unix milliseconds), if it said.
    pub sent_at_ms: Option<i64>,
    /// How many times it has been received, this time included (1 on first delivery).
    pub receive_count: u32,
}

/// A message that was processed: what the event changes and what recording it did.
#[derive(Debug, Clone)]
pub struct Processed {
    /// What the event does.
    pub effect: Effect,
    /// Whether it was stored now, before, or superseded.
    pub outcome: RecordOutcome,
}

/// Why a message was not processed. Every variant leaves the message on the queue.
#[derive(Debug, Clone, thiserror::Error)]
pub enum MessageFailure {
    /// Not an event: SQS redelivers it until the redrive policy moves it to the DLQ.
    #[error("poison message: {0}")]
    Poison(#[from] EventError),
    /// An SNS or EventBridge envelope that is not a valid one: poison too.
    #[error("poison message: {0}")]
    Envelope(#[from] EnvelopeError),
    #[error(transparent)]
    /// The store could not record it; retried by redelivery.
    Store(#[from] StoreError),
    /// Not started: the invocation's deadline was too close.
    #[error("not started: the invocation deadline was too close")]
    Deadline,
    /// FIFO: an earlier message of the same group failed, so this one must wait its turn.
    #[error("not started: an earlier message of message group {0:?} failed")]
    GroupBlocked(String),
}

impl MessageFailure {
    /// The `error.type` span attribute.
    pub fn error_type(&self) -> &'static str {
        match self {
            MessageFailure::Poison(error) => error.code(),
            MessageFailure::Envelope(error) => error.code(),
            MessageFailure::Store(error) => error.kind.error_type(),
            MessageFailure::Deadline => "deadline_exceeded",
            MessageFailure::GroupBlocked(_) => "fifo_group_blocked",
        }
    }
}

/// What the record keeps beside the event.
#[derive(Debug, Clone)]
pub struct RecordContext {
    /// The trace that processed it (W3C form), kept on the record.
    pub trace_id: Option<String>,
    /// The processing span's context, for the items a stream consumer picks up.
    pub trace_context: std::collections::BTreeMap<String, String>,
    /// How long the record is kept.
    pub record_ttl: Duration,
}

/// The delivery's event; a body that is not a valid event is poison.
pub fn parse_event(delivery: &Delivery<'_>) -> Result<StripeEvent, MessageFailure> {
    Ok(StripeEvent::parse(delivery.body.as_bytes())?)
}

/// Decides `event`'s effect and records both, once per event id.
pub async fn record_event<S: EventStore>(
    store: &S,
    delivery: &Delivery<'_>,
    event: &StripeEvent,
    context: RecordContext,
) -> Result<Processed, MessageFailure> {
    let effect = Effect::of(event);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let record = EventRecord {
        event_id: event.id().to_string(),
        event_type: event.event_type().to_owned(),
        created: event.created(),
        livemode: event.livemode(),
        received_at_ms: delivery.sent_at_ms,
        processed_at_ms: i64::try_from(now.as_millis()).unwrap_or(i64::MAX),
        trace_id: context.trace_id,
        trace_context: context.trace_context,
        receive_count: delivery.receive_count,
        expires_at: i64::try_from((now + context.record_ttl).as_secs()).unwrap_or(i64::MAX),
    };
    let outcome = store.record(&record, &effect).await?;
    Ok(Processed { effect, outcome })
}
