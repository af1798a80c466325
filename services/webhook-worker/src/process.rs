//! One message: parse and validate the event, then decide its effect and record both
//! idempotently. Tracing is the batch loop's job; these are the business steps it wraps.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::sqs::SqsMessage;
use webhook_event::{EventError, StripeEvent};

use crate::effect::Effect;
use crate::store::{EventRecord, EventStore, RecordOutcome, StoreError};

/// A message that was processed: the event and what recording it did.
#[derive(Debug, Clone)]
pub struct Processed {
    pub event: StripeEvent,
    pub effect: Effect,
    pub outcome: RecordOutcome,
}

/// Why a message was not processed. Every variant leaves the message on the queue.
#[derive(Debug, Clone, thiserror::Error)]
pub enum MessageFailure {
    /// Not an event: SQS redelivers it until the redrive policy moves it to the DLQ.
    #[error("poison message: {0}")]
    Poison(#[from] EventError),
    #[error(transparent)]
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
            MessageFailure::Store(error) => error.kind.error_type(),
            MessageFailure::Deadline => "deadline_exceeded",
            MessageFailure::GroupBlocked(_) => "fifo_group_blocked",
        }
    }
}

/// What the record keeps beside the event.
#[derive(Debug, Clone)]
pub struct RecordContext {
    pub trace_id: Option<String>,
    pub record_ttl: Duration,
}

/// The message's event; a body that is not a valid event is poison.
pub fn parse_event(message: &SqsMessage) -> Result<StripeEvent, MessageFailure> {
    let body = message.body.as_deref().unwrap_or_default();
    Ok(StripeEvent::parse(body.as_bytes())?)
}

/// Applies `event`'s effect and records it, once per event id.
pub async fn apply_event<S: EventStore>(
    store: &S,
    message: &SqsMessage,
    event: StripeEvent,
    context: RecordContext,
) -> Result<Processed, MessageFailure> {
    let effect = Effect::of(&event);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let record = EventRecord {
        event_id: event.id().to_string(),
        event_type: event.event_type().to_owned(),
        created: event.created(),
        livemode: event.livemode(),
        received_at_ms: system_attribute(message, "SentTimestamp"),
        processed_at_ms: i64::try_from(now.as_millis()).unwrap_or(i64::MAX),
        trace_id: context.trace_id,
        receive_count: system_attribute(message, "ApproximateReceiveCount").unwrap_or(1),
        expires_at: i64::try_from((now + context.record_ttl).as_secs()).unwrap_or(i64::MAX),
    };
    let outcome = store.record(&record, &effect).await?;
    Ok(Processed {
        event,
        effect,
        outcome,
    })
}

fn system_attribute<T: std::str::FromStr>(message: &SqsMessage, name: &str) -> Option<T> {
    message.attributes.get(name).and_then(|value| value.parse().ok())
}
