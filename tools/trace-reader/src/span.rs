//! A span as the tools read it back, whatever the source: flattened for queries and rendering.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One received span, flattened for queries and rendering.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanRecord {
    pub service: String,
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    pub name: String,
    pub kind: SpanKind,
    pub start_unix_nanos: u64,
    pub end_unix_nanos: u64,
    pub status: SpanStatus,
    pub attributes: BTreeMap<String, String>,
    /// (trace id, span id) of each link.
    pub links: Vec<(String, String)>,
    pub events: Vec<String>,
    /// False for spans recorded only for Application Signals (`T1U` datagrams).
    pub sampled: bool,
}

impl SpanRecord {
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }

    pub fn duration_nanos(&self) -> u64 {
        self.end_unix_nanos.saturating_sub(self.start_unix_nanos)
    }

    pub fn is_root(&self) -> bool {
        self.parent_span_id.is_empty()
    }

    pub fn is_child_of(&self, parent: &SpanRecord) -> bool {
        self.trace_id == parent.trace_id && self.parent_span_id == parent.span_id
    }

    pub fn links_to(&self, other: &SpanRecord) -> bool {
        self.links
            .iter()
            .any(|(trace, span)| *trace == other.trace_id && *span == other.span_id)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SpanKind {
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
    Unspecified,
}

impl SpanKind {
    /// The kind of an OTLP span (its `SpanKind` enum value).
    pub fn from_otlp(kind: i32) -> Self {
        match kind {
            1 => SpanKind::Internal,
            2 => SpanKind::Server,
            3 => SpanKind::Client,
            4 => SpanKind::Producer,
            5 => SpanKind::Consumer,
            _ => SpanKind::Unspecified,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            SpanKind::Internal => "INTERNAL",
            SpanKind::Server => "SERVER",
            SpanKind::Client => "CLIENT",
            SpanKind::Producer => "PRODUCER",
            SpanKind::Consumer => "CONSUMER",
            SpanKind::Unspecified => "-",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SpanStatus {
    Unset,
    Ok,
    Error(String),
}

impl SpanStatus {
    /// `ERROR`, `OK` or `UNSET`, as the waterfall shows them.
    pub fn label(&self) -> &'static str {
        match self {
            SpanStatus::Unset => "UNSET",
            SpanStatus::Ok => "OK",
            SpanStatus::Error(_) => "ERROR",
        }
    }
}
