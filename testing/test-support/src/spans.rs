//! Spans captured through the real OpenTelemetry SDK pipeline (in-memory exporter), and the
//! queries tests assert with: by name, by attribute, parent, links, status.

use opentelemetry::Value;
use opentelemetry::trace::{SpanContext, SpanId, Status};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};

/// An in-memory exporter and queries over what it received.
#[derive(Debug, Clone, Default)]
pub struct CapturedSpans {
    exporter: InMemorySpanExporter,
}

impl CapturedSpans {
    /// Spans captured from a fresh in-memory exporter.
    pub fn new() -> Self {
        Self::default()
    }

    /// The exporter to install behind a span processor.
    pub fn exporter(&self) -> InMemorySpanExporter {
        self.exporter.clone()
    }

    /// Every finished span exported so far.
    pub fn all(&self) -> Vec<SpanData> {
        self.exporter.get_finished_spans().unwrap_or_default()
    }

    /// Every finished span named `name`.
    pub fn named(&self, name: &str) -> Vec<SpanData> {
        self.all().into_iter().filter(|span| span.name == name).collect()
    }

    /// The single span called `name`; panics with the names seen otherwise.
    pub fn one_named(&self, name: &str) -> SpanData {
        let mut matching = self.named(name);
        match matching.len() {
            1 => matching.remove(0),
            count => {
                let seen: Vec<String> = self.all().iter().map(|s| s.name.to_string()).collect();
                panic!("expected one span named {name:?}, found {count}; spans: {seen:?}")
            }
        }
    }

    /// The spans whose string attribute `key` equals `value`.
    pub fn with_attribute(&self, key: &str, value: &str) -> Vec<SpanData> {
        self.all()
            .into_iter()
            .filter(|span| span.attr_str(key).as_deref() == Some(value))
            .collect()
    }

    /// Forgets every span captured so far.
    pub fn reset(&self) {
        self.exporter.reset();
    }
}

/// Reading a captured span.
pub trait SpanDataExt {
    /// An attribute's value.
    fn attr(&self, key: &str) -> Option<Value>;
    /// An attribute's value, as text.
    fn attr_str(&self, key: &str) -> Option<String>;
    /// A boolean attribute.
    fn attr_bool(&self, key: &str) -> Option<bool>;
    /// An integer attribute.
    fn attr_i64(&self, key: &str) -> Option<i64>;
    /// The contexts the span links to.
    fn link_contexts(&self) -> Vec<SpanContext>;
    /// Whether the span has no parent.
    fn is_root(&self) -> bool;
    /// Whether its status is ERROR.
    fn is_error(&self) -> bool;
    /// Whether it recorded an event named `name`.
    fn has_event(&self, name: &str) -> bool;
    /// Whether `parent` is its parent, in the same trace.
    fn is_child_of(&self, parent: &SpanData) -> bool;
    /// Whether it links to `other`.
    fn links_to(&self, other: &SpanContext) -> bool;
    /// The span's context as a sampled X-Ray trace header (`Root=1-...;Parent=...;Sampled=1`).
    fn xray_header(&self) -> String;
}

impl SpanDataExt for SpanData {
    fn attr(&self, key: &str) -> Option<Value> {
        self.attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.clone())
    }

    fn attr_str(&self, key: &str) -> Option<String> {
        self.attr(key).map(|value| value.as_str().into_owned())
    }

    fn attr_bool(&self, key: &str) -> Option<bool> {
        match self.attr(key) {
            Some(Value::Bool(value)) => Some(value),
            _ => None,
        }
    }

    fn attr_i64(&self, key: &str) -> Option<i64> {
        match self.attr(key) {
            Some(Value::I64(value)) => Some(value),
            _ => None,
        }
    }

    fn link_contexts(&self) -> Vec<SpanContext> {
        self.links
            .links
            .iter()
            .map(|link| link.span_context.clone())
            .collect()
    }

    fn is_root(&self) -> bool {
        self.parent_span_id == SpanId::INVALID
    }

    fn is_error(&self) -> bool {
        matches!(self.status, Status::Error { .. })
    }

    fn has_event(&self, name: &str) -> bool {
        self.events.events.iter().any(|event| event.name == name)
    }

    fn is_child_of(&self, parent: &SpanData) -> bool {
        self.span_context.trace_id() == parent.span_context.trace_id()
            && self.parent_span_id == parent.span_context.span_id()
    }

    fn links_to(&self, other: &SpanContext) -> bool {
        self.links.links.iter().any(|link| {
            link.span_context.trace_id() == other.trace_id() && link.span_context.span_id() == other.span_id()
        })
    }

    fn xray_header(&self) -> String {
        let trace_id = self.span_context.trace_id().to_string();
        format!(
            "Root=1-{}-{};Parent={};Sampled=1",
            &trace_id[..8],
            &trace_id[8..],
            self.span_context.span_id()
        )
    }
}
