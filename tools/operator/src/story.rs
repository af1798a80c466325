//! One event's story: its record, its log lines (one per stage, sampled or not), its traces,
//! and where it was last seen.
//!
//! Trace ids come from what always exists: the record, the log lines, the DLQ message's
//! context. A trace whose lines say it was not sampled is not read (there is none to read).
//! Only when none of those names a trace does the search by event id run, the last resort: X-Ray
//! indexes only a share of traces for it (1% by default with Transaction Search).

use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::types::AttributeValue;

use event_table::StoredEventRecord;
use trace_reader::pipeline::is_message_span;
use trace_reader::source::trace_start;
use trace_reader::span::{SpanRecord, SpanStatus};

use crate::OperatorError;
use crate::dead_letters::{self, DeadLetter};
use crate::environment::Environment;
use crate::logs::{self, LogLine, Stage};

/// Everything found about one event.
#[derive(Debug, Clone)]
pub struct Story {
    /// The event's id.
    pub event_id: String,
    /// Its record in DynamoDB: it was processed.
    pub record: Option<StoredEventRecord>,
    /// Its notification item, when the event asked for one (a payment failure).
    pub notification: Option<NotificationState>,
    /// Messages in the notifier's on-failure queue, read when the notification is still pending.
    pub notifier_failures: Option<u64>,
    /// Its log lines, oldest first: every stage it went through.
    pub lines: Vec<LogLine>,
    /// Its message in the DLQ (looked for only without a record).
    pub dead_letter: Option<DeadLetter>,
    /// The DLQ scan stopped before the end of a very deep DLQ.
    pub dlq_scan_truncated: bool,
    /// Its traces, each with its spans: the one that stored it first.
    pub traces: Vec<Trace>,
    /// The search by event id ran (nothing else named a trace), and what it found.
    pub searched_by_annotation: Option<usize>,
    /// What could not be read (the logs, a trace, the search), each in a sentence.
    pub problems: Vec<String>,
    /// Where traces were read: X-Ray or Transaction Search.
    pub trace_source: String,
}

/// Where the customer's notification is, as its item says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationState {
    /// `pending`, `sent` or `unsendable`.
    pub status: String,
    /// SES's message id, once sent.
    pub message_id: Option<String>,
    /// When it was sent or found unsendable (Unix milliseconds).
    pub notified_at_ms: Option<i64>,
    /// Why it is unsendable.
    pub unsendable_reason: Option<String>,
}

impl NotificationState {
    /// The state an item holds; none when it has no `status`.
    pub fn from_item(item: &std::collections::HashMap<String, AttributeValue>) -> Option<Self> {
        use event_table::notification as attribute;
        let text = |name: &str| item.get(name).and_then(|value| value.as_s().ok()).cloned();
        Some(Self {
            status: text(attribute::STATUS)?,
            message_id: text(attribute::MESSAGE_ID),
            notified_at_ms: item
                .get(attribute::NOTIFIED_AT_MS)
                .and_then(|value| value.as_n().ok())
                .and_then(|number| number.parse().ok()),
            unsendable_reason: text(attribute::UNSENDABLE_REASON),
        })
    }
}

/// One trace the event appears in.
#[derive(Debug, Clone)]
pub struct Trace {
    /// Its trace id.
    pub trace_id: String,
    /// Its spans.
    pub spans: Vec<SpanRecord>,
    /// What the log lines in this trace say: `Some(false)` when the trace was not sampled.
    pub sampled: Option<bool>,
}

/// What the story comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Stored, with this outcome.
    Processed(String),
    /// In the DLQ: every attempt failed.
    DeadLettered,
    /// Attempts failed and it is not stored; SQS may still redeliver it.
    Failing,
    /// The API refused it (the code says why): nothing was queued.
    Refused(String),
    /// The API could not queue it (503): nothing was acknowledged, Stripe retries.
    NotQueued(String),
    /// Accepted but neither stored nor failed yet.
    InFlight,
    /// No record, no log line, no trace, not in the DLQ.
    NotFound,
}

impl Verdict {
    /// 0 processed, 2 failed, refused or dead-lettered, 1 not found or still on its way.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Processed(_) => 0,
            Self::DeadLettered | Self::Failing | Self::Refused(_) | Self::NotQueued(_) => 2,
            Self::InFlight | Self::NotFound => 1,
        }
    }

    /// Where the event was last seen, in words.
    pub fn describe(&self) -> String {
        match self {
            Self::Processed(outcome) => format!("processed ({outcome})"),
            Self::DeadLettered => "dead-lettered: every attempt failed; `make redrive` retries it".to_owned(),
            Self::Failing => {
                "failing: attempts failed and it is not stored; SQS redelivers it until the DLQ".to_owned()
            }
            Self::Refused(code) => format!("refused by the API ({code}): nothing was queued"),
            Self::NotQueued(code) => {
                format!(
                    "not queued ({code}): the API answered 503 and acknowledged nothing; Stripe retries it"
                )
            }
            Self::InFlight => "accepted, not processed yet, and no attempt has failed".to_owned(),
            Self::NotFound => "not found: no record, no log line, no trace, not in the DLQ".to_owned(),
        }
    }
}

impl Story {
    /// What the story comes to, and the command's exit code.
    pub fn verdict(&self) -> Verdict {
        if let Some(record) = &self.record {
            return Verdict::Processed(record.outcome.clone());
        }
        if self.dead_letter.is_some() {
            return Verdict::DeadLettered;
        }
        let worker_failed = self
            .lines_of(Stage::Worker)
            .any(|line| line.outcome().as_deref() == Some("failed"));
        let span_failed = self
            .message_spans()
            .iter()
            .any(|span| matches!(span.status, SpanStatus::Error(_)));
        if worker_failed || span_failed {
            return Verdict::Failing;
        }
        let api_outcomes: Vec<String> = self
            .lines_of(Stage::Api)
            .filter_map(|line| line.outcome())
            .collect();
        let queued = api_outcomes.iter().any(|outcome| outcome == "queued");
        if !queued && let Some(last) = self.lines_of(Stage::Api).last() {
            let code = last.field("code").unwrap_or_default();
            match last.outcome().as_deref() {
                Some("refused") => return Verdict::Refused(code),
                Some("unavailable") => return Verdict::NotQueued(code),
                _ => {}
            }
        }
        let seen = !self.lines.is_empty() || self.traces.iter().any(|trace| !trace.spans.is_empty());
        match seen {
            true => Verdict::InFlight,
            false => Verdict::NotFound,
        }
    }

    /// The log lines one function wrote.
    pub fn lines_of(&self, stage: Stage) -> impl Iterator<Item = &LogLine> {
        self.lines.iter().filter(move |line| line.stage == stage)
    }

    /// The worker's spans for this event, every attempt, oldest first.
    pub fn message_spans(&self) -> Vec<&SpanRecord> {
        let mut spans: Vec<&SpanRecord> = self
            .traces
            .iter()
            .flat_map(|trace| &trace.spans)
            .filter(|span| is_message_span(span) && self.is_about(span))
            .collect();
        spans.sort_by_key(|span| span.start_unix_nanos);
        spans
    }

    /// Worker deliveries that found it a duplicate of one already stored.
    pub fn duplicates(&self) -> usize {
        self.lines_of(Stage::Worker)
            .filter(|line| line.outcome().as_deref() == Some("duplicate"))
            .count()
    }

    /// The span that ended last, in any of its traces.
    pub fn last_seen(&self) -> Option<&SpanRecord> {
        self.traces
            .iter()
            .flat_map(|trace| &trace.spans)
            .max_by_key(|span| span.end_unix_nanos)
    }

    fn is_about(&self, span: &SpanRecord) -> bool {
        span.attribute("webhook.event_id")
            .or_else(|| span.attribute("webhook_event_id"))
            .is_none_or(|event_id| event_id == self.event_id)
    }
}

/// Gathers the story of `event_id` from `since` on: its record, its log lines, the DLQ
/// (without a record), and the traces they name.
pub async fn gather(
    environment: &Environment,
    event_id: &str,
    since: SystemTime,
) -> Result<Story, OperatorError> {
    let now = SystemTime::now();
    let record = event_record(environment, event_id).await?;
    let notification = match &record {
        Some(_) => notification(environment, event_id).await?,
        None => None,
    };
    let mut problems = Vec::new();
    let notifier_failures = match (&notification, &environment.notifier_failures_url) {
        (Some(state), Some(url)) if state.status == event_table::notification::PENDING => {
            match dead_letters::depth(&environment.sqs(), url).await {
                Ok(depth) => Some(depth),
                Err(error) => {
                    problems.push(format!(
                        "the notifier's on-failure queue could not be read: {error}"
                    ));
                    None
                }
            }
        }
        _ => None,
    };
    let lines =
        match logs::event_lines(&environment.logs(), &environment.log_groups, event_id, since, now).await {
            Ok(lines) => lines,
            Err(error) => {
                problems.push(format!("the log lines could not be read: {error}"));
                Vec::new()
            }
        };
    let (dead_letter, dlq_scan_truncated) = match &record {
        Some(_) => (None, false),
        None => {
            let scan = dead_letters::scan(&environment.sqs(), &environment.dlq_url).await?;
            (scan.find(event_id).cloned(), scan.truncated)
        }
    };

    // Trace ids from what always exists, in the order they matter.
    let mut trace_ids: Vec<String> = record
        .iter()
        .filter_map(|record| record.trace_id.clone())
        .collect();
    trace_ids.extend(lines.iter().filter_map(LogLine::trace_id));
    trace_ids.extend(dead_letter.iter().filter_map(|message| message.trace_id.clone()));
    let mut seen = std::collections::BTreeSet::new();
    trace_ids.retain(|id| seen.insert(id.clone()));

    let mut searched_by_annotation = None;
    if trace_ids.is_empty() {
        match environment.traces.traces_of_event(event_id, since).await {
            Ok(found) => {
                searched_by_annotation = Some(found.len());
                trace_ids = found;
            }
            Err(error) => problems.push(format!("the search by event id failed: {error}")),
        }
    }

    let sampled_of = |trace_id: &str| {
        let flags: Vec<bool> = lines
            .iter()
            .filter(|line| line.trace_id().as_deref() == Some(trace_id))
            .filter_map(LogLine::sampled)
            .collect();
        match (flags.contains(&true), flags.contains(&false)) {
            (true, _) => Some(true),
            (false, true) => Some(false),
            (false, false) => None,
        }
    };
    let mut traces: Vec<Trace> = trace_ids
        .iter()
        .map(|trace_id| Trace {
            sampled: sampled_of(trace_id),
            trace_id: trace_id.clone(),
            spans: Vec::new(),
        })
        .collect();
    let readable: Vec<String> = traces
        .iter()
        .filter(|trace| trace.sampled != Some(false))
        .map(|trace| trace.trace_id.clone())
        .collect();
    if !readable.is_empty() {
        // From a little before the earliest trace began (its id says when), else the window.
        let start = readable
            .iter()
            .filter_map(|id| trace_start(id))
            .min()
            .map(|start| start - Duration::from_secs(300))
            .map_or(since, |start| start.max(since));
        match environment.traces.traces(&readable, start, now).await {
            Ok(read) => {
                for found in read {
                    if let Some(trace) = traces.iter_mut().find(|trace| trace.trace_id == found.trace_id) {
                        trace.spans = found.spans;
                    }
                }
            }
            Err(error) => problems.push(format!("the traces could not be read: {error}")),
        }
    }
    Ok(Story {
        event_id: event_id.to_owned(),
        record,
        notification,
        notifier_failures,
        lines,
        dead_letter,
        dlq_scan_truncated,
        traces,
        searched_by_annotation,
        problems,
        trace_source: environment.traces.describe().await,
    })
}

async fn notification(
    environment: &Environment,
    event_id: &str,
) -> Result<Option<NotificationState>, OperatorError> {
    let output = environment
        .dynamodb()
        .get_item()
        .table_name(&environment.table)
        .set_key(Some(event_table::notification_key(event_id)))
        .consistent_read(true)
        .send()
        .await
        .map_err(|error| OperatorError::aws("DynamoDB", "GetItem", error))?;
    Ok(output.item.as_ref().and_then(NotificationState::from_item))
}

async fn event_record(
    environment: &Environment,
    event_id: &str,
) -> Result<Option<StoredEventRecord>, OperatorError> {
    let output = environment
        .dynamodb()
        .get_item()
        .table_name(&environment.table)
        .set_key(Some(event_table::event_record_key(event_id)))
        .consistent_read(true)
        .send()
        .await
        .map_err(|error| OperatorError::aws("DynamoDB", "GetItem", error))?;
    Ok(output.item.as_ref().and_then(StoredEventRecord::from_item))
}
