//! The batch loop: each message gets its own span carrying its own producer's context
//! (extracted inside the loop, never once per batch), standard batches run with bounded
//! concurrency, FIFO batches in group order, nothing starts past the deadline, and the result
//! is a partial batch response naming exactly the messages to redeliver.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use aws_lambda_events::sqs::{SqsBatchResponse, SqsMessage};
use futures_util::stream::{self, StreamExt};
use opentelemetry::trace::TraceContextExt;
use shared_telemetry::attributes as attr;
use shared_telemetry::{Telemetry, TraceMode, attach_upstream};
use tokio::time::Instant;
use tracing::Instrument;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use webhook_event::{Envelope, EnvelopeError};

use crate::process::{self, Delivery, MessageFailure, Processed, RecordContext};
use crate::store::{EventStore, RecordOutcome};

/// How the worker runs a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerSettings {
    /// How each message span relates to its producer (`WEBHOOK_TRACE_MODE`).
    pub trace_mode: TraceMode,
    /// Messages of a standard batch processed at once.
    pub max_concurrency: usize,
    /// How long event records are kept (the table's TTL).
    pub record_ttl: Duration,
    /// No message starts later than this before the invocation's deadline (plus
    /// [`MARGIN_PER_MESSAGE`] for each message of the batch, the time to answer for it).
    pub deadline_margin: Duration,
}

/// What answering costs per message of a batch (its result, its place in the response), kept
/// free before the deadline on top of the margin: 0.5 s more for a 10,000-message batch.
pub const MARGIN_PER_MESSAGE: Duration = Duration::from_micros(50);

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            trace_mode: TraceMode::Parent,
            max_concurrency: 10,
            record_ttl: Duration::from_secs(90 * 24 * 3600),
            deadline_margin: Duration::from_secs(1),
        }
    }
}

/// Processes SQS batches into a store.
#[derive(Debug)]
pub struct Worker<S> {
    store: S,
    telemetry: Telemetry,
    settings: WorkerSettings,
}

/// One message's result.
#[derive(Debug)]
pub struct MessageResult {
    /// The message's SQS id, which `batchItemFailures` names.
    pub message_id: Option<String>,
    /// What processing it gave.
    pub result: Result<Processed, MessageFailure>,
}

/// Every message's result, in batch order.
#[derive(Debug)]
pub struct BatchOutcome {
    /// One result per message, in the batch's order.
    pub messages: Vec<MessageResult>,
}

/// The batch cannot be answered with a partial response.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// A failed message without a `messageId`: no partial response can name it.
    #[error(
        "message {index} of the batch failed and has no messageId to report; failing the invocation so the whole batch is redelivered"
    )]
    UnidentifiableFailure {
        /// Its position in the batch.
        index: usize,
    },
}

impl BatchOutcome {
    /// `batchItemFailures` for every failed message. A failed message without an id cannot be
    /// named, and Lambda would delete it with the successes: the whole invocation fails instead.
    pub fn into_response(self) -> Result<SqsBatchResponse, BatchError> {
        let mut response = SqsBatchResponse::default();
        for (index, message) in self.messages.into_iter().enumerate() {
            if message.result.is_ok() {
                continue;
            }
            match message.message_id.filter(|id| !id.is_empty()) {
                Some(id) => response.add_failure(id),
                None => return Err(BatchError::UnidentifiableFailure { index }),
            }
        }
        Ok(response)
    }

    /// How many messages failed or were never started.
    pub fn failed(&self) -> usize {
        self.messages
            .iter()
            .filter(|message| message.result.is_err())
            .count()
    }
}

impl<S: EventStore> Worker<S> {
    /// A worker over `store`, reporting through `telemetry`.
    pub fn new(store: S, telemetry: Telemetry, settings: WorkerSettings) -> Self {
        Self {
            store,
            telemetry,
            settings,
        }
    }

    /// The store it records events in.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Processes `messages` (one SQS batch) inside the current (invocation) span; no message
    /// starts after `deadline` minus the margin.
    pub async fn run_batch(&self, messages: &[SqsMessage], deadline: SystemTime) -> BatchOutcome {
        let invocation = tracing::Span::current();
        invocation.set_attribute(attr::MESSAGING_BATCH_MESSAGE_COUNT, messages.len() as i64);
        let cutoff = self.cutoff(deadline, messages.len());
        let fifo = messages
            .first()
            .and_then(|message| message.event_source_arn.as_deref())
            .is_some_and(|arn| arn.ends_with(".fifo"));

        let results = if fifo {
            self.in_group_order(messages, cutoff, &invocation).await
        } else {
            // Futures are lazy: each extracts its message's context when it starts. Creating them
            // up front (rather than in a stream closure) keeps the batch future `Send`.
            let pending: Vec<_> = messages
                .iter()
                .map(|message| self.run_message(message, cutoff, &invocation, None))
                .collect();
            stream::iter(pending)
                .buffered(self.settings.max_concurrency.max(1))
                .collect()
                .await
        };
        let outcome = BatchOutcome {
            messages: messages
                .iter()
                .zip(results)
                .map(|(message, result)| MessageResult {
                    message_id: message.message_id.clone(),
                    result,
                })
                .collect(),
        };
        invocation.set_attribute(attr::WEBHOOK_FAILED_MESSAGE_COUNT, outcome.failed() as i64);
        report_not_started(&invocation, &outcome, messages);
        outcome
    }

    /// When the last message may start, on tokio's monotonic clock. Lambda never starts an
    /// invocation past its deadline, so a deadline already gone is not a real one (a broken
    /// emulator or clock): it is ignored rather than failing every message of the batch.
    fn cutoff(&self, deadline: SystemTime, batch_size: usize) -> Option<Instant> {
        let margin = self.settings.deadline_margin
            + MARGIN_PER_MESSAGE * u32::try_from(batch_size).unwrap_or(u32::MAX);
        match deadline.duration_since(SystemTime::now()) {
            Ok(remaining) => Some(Instant::now() + remaining.saturating_sub(margin)),
            Err(_) => {
                tracing::warn!(
                    deadline_ms = deadline
                        .duration_since(SystemTime::UNIX_EPOCH)
                        .unwrap_or_default()
                        .as_millis() as u64,
                    "the invocation deadline had passed before the batch started; processing without a cut-off"
                );
                None
            }
        }
    }

    /// FIFO: strictly in order; once a message fails, the rest of its group waits for the
    /// redelivery (reported failed without being started), other groups go on.
    async fn in_group_order(
        &self,
        messages: &[SqsMessage],
        cutoff: Option<Instant>,
        invocation: &tracing::Span,
    ) -> Vec<Result<Processed, MessageFailure>> {
        let mut blocked: HashSet<&str> = HashSet::new();
        let mut results = Vec::with_capacity(messages.len());
        for message in messages {
            let group = message.attributes.get("MessageGroupId").map(String::as_str);
            let blocked_group = group.filter(|group| blocked.contains(group));
            let result = self.run_message(message, cutoff, invocation, blocked_group).await;
            if let (Err(_), Some(group)) = (&result, group) {
                blocked.insert(group);
            }
            results.push(result);
        }
        results
    }

    /// One message in its own `process-webhook` span. A message that cannot start (the
    /// deadline is near, or its FIFO group is blocked) gets no span: it is counted once for the
    /// whole batch and gets one log line ([`report_not_started`]).
    async fn run_message(
        &self,
        message: &SqsMessage,
        cutoff: Option<Instant>,
        invocation: &tracing::Span,
        blocked_group: Option<&str>,
    ) -> Result<Processed, MessageFailure> {
        if let Some(group) = blocked_group {
            return Err(MessageFailure::GroupBlocked(group.to_owned()));
        }
        if cutoff.is_some_and(|cutoff| Instant::now() >= cutoff) {
            return Err(MessageFailure::Deadline);
        }
        // Opened before the span exists: an SNS envelope's attributes may hold its parent.
        let envelope = Envelope::open(message.body.as_deref().unwrap_or_default());
        let upstream = self
            .telemetry
            .extract_from_sqs(message, envelope.as_ref().ok().and_then(Envelope::sns));
        let span = tracing::info_span!(
            "process-webhook",
            otel.kind = "consumer",
            { attr::MESSAGING_SYSTEM } = attr::MESSAGING_SYSTEM_SQS,
            { attr::MESSAGING_OPERATION_NAME } = attr::MESSAGING_OPERATION_PROCESS,
            { attr::MESSAGING_OPERATION_TYPE } = attr::MESSAGING_OPERATION_PROCESS,
            { attr::MESSAGING_DESTINATION_NAME } = queue_name(message),
            { attr::MESSAGING_MESSAGE_ID } = message.message_id.as_deref().unwrap_or_default(),
            { attr::WEBHOOK_EVENT_ID } = Empty,
            { attr::WEBHOOK_TYPE } = Empty,
        );
        if let Err(error) = attach_upstream(&span, invocation, &upstream, self.settings.trace_mode) {
            tracing::warn!(%error, "message span not related to its producer");
        }
        record_envelope(&span, &envelope);

        let result = self
            .process_message(message, envelope, &span)
            .instrument(span.clone())
            .await;
        record_outcome(&span, &result, receive_count(message));
        result
    }

    /// Parses and records one message inside its span.
    async fn process_message(
        &self,
        message: &SqsMessage,
        envelope: Result<Envelope<'_>, EnvelopeError>,
        span: &tracing::Span,
    ) -> Result<Processed, MessageFailure> {
        let envelope = envelope?;
        let delivery = delivery(message, &envelope);
        let event = process::parse_event(&delivery)?;
        span.record(attr::WEBHOOK_EVENT_ID, event.id().as_str());
        shared_telemetry::index_event_id(span);
        span.record(attr::WEBHOOK_TYPE, event.event_type());
        let context = RecordContext {
            trace_id: Some(span.context().span().span_context().trace_id().to_string()),
            trace_context: self.telemetry.inject_into_item(&span.context()),
            record_ttl: self.settings.record_ttl,
        };
        process::record_event(&self.store, &delivery, &event, context).await
    }
}

/// What carried the event to the queue; an SNS notification's topic and id (the id every
/// subscription's copy shares) are what an operator looks up in SNS.
fn record_envelope(span: &tracing::Span, envelope: &Result<Envelope<'_>, EnvelopeError>) {
    let Ok(envelope) = envelope else { return };
    span.set_attribute(attr::WEBHOOK_ENVELOPE, envelope.kind());
    if let Some(notification) = envelope.sns() {
        span.set_attribute(attr::AWS_SNS_TOPIC_ARN, notification.topic_arn.clone());
        span.set_attribute(
            attr::MESSAGING_MESSAGE_CONVERSATION_ID,
            notification.message_id.clone(),
        );
    }
}

/// The outcome on the message's span and in its one log line (sampled or not): `applied`,
/// `duplicate`, `ignored`, `superseded`, or `failed` with its `error.type`, and the receive
/// count of this delivery.
fn record_outcome(span: &tracing::Span, result: &Result<Processed, MessageFailure>, receive_count: u32) {
    match result {
        Ok(processed) => {
            let outcome = processed.outcome.label(&processed.effect);
            span.set_attribute(
                attr::WEBHOOK_DUPLICATE,
                processed.outcome == RecordOutcome::Duplicate,
            );
            span.set_attribute(attr::WEBHOOK_OUTCOME, outcome);
            span.in_scope(|| tracing::info!(outcome, receive_count, "webhook processed"));
        }
        Err(failure) => {
            shared_telemetry::record_error(span, failure.error_type(), failure);
            span.in_scope(|| {
                tracing::warn!(
                    outcome = "failed",
                    error.type = failure.error_type(),
                    error = %failure,
                    receive_count,
                    "webhook left for redelivery"
                )
            });
        }
    }
}

/// `ApproximateReceiveCount`: 1 on the first delivery.
fn receive_count(message: &SqsMessage) -> u32 {
    message
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|count| count.parse().ok())
        .unwrap_or(1)
}

/// The messages that were never started: counts on the invocation span and one event for the
/// batch, and one log line each (`outcome = not_started`, the reason, the event id when the body
/// names one), so every event's story has its stage. Each is still in `batchItemFailures`, so
/// none is dropped.
fn report_not_started(invocation: &tracing::Span, outcome: &BatchOutcome, messages: &[SqsMessage]) {
    let (mut deadline, mut blocked) = (0_i64, 0_i64);
    for (message, result) in messages.iter().zip(&outcome.messages) {
        let reason = match result.result {
            Err(MessageFailure::Deadline) => {
                deadline += 1;
                "deadline"
            }
            Err(MessageFailure::GroupBlocked(_)) => {
                blocked += 1;
                "fifo_group_blocked"
            }
            _ => continue,
        };
        let body = message.body.as_deref().unwrap_or_default();
        let event_id = Envelope::open(body)
            .ok()
            .and_then(|envelope| webhook_event::EventId::of_body(envelope.payload()));
        invocation.in_scope(|| {
            tracing::warn!(
                webhook.event_id = event_id.as_ref().map(webhook_event::EventId::as_str),
                messaging.message.id = message.message_id.as_deref(),
                outcome = "not_started",
                reason,
                receive_count = receive_count(message),
                "webhook left for redelivery without being started"
            )
        });
    }
    if deadline + blocked == 0 {
        return;
    }
    invocation.set_attribute(attr::WEBHOOK_NOT_STARTED_DEADLINE, deadline);
    invocation.set_attribute(attr::WEBHOOK_NOT_STARTED_GROUP_BLOCKED, blocked);
    invocation.add_event(
        "messages not started",
        vec![
            opentelemetry::KeyValue::new(attr::WEBHOOK_NOT_STARTED_DEADLINE, deadline),
            opentelemetry::KeyValue::new(attr::WEBHOOK_NOT_STARTED_GROUP_BLOCKED, blocked),
        ],
    );
    invocation.in_scope(|| {
        tracing::warn!(
            deadline_exceeded = deadline,
            fifo_group_blocked = blocked,
            "messages left for redelivery without being started"
        )
    });
}

/// The core's view of an SQS message whose body opened as `envelope`.
fn delivery<'a>(message: &'a SqsMessage, envelope: &'a Envelope<'a>) -> Delivery<'a> {
    let system_attribute = |name: &str| message.attributes.get(name).map(String::as_str);
    Delivery {
        body: envelope.payload(),
        sent_at_ms: system_attribute("SentTimestamp").and_then(|value| value.parse().ok()),
        receive_count: system_attribute("ApproximateReceiveCount")
            .and_then(|value| value.parse().ok())
            .unwrap_or(1),
    }
}

/// The queue name, from the event source ARN `arn:aws:sqs:<region>:<account>:<name>`.
fn queue_name(message: &SqsMessage) -> &str {
    message
        .event_source_arn
        .as_deref()
        .and_then(|arn| arn.rsplit(':').next())
        .unwrap_or_default()
}
