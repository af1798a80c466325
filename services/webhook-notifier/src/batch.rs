//! The batch loop for one stream batch: records in stream order, each in its own
//! `send-notification` span carrying the context its item holds; the first failure stops the
//! batch and is the checkpoint Lambda resumes from.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::dynamodb::EventRecord;
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use event_table::notification as item;
use shared_telemetry::attributes as attr;
use shared_telemetry::{Telemetry, TraceMode, attach_upstream};
use tracing::Instrument;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::mailer::{Email, Mailer, SendError};
use crate::notification::{self, Notification, Reading, RecordError};
use crate::store::{Mark, Marked, NotificationStore, StoreError};

/// The `messaging.system` of a stream record's span (no semantic convention names DynamoDB
/// Streams yet).
pub const MESSAGING_SYSTEM_DYNAMODB_STREAMS: &str = "aws_dynamodb_streams";
/// What became of a record: `sent`, `already_sent`, `unsendable`, `ignored` or `failed`.
pub const NOTIFICATION_OUTCOME: &str = "webhook.notification.outcome";
/// SES's message id of the email sent.
pub const NOTIFICATION_MESSAGE_ID: &str = "webhook.notification.message_id";
/// The record's stream sequence number: the checkpoint a failure reports.
pub const STREAM_SEQUENCE_NUMBER: &str = "aws.dynamodb.stream.sequence_number";

/// How the notifier runs a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifierSettings {
    /// How each record's span relates to its producer (`WEBHOOK_TRACE_MODE`).
    pub trace_mode: TraceMode,
    /// Every email goes here instead of the customer's address (a test environment's inbox;
    /// SES's sandbox sends only to verified addresses).
    pub recipient_override: Option<String>,
    /// No record starts later than this before the invocation's deadline.
    pub deadline_margin: Duration,
}

impl Default for NotifierSettings {
    fn default() -> Self {
        Self {
            trace_mode: TraceMode::Parent,
            recipient_override: None,
            deadline_margin: Duration::from_secs(1),
        }
    }
}

/// What a record came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notified {
    /// The email went out now.
    Sent {
        /// SES's message id.
        message_id: String,
    },
    /// The item had left `pending` already: a redelivered record.
    AlreadySent,
    /// No address to send to; the item says so.
    Unsendable(&'static str),
    /// Not a pending notification; nothing to do.
    Ignored(&'static str),
}

impl Notified {
    /// The `webhook.notification.outcome` value.
    pub fn label(&self) -> &'static str {
        match self {
            Notified::Sent { .. } => "sent",
            Notified::AlreadySent => "already_sent",
            Notified::Unsendable(_) => "unsendable",
            Notified::Ignored(_) => "ignored",
        }
    }
}

/// Why a record failed. Each fails the batch from that record on: Lambda retries from its
/// sequence number, and sends the batch to the on-failure destination once its retries or its
/// age run out.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RecordFailure {
    /// The item cannot be read.
    #[error(transparent)]
    Malformed(#[from] RecordError),
    /// The table could not answer.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// SES did not take the email.
    #[error(transparent)]
    Send(#[from] SendError),
    /// Not started: the invocation's deadline was too close.
    #[error("not started: the invocation deadline was too close")]
    Deadline,
}

impl RecordFailure {
    /// The `error.type` span attribute.
    pub fn error_type(&self) -> &'static str {
        match self {
            RecordFailure::Malformed(error) => error.error_type(),
            RecordFailure::Store(error) => error.error_type,
            RecordFailure::Send(error) => error.kind.error_type(),
            RecordFailure::Deadline => "deadline_exceeded",
        }
    }
}

/// One record's result.
#[derive(Debug)]
pub struct RecordResult {
    /// Its sequence number, the checkpoint a failure names.
    pub sequence_number: Option<String>,
    /// What became of it.
    pub result: Result<Notified, RecordFailure>,
}

/// The results of the records that ran, in stream order; the last may be the failure that
/// stopped the batch (the records after it were not started and follow it after the checkpoint).
#[derive(Debug)]
pub struct BatchOutcome {
    /// One result per record run.
    pub records: Vec<RecordResult>,
    /// Records after the failure, not started.
    pub not_started: usize,
}

/// The batch cannot be answered with a partial response.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// A failed record without a sequence number: no checkpoint can name it.
    #[error(
        "record {index} of the batch failed and has no sequence number to report; failing the invocation so the whole batch is retried"
    )]
    UnidentifiableFailure {
        /// Its position in the batch.
        index: usize,
    },
}

impl BatchOutcome {
    /// `batchItemFailures` naming the failed record's sequence number, Lambda's checkpoint.
    pub fn into_response(self) -> Result<DynamoDbEventResponse, BatchError> {
        let mut response = DynamoDbEventResponse::default();
        let failed = self.records.iter().position(|record| record.result.is_err());
        if let Some(index) = failed {
            let sequence_number = self.records[index]
                .sequence_number
                .clone()
                .filter(|sequence| !sequence.is_empty())
                .ok_or(BatchError::UnidentifiableFailure { index })?;
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = Some(sequence_number);
            response.batch_item_failures.push(failure);
        }
        Ok(response)
    }

    /// Records that failed or were not started.
    pub fn failed(&self) -> usize {
        self.records
            .iter()
            .filter(|record| record.result.is_err())
            .count()
            + self.not_started
    }

    /// Emails sent by this batch.
    pub fn sent(&self) -> usize {
        self.records
            .iter()
            .filter(|record| matches!(record.result, Ok(Notified::Sent { .. })))
            .count()
    }
}

/// Sends the notifications a stream batch holds.
#[derive(Debug)]
pub struct Notifier<S, M> {
    store: S,
    mailer: M,
    telemetry: Telemetry,
    settings: NotifierSettings,
}

impl<S: NotificationStore, M: Mailer> Notifier<S, M> {
    /// A notifier over `store` and `mailer`, reporting through `telemetry`.
    pub fn new(store: S, mailer: M, telemetry: Telemetry, settings: NotifierSettings) -> Self {
        Self {
            store,
            mailer,
            telemetry,
            settings,
        }
    }

    /// The store it marks notifications in.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The mailer it sends with.
    pub fn mailer(&self) -> &M {
        &self.mailer
    }

    /// Runs `records` (one stream batch, in order) inside the current (invocation) span.
    pub async fn run_batch(&self, records: &[EventRecord], deadline: SystemTime) -> BatchOutcome {
        let invocation = tracing::Span::current();
        invocation.set_attribute(attr::MESSAGING_BATCH_MESSAGE_COUNT, records.len() as i64);
        let cutoff = deadline.checked_sub(self.settings.deadline_margin);
        let mut outcome = BatchOutcome {
            records: Vec::with_capacity(records.len()),
            not_started: 0,
        };
        for (index, record) in records.iter().enumerate() {
            let result = match cutoff.is_some_and(|cutoff| SystemTime::now() >= cutoff) {
                true => Err(RecordFailure::Deadline),
                false => self.run_record(record, &invocation).await,
            };
            let failed = result.is_err();
            outcome.records.push(RecordResult {
                sequence_number: record.change.sequence_number.clone(),
                result,
            });
            if failed {
                outcome.not_started = records.len() - index - 1;
                break;
            }
        }
        if outcome.not_started > 0 {
            invocation.in_scope(|| {
                tracing::warn!(
                    not_started = outcome.not_started,
                    "records after the failed one left for the retry from its sequence number"
                )
            });
        }
        outcome
    }

    async fn run_record(
        &self,
        record: &EventRecord,
        invocation: &tracing::Span,
    ) -> Result<Notified, RecordFailure> {
        let reading = notification::read(record);
        let upstream = match &reading {
            Ok(Reading::Pending(notification)) => {
                self.telemetry.extract_from_item(&notification.trace_context)
            }
            _ => self.telemetry.extract_from_item(&BTreeMap::new()),
        };
        let span = tracing::info_span!(
            "send-notification",
            otel.kind = "consumer",
            { attr::MESSAGING_SYSTEM } = MESSAGING_SYSTEM_DYNAMODB_STREAMS,
            { attr::MESSAGING_OPERATION_NAME } = attr::MESSAGING_OPERATION_PROCESS,
            { attr::MESSAGING_OPERATION_TYPE } = attr::MESSAGING_OPERATION_PROCESS,
            { attr::MESSAGING_DESTINATION_NAME } = table_name(record),
            { attr::MESSAGING_MESSAGE_ID } = record.event_id.as_str(),
            { STREAM_SEQUENCE_NUMBER } = record.change.sequence_number.as_deref().unwrap_or_default(),
            { attr::WEBHOOK_EVENT_ID } = Empty,
        );
        if let Err(error) = attach_upstream(&span, invocation, &upstream, self.settings.trace_mode) {
            tracing::warn!(%error, "notification span not related to its producer");
        }
        let result = async {
            match reading? {
                Reading::Ignored(reason) => Ok(Notified::Ignored(reason)),
                Reading::Pending(notification) => self.notify(&notification, &span).await,
            }
        }
        .instrument(span.clone())
        .await;
        record_outcome(&span, &result);
        result
    }

    async fn notify(
        &self,
        notification: &Notification,
        span: &tracing::Span,
    ) -> Result<Notified, RecordFailure> {
        span.record(attr::WEBHOOK_EVENT_ID, notification.event_id.as_str());
        shared_telemetry::index_event_id(span);
        // The record may be a retry after the email went out: the item says.
        match self.store.status(&notification.event_id).await? {
            Some(status) if status == item::PENDING => {}
            Some(_) => return Ok(Notified::AlreadySent),
            None => return Ok(Notified::Ignored("the notification item is gone")),
        }
        let recipient = self
            .settings
            .recipient_override
            .clone()
            .or_else(|| notification.email.clone());
        let Some(recipient) = recipient else {
            let reason = "no email address in the event";
            let mark = Mark::Unsendable {
                reason,
                at_ms: now_ms(),
            };
            return match self.store.mark(&notification.event_id, &mark).await? {
                Marked::Now => Ok(Notified::Unsendable(reason)),
                Marked::Before => Ok(Notified::AlreadySent),
            };
        };
        let message_id = self
            .mailer
            .send(&Email::payment_failed(notification, recipient))
            .await?;
        span.set_attribute(NOTIFICATION_MESSAGE_ID, message_id.clone());
        let mark = Mark::Sent {
            message_id: message_id.clone(),
            at_ms: now_ms(),
        };
        if self.store.mark(&notification.event_id, &mark).await? == Marked::Before {
            // Only a concurrent delivery of the same record gets here; both emails went out.
            tracing::warn!("the notification was marked by another delivery while this one sent it");
        }
        Ok(Notified::Sent { message_id })
    }
}

fn record_outcome(span: &tracing::Span, result: &Result<Notified, RecordFailure>) {
    match result {
        Ok(notified) => {
            let outcome = notified.label();
            span.set_attribute(NOTIFICATION_OUTCOME, outcome);
            let reason = match notified {
                Notified::Unsendable(reason) | Notified::Ignored(reason) => Some(*reason),
                _ => None,
            };
            let message_id = match notified {
                Notified::Sent { message_id } => Some(message_id.as_str()),
                _ => None,
            };
            span.in_scope(|| tracing::info!(outcome, reason, message_id, "notification done"));
        }
        Err(failure) => {
            span.set_attribute(NOTIFICATION_OUTCOME, "failed");
            shared_telemetry::record_error(span, failure.error_type(), failure);
            span.in_scope(|| {
                tracing::warn!(
                    outcome = "failed",
                    error.type = failure.error_type(),
                    error = %failure,
                    "notification left for the stream's retry"
                )
            });
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| i64::try_from(since.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

/// The table name, from the stream ARN `arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>`.
fn table_name(record: &EventRecord) -> &str {
    record
        .event_source_arn
        .as_deref()
        .and_then(|arn| arn.split("table/").nth(1))
        .and_then(|rest| rest.split('/').next())
        .or(record.table_name.as_deref())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_named_from_the_stream_arn() {
        let mut record = EventRecord::default();
        record.event_source_arn = Some(
            "arn:aws:dynamodb:us-east-1:123456789012:table/webhooks-dev/stream/2026-01-01T00:00:00.000"
                .to_owned(),
        );
        assert_eq!(table_name(&record), "webhooks-dev");
        assert_eq!(table_name(&EventRecord::default()), "");
    }

    #[test]
    fn the_first_failure_is_the_checkpoint() {
        let result = |sequence: Option<&str>, failed: bool| RecordResult {
            sequence_number: sequence.map(str::to_owned),
            result: match failed {
                true => Err(RecordFailure::Deadline),
                false => Ok(Notified::AlreadySent),
            },
        };
        let outcome = BatchOutcome {
            records: vec![result(Some("1"), false), result(Some("2"), true)],
            not_started: 3,
        };
        assert_eq!(outcome.failed(), 4);
        let response = outcome.into_response().expect("answerable");
        assert_eq!(response.batch_item_failures.len(), 1);
        assert_eq!(
            response.batch_item_failures[0].item_identifier.as_deref(),
            Some("2")
        );

        let all_done = BatchOutcome {
            records: vec![result(Some("1"), false)],
            not_started: 0,
        };
        assert!(
            all_done
                .into_response()
                .expect("answerable")
                .batch_item_failures
                .is_empty()
        );
        let unnamed = BatchOutcome {
            records: vec![result(None, true)],
            not_started: 0,
        };
        assert!(matches!(
            unnamed.into_response(),
            Err(BatchError::UnidentifiableFailure { index: 0 })
        ));
    }
}
