//! Traces read back the way AWS serves them, for `make smoke`, `make trace` and the end-to-end
//! tests, through X-Ray's API only (the local pipeline answers the same calls):
//!
//! 1. `GetTraceSegmentDestination` says where segments go.
//! 2. To X-Ray: `BatchGetTraces`.
//! 3. To CloudWatch Logs (Transaction Search, where `BatchGetTraces` finds nothing):
//!    `StartTraceRetrieval` over a time range, then `ListRetrievedTraces` in the `XRAY` format,
//!    polled until `COMPLETE`, within a deadline.
//!
//! Either way the documents are X-Ray segment documents ([`crate::xray`]). Searching by event id
//! (`GetTraceSummaries` on the `webhook_event_id` annotation) is the last resort: with
//! Transaction Search it sees only the indexed share of traces (1% by default).

use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_xray::types::{RetrievalStatus, TraceFormatType, TraceSegmentDestination};

use crate::span::SpanRecord;
use crate::xray;

/// `BatchGetTraces` and `StartTraceRetrieval` take at most five trace ids per call.
const IDS_PER_CALL: usize = 5;
/// How long a retrieval may take before the read gives up.
pub const RETRIEVAL_DEADLINE: Duration = Duration::from_secs(60);

/// Why traces could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// An X-Ray call failed.
    #[error("X-Ray {operation} failed: {detail}")]
    XRay {
        /// The call.
        operation: &'static str,
        /// X-Ray's answer.
        detail: String,
    },
    /// A trace retrieval ended without its traces.
    #[error("the trace retrieval ended {status}: X-Ray could not read the traces from CloudWatch Logs")]
    RetrievalEnded {
        /// The retrieval's final status.
        status: String,
    },
    /// A trace retrieval did not complete in time.
    #[error("the trace retrieval was still {status} after {waited:?}")]
    RetrievalTimedOut {
        /// The status it was still in.
        status: String,
        /// How long it was polled.
        waited: Duration,
    },
    /// An answer could not be read as segments or spans.
    #[error("{0}")]
    Unreadable(String),
}

/// Where X-Ray stores segments in this account and region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentDestination {
    /// X-Ray's own store: `BatchGetTraces`.
    XRay,
    /// CloudWatch Logs, with Transaction Search: `StartTraceRetrieval`.
    CloudWatchLogs,
}

impl SegmentDestination {
    /// Where segments go, as a reader would say it.
    pub fn describe(self) -> &'static str {
        match self {
            Self::XRay => "X-Ray (BatchGetTraces)",
            Self::CloudWatchLogs => "Transaction Search (StartTraceRetrieval, ListRetrievedTraces)",
        }
    }
}

/// One trace read back; no spans when none was recorded in the window (an unsampled request,
/// or spans not yet arrived).
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// 32 hex digits, as spans carry it.
    pub trace_id: String,
    /// Its spans.
    pub spans: Vec<SpanRecord>,
}

/// X-Ray's read API of one account and region (or of the local pipeline).
#[derive(Debug)]
pub struct TraceSource {
    client: aws_sdk_xray::Client,
    retrieval_deadline: Duration,
    destination: OnceLock<SegmentDestination>,
}

impl TraceSource {
    /// A source reading through the AWS SDK with `config`.
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            client: aws_sdk_xray::Client::new(config),
            retrieval_deadline: RETRIEVAL_DEADLINE,
            destination: OnceLock::new(),
        }
    }

    /// How long a trace retrieval may take before the read fails.
    pub fn with_retrieval_deadline(mut self, deadline: Duration) -> Self {
        self.retrieval_deadline = deadline;
        self
    }

    /// Where segments go, asked once (`GetTraceSegmentDestination`).
    pub async fn destination(&self) -> Result<SegmentDestination, SourceError> {
        if let Some(destination) = self.destination.get() {
            return Ok(*destination);
        }
        let output = self
            .client
            .get_trace_segment_destination()
            .send()
            .await
            .map_err(|error| xray_error("GetTraceSegmentDestination", error))?;
        let destination = match output.destination() {
            Some(TraceSegmentDestination::CloudWatchLogs) => SegmentDestination::CloudWatchLogs,
            _ => SegmentDestination::XRay,
        };
        Ok(*self.destination.get_or_init(|| destination))
    }

    /// What `describe` says once the destination is known.
    pub async fn describe(&self) -> String {
        match self.destination().await {
            Ok(destination) => destination.describe().to_owned(),
            Err(_) => "X-Ray".to_owned(),
        }
    }

    /// The spans of `trace_id` (32 hex digits) recorded between `start` and `end`.
    pub async fn trace(
        &self,
        trace_id: &str,
        start: SystemTime,
        end: SystemTime,
    ) -> Result<Vec<SpanRecord>, SourceError> {
        let mut traces = self.traces(&[trace_id.to_owned()], start, end).await?;
        Ok(traces.pop().map(|trace| trace.spans).unwrap_or_default())
    }

    /// Each of `trace_ids`, in order, with the spans recorded between `start` and `end`.
    pub async fn traces(
        &self,
        trace_ids: &[String],
        start: SystemTime,
        end: SystemTime,
    ) -> Result<Vec<Trace>, SourceError> {
        let destination = self.destination().await?;
        let mut documents: Vec<(String, Vec<String>)> = Vec::new();
        for chunk in trace_ids.chunks(IDS_PER_CALL) {
            let xray_ids: Vec<String> = chunk
                .iter()
                .map(|id| crate::waterfall::xray_trace_id(id))
                .collect();
            documents.extend(match destination {
                SegmentDestination::XRay => self.batch_get_traces(xray_ids).await?,
                SegmentDestination::CloudWatchLogs => self.retrieve(xray_ids, start, end).await?,
            });
        }
        trace_ids
            .iter()
            .map(|trace_id| {
                let texts = documents
                    .iter()
                    .filter(|(id, _)| xray::otel_trace_id(id) == *trace_id)
                    .flat_map(|(_, texts)| texts.iter().map(String::as_str));
                let spans = xray::spans_from_documents(texts).map_err(SourceError::Unreadable)?;
                Ok(Trace {
                    trace_id: trace_id.clone(),
                    spans,
                })
            })
            .collect()
    }

    async fn batch_get_traces(
        &self,
        xray_ids: Vec<String>,
    ) -> Result<Vec<(String, Vec<String>)>, SourceError> {
        let mut found = Vec::new();
        let mut pages = self
            .client
            .batch_get_traces()
            .set_trace_ids(Some(xray_ids))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|error| xray_error("BatchGetTraces", error))?;
            for trace in page.traces() {
                let texts = trace
                    .segments()
                    .iter()
                    .filter_map(|segment| segment.document().map(str::to_owned))
                    .collect();
                found.push((trace.id().unwrap_or_default().to_owned(), texts));
            }
        }
        Ok(found)
    }

    /// One retrieval: started, then listed until complete, with backoff and a deadline.
    async fn retrieve(
        &self,
        xray_ids: Vec<String>,
        start: SystemTime,
        end: SystemTime,
    ) -> Result<Vec<(String, Vec<String>)>, SourceError> {
        let token = self
            .client
            .start_trace_retrieval()
            .set_trace_ids(Some(xray_ids))
            .start_time(start.into())
            .end_time(end.into())
            .send()
            .await
            .map_err(|error| xray_error("StartTraceRetrieval", error))?
            .retrieval_token
            .ok_or_else(|| {
                SourceError::Unreadable("StartTraceRetrieval answered without a RetrievalToken".to_owned())
            })?;
        let started = Instant::now();
        let mut pause = Duration::from_millis(250);
        loop {
            let mut found = Vec::new();
            let mut next_token = None;
            let status = loop {
                let page = self
                    .client
                    .list_retrieved_traces()
                    .retrieval_token(&token)
                    .trace_format(TraceFormatType::Xray)
                    .set_next_token(next_token.take())
                    .send()
                    .await
                    .map_err(|error| xray_error("ListRetrievedTraces", error))?;
                for trace in page.traces() {
                    let texts = trace
                        .spans()
                        .iter()
                        .filter_map(|span| span.document().map(str::to_owned))
                        .collect();
                    found.push((trace.id().unwrap_or_default().to_owned(), texts));
                }
                match (page.retrieval_status, page.next_token) {
                    (Some(RetrievalStatus::Complete), Some(token)) => next_token = Some(token),
                    (status, _) => break status,
                }
            };
            match status {
                Some(RetrievalStatus::Complete) => return Ok(found),
                Some(RetrievalStatus::Running | RetrievalStatus::Scheduled) | None => {}
                Some(other) => {
                    return Err(SourceError::RetrievalEnded {
                        status: other.as_str().to_owned(),
                    });
                }
            }
            if started.elapsed() + pause > self.retrieval_deadline {
                return Err(SourceError::RetrievalTimedOut {
                    status: status.map(|s| s.as_str().to_owned()).unwrap_or_default(),
                    waited: started.elapsed(),
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    }

    /// The last resort: ids of traces whose spans carry the annotation `webhook_event_id =
    /// event_id`, since `since`. With Transaction Search, X-Ray indexes only a share of traces
    /// (1% by default), so most events are not found this way.
    pub async fn traces_of_event(
        &self,
        event_id: &str,
        since: SystemTime,
    ) -> Result<Vec<String>, SourceError> {
        let mut ids = Vec::new();
        let mut pages = self
            .client
            .get_trace_summaries()
            .start_time(since.into())
            .end_time(SystemTime::now().into())
            .filter_expression(shared_telemetry::event_id_filter(event_id))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|error| xray_error("GetTraceSummaries", error))?;
            for id in page.trace_summaries().iter().filter_map(|summary| summary.id()) {
                let id = xray::otel_trace_id(id);
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
        Ok(ids)
    }
}

fn xray_error<E: std::error::Error + 'static>(operation: &'static str, error: E) -> SourceError {
    SourceError::XRay {
        operation,
        detail: aws_sdk_xray::error::DisplayErrorContext(error).to_string(),
    }
}

/// When a trace began, from its id: an X-Ray-compatible trace id starts with the epoch second
/// of its first span; `None` for ids that do not (W3C random ids).
pub fn trace_start(trace_id: &str) -> Option<SystemTime> {
    let epoch = u32::from_str_radix(trace_id.get(..8)?, 16).ok()?;
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(u64::from(epoch));
    // A random id's first digits are no time: only a start within the last ten years counts.
    let ten_years = Duration::from_secs(10 * 365 * 24 * 3600);
    let now = SystemTime::now();
    (start <= now + Duration::from_secs(3600) && now.duration_since(start).is_ok_and(|age| age < ten_years))
        .then_some(start)
}
