//! Where traces are read back from: X-Ray in AWS, the local stack's trace sink locally. One
//! abstraction for `make smoke`, `make trace` and the end-to-end tests.

use std::time::{Duration, SystemTime};

use crate::span::SpanRecord;
use crate::xray;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("X-Ray {operation} failed: {detail}")]
    XRay { operation: &'static str, detail: String },
    #[error("the trace sink at {url} did not answer: {detail}")]
    Sink { url: String, detail: String },
    #[error("{0}")]
    Unreadable(String),
}

/// A trace source.
#[derive(Debug, Clone)]
pub enum TraceSource {
    /// X-Ray of the current AWS credentials and region.
    XRay(aws_sdk_xray::Client),
    /// The local stack's trace sink, at its HTTP address (`http://127.0.0.1:<port>`).
    LocalSink { url: String, http: reqwest::Client },
}

impl TraceSource {
    pub fn xray(config: &aws_config::SdkConfig) -> Self {
        Self::XRay(aws_sdk_xray::Client::new(config))
    }

    pub fn local_sink(url: impl Into<String>) -> Self {
        Self::LocalSink {
            url: url.into().trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
        }
    }

    /// Whether traces here start at API Gateway (the local stack has none).
    pub fn has_api_gateway(&self) -> bool {
        matches!(self, Self::XRay(_))
    }

    pub fn describe(&self) -> String {
        match self {
            Self::XRay(_) => "X-Ray".to_owned(),
            Self::LocalSink { url, .. } => format!("the local trace sink at {url}"),
        }
    }

    /// Every span of the trace `trace_id` (32 hex digits) received so far.
    pub async fn trace(&self, trace_id: &str) -> Result<Vec<SpanRecord>, SourceError> {
        match self {
            Self::XRay(client) => {
                let xray_id = crate::waterfall::xray_trace_id(trace_id);
                let output = client
                    .batch_get_traces()
                    .trace_ids(&xray_id)
                    .send()
                    .await
                    .map_err(|error| SourceError::XRay {
                        operation: "BatchGetTraces",
                        detail: aws_sdk_xray::error::DisplayErrorContext(error).to_string(),
                    })?;
                let documents: Vec<&str> = output
                    .traces()
                    .iter()
                    .flat_map(|trace| trace.segments())
                    .filter_map(|segment| segment.document())
                    .collect();
                xray::spans_from_documents(documents).map_err(SourceError::Unreadable)
            }
            Self::LocalSink { url, http } => get_spans(http, url, &format!("{url}/traces/{trace_id}")).await,
        }
    }

    /// Ids of the traces with a span carrying `webhook.event_id = event_id`, since `since`.
    pub async fn traces_of_event(
        &self,
        event_id: &str,
        since: SystemTime,
    ) -> Result<Vec<String>, SourceError> {
        match self {
            Self::XRay(client) => {
                let mut ids = Vec::new();
                let mut pages = client
                    .get_trace_summaries()
                    .start_time(since.into())
                    .end_time(SystemTime::now().into())
                    .filter_expression(shared_telemetry::search::event_id_filter(event_id))
                    .into_paginator()
                    .send();
                while let Some(page) = pages.next().await {
                    let page = page.map_err(|error| SourceError::XRay {
                        operation: "GetTraceSummaries",
                        detail: aws_sdk_xray::error::DisplayErrorContext(error).to_string(),
                    })?;
                    ids.extend(
                        page.trace_summaries()
                            .iter()
                            .filter_map(|s| s.id())
                            .map(xray::otel_trace_id),
                    );
                }
                Ok(ids)
            }
            Self::LocalSink { url, http } => {
                let spans = get_spans(http, url, &format!("{url}/spans?webhook.event_id={event_id}")).await?;
                let since_nanos = since
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_nanos() as u64;
                let mut ids: Vec<String> = spans
                    .into_iter()
                    .filter(|span| span.start_unix_nanos >= since_nanos)
                    .map(|span| span.trace_id)
                    .collect();
                ids.dedup();
                Ok(ids)
            }
        }
    }
}

async fn get_spans(http: &reqwest::Client, base: &str, url: &str) -> Result<Vec<SpanRecord>, SourceError> {
    let failed = |detail: String| SourceError::Sink {
        url: base.to_owned(),
        detail,
    };
    let response = http
        .get(url)
        .send()
        .await
        .map_err(|error| failed(error.to_string()))?;
    if !response.status().is_success() {
        return Err(failed(format!("GET {url} answered {}", response.status())));
    }
    response.json().await.map_err(|error| failed(error.to_string()))
}
