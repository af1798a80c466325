//! One event's story: its record, its traces, and where it was last seen.

use std::time::SystemTime;

use trace_reader::span::{SpanRecord, SpanStatus};
use webhook_worker::store::keys::{self, StoredEventRecord};

use crate::OperatorError;
use crate::dead_letters::{self, DeadLetter};
use crate::environment::Environment;

/// The name of the worker's per-message span.
const MESSAGE_SPAN: &str = "process-webhook";

/// Everything found about one event.
#[derive(Debug, Clone)]
pub struct Story {
    pub event_id: String,
    /// Its record in DynamoDB: it was processed.
    pub record: Option<StoredEventRecord>,
    /// Its message in the DLQ (looked for only without a record).
    pub dead_letter: Option<DeadLetter>,
    /// The DLQ scan stopped before the end of a very deep DLQ.
    pub dlq_scan_truncated: bool,
    /// Its traces, each with its spans: the one that stored it first.
    pub traces: Vec<Trace>,
    /// Why the search by `webhook.event_id` could not run, when it could not.
    pub search_problem: Option<String>,
}

/// One trace the event appears in.
#[derive(Debug, Clone)]
pub struct Trace {
    pub trace_id: String,
    pub spans: Vec<SpanRecord>,
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
    /// Seen (e.g. accepted by the API) but neither stored nor failed yet.
    InFlight,
    /// No record, no trace, not in the DLQ.
    NotFound,
}

impl Verdict {
    /// 0 processed, 2 failed or dead-lettered, 1 anything else (unknown, or still on its way).
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Processed(_) => 0,
            Self::DeadLettered | Self::Failing => 2,
            Self::InFlight | Self::NotFound => 1,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Self::Processed(outcome) => format!("processed ({outcome})"),
            Self::DeadLettered => "dead-lettered: every attempt failed; `make redrive` retries it".to_owned(),
            Self::Failing => {
                "failing: attempts failed and it is not stored; SQS redelivers it until the DLQ".to_owned()
            }
            Self::InFlight => "not processed yet, and no attempt has failed".to_owned(),
            Self::NotFound => "not found: no record, no trace, not in the DLQ".to_owned(),
        }
    }
}

impl Story {
    pub fn verdict(&self) -> Verdict {
        if let Some(record) = &self.record {
            return Verdict::Processed(record.outcome.clone());
        }
        if self.dead_letter.is_some() {
            return Verdict::DeadLettered;
        }
        let attempts = self.message_spans();
        if attempts
            .iter()
            .any(|span| matches!(span.status, SpanStatus::Error(_)))
        {
            return Verdict::Failing;
        }
        match self.traces.iter().any(|trace| !trace.spans.is_empty()) {
            true => Verdict::InFlight,
            false => Verdict::NotFound,
        }
    }

    /// The worker's spans for this event, every attempt, oldest first.
    pub fn message_spans(&self) -> Vec<&SpanRecord> {
        let mut spans: Vec<&SpanRecord> = self
            .traces
            .iter()
            .flat_map(|trace| &trace.spans)
            .filter(|span| span.name == MESSAGE_SPAN && self.is_about(span))
            .collect();
        spans.sort_by_key(|span| span.start_unix_nanos);
        spans
    }

    /// Deliveries found to be duplicates of one already stored.
    pub fn duplicates(&self) -> usize {
        self.message_spans()
            .iter()
            .filter(|span| span.attribute("webhook.outcome") == Some("duplicate"))
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
            .is_none_or(|event_id| event_id == self.event_id)
    }
}

/// Gathers the story of `event_id`: its record; the traces that carry it since `since`; and,
/// without a record, the DLQ.
pub async fn gather(
    environment: &Environment,
    event_id: &str,
    since: SystemTime,
) -> Result<Story, OperatorError> {
    let record = event_record(environment, event_id).await?;
    let mut trace_ids: Vec<String> = record
        .iter()
        .filter_map(|record| record.trace_id.clone())
        .collect();
    let mut search_problem = None;
    match environment.traces.traces_of_event(event_id, since).await {
        Ok(found) => trace_ids.extend(found),
        Err(error) => search_problem = Some(error.to_string()),
    }
    let (dead_letter, dlq_scan_truncated) = match &record {
        Some(_) => (None, false),
        None => {
            let scan = dead_letters::scan(&environment.sqs(), &environment.dlq_url).await?;
            (scan.find(event_id).cloned(), scan.truncated)
        }
    };
    trace_ids.extend(dead_letter.iter().filter_map(|message| message.trace_id.clone()));
    let mut seen = std::collections::BTreeSet::new();
    trace_ids.retain(|id| seen.insert(id.clone()));

    let mut traces = Vec::new();
    for trace_id in trace_ids {
        match environment.traces.trace(&trace_id).await {
            Ok(spans) => traces.push(Trace { trace_id, spans }),
            Err(error) => {
                search_problem.get_or_insert(error.to_string());
                traces.push(Trace {
                    trace_id,
                    spans: Vec::new(),
                });
            }
        }
    }
    Ok(Story {
        event_id: event_id.to_owned(),
        record,
        dead_letter,
        dlq_scan_truncated,
        traces,
        search_problem,
    })
}

async fn event_record(
    environment: &Environment,
    event_id: &str,
) -> Result<Option<StoredEventRecord>, OperatorError> {
    let output = environment
        .dynamodb()
        .get_item()
        .table_name(&environment.table)
        .set_key(Some(keys::event_record_key(event_id)))
        .consistent_read(true)
        .send()
        .await
        .map_err(|error| OperatorError::aws("DynamoDB", "GetItem", error))?;
    Ok(output.item.as_ref().and_then(StoredEventRecord::from_item))
}
