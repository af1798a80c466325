//! A span as the tools read it back, whatever the source: flattened for queries and rendering.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One received span, flattened for queries and rendering.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanRecord {
    /// The service that recorded it.
    pub service: String,
    /// Its trace id (32 hex digits).
    pub trace_id: String,
    /// Its span id (16 hex digits).
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    /// The span's name.
    pub name: String,
    /// Its kind.
    pub kind: SpanKind,
    /// When it started (Unix nanoseconds).
    pub start_unix_nanos: u64,
    /// When it ended (Unix nanoseconds).
    pub end_unix_nanos: u64,
    /// How it ended.
    pub status: SpanStatus,
    /// Its attributes, as text.
    pub attributes: BTreeMap<String, String>,
    /// (trace id, span id) of each link.
    pub links: Vec<(String, String)>,
    /// The names of its events.
    pub events: Vec<String>,
    /// False for spans recorded only for Application Signals (`T1U` datagrams).
    pub sampled: bool,
}

impl SpanRecord {
    /// An attribute's value, as text.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }

    /// How long it took.
    pub fn duration_nanos(&self) -> u64 {
        self.end_unix_nanos.saturating_sub(self.start_unix_nanos)
    }

    /// Whether it has no parent.
    pub fn is_root(&self) -> bool {
        self.parent_span_id.is_empty()
    }

    /// Whether `parent` is its parent.
    pub fn is_child_of(&self, parent: &SpanRecord) -> bool {
        self.trace_id == parent.trace_id && self.parent_span_id == parent.span_id
    }

    /// Whether it links to `other`.
    pub fn links_to(&self, other: &SpanRecord) -> bool {
        self.links
            .iter()
            .any(|(trace, span)| *trace == other.trace_id && *span == other.span_id)
    }
}

/// A span's kind, as OpenTelemetry names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SpanKind {
    /// Internal work.
    Internal,
    /// The handling of a request.
    Server,
    /// A call out.
    Client,
    /// A message sent.
    Producer,
    /// A message processed.
    Consumer,
    /// Not recorded.
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

    /// The kind in capitals, as the waterfall shows it.
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

/// How a span ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SpanStatus {
    /// Not set.
    Unset,
    /// Succeeded.
    Ok,
    /// Failed, with the description.
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
