//! X-Ray segment documents (JSON, as `BatchGetTraces` and `ListRetrievedTraces` in the `XRAY`
//! format return them) as [`SpanRecord`]s. Segment names are service names (X-Ray's convention), so a span's
//! role is read from what X-Ray keeps of it: the segment's `origin`, `namespace`, `aws.operation`,
//! and the span attributes X-Ray keeps as annotations or `default` metadata.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::span::{SpanKind, SpanRecord, SpanStatus};

/// API Gateway's stage segment.
pub const API_GATEWAY_ORIGIN: &str = "AWS::ApiGateway::Stage";
/// Attributes added from the segment document itself.
pub const ORIGIN_ATTRIBUTE: &str = "xray.origin";
/// The attribute holding a segment's `namespace` (`aws` or `remote`).
pub const NAMESPACE_ATTRIBUTE: &str = "xray.namespace";

#[derive(Debug, Deserialize)]
struct Document {
    id: String,
    #[serde(default)]
    trace_id: Option<String>,
    #[serde(default)]
    parent_id: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    start_time: f64,
    #[serde(default)]
    end_time: Option<f64>,
    #[serde(default)]
    origin: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    annotations: BTreeMap<String, Value>,
    #[serde(default)]
    metadata: BTreeMap<String, BTreeMap<String, Value>>,
    #[serde(default)]
    aws: BTreeMap<String, Value>,
    #[serde(default)]
    error: bool,
    #[serde(default)]
    fault: bool,
    #[serde(default)]
    cause: Option<Value>,
    #[serde(default)]
    links: Vec<Link>,
    #[serde(default)]
    subsegments: Vec<Document>,
}

/// A span link as X-Ray keeps it.
#[derive(Debug, Deserialize)]
struct Link {
    #[serde(default)]
    trace_id: String,
    #[serde(default)]
    id: String,
}

/// `1-5759e988-bd862e3fe1be46a994272793` as the 32 hex digits OpenTelemetry uses.
pub fn otel_trace_id(xray_trace_id: &str) -> String {
    xray_trace_id.trim_start_matches("1-").replace('-', "")
}

/// The spans of segment documents (`Segments[].Document` of one trace).
pub fn spans_from_documents<'a>(
    documents: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<SpanRecord>, String> {
    let mut spans = Vec::new();
    for text in documents {
        let document: Document = serde_json::from_str(text)
            .map_err(|error| format!("an X-Ray segment document is not readable: {error}"))?;
        let trace_id = document
            .trace_id
            .as_deref()
            .map(otel_trace_id)
            .unwrap_or_default();
        let service = document.name.clone();
        flatten(document, &trace_id, &service, None, true, &mut spans);
    }
    Ok(spans)
}

fn flatten(
    document: Document,
    trace_id: &str,
    service: &str,
    enclosing: Option<&str>,
    top_level: bool,
    out: &mut Vec<SpanRecord>,
) {
    let mut attributes = BTreeMap::new();
    for (key, value) in document
        .annotations
        .iter()
        .chain(document.metadata.get("default").into_iter().flatten())
    {
        attributes.insert(key.clone(), text(value));
    }
    for (key, value) in &document.aws {
        attributes.insert(format!("aws.{key}"), text(value));
    }
    if let Some(origin) = &document.origin {
        attributes.insert(ORIGIN_ATTRIBUTE.to_owned(), origin.clone());
    }
    if let Some(namespace) = &document.namespace {
        attributes.insert(NAMESPACE_ATTRIBUTE.to_owned(), namespace.clone());
    }
    let kind = kind_of(&attributes, document.namespace.as_deref(), top_level);
    let name = match attributes.get("aws.operation") {
        Some(operation) if kind == SpanKind::Client => format!("{}.{operation}", document.name),
        _ => document.name.clone(),
    };
    let status = if document.fault || document.error {
        SpanStatus::Error(document.cause.as_ref().map(text).unwrap_or_default())
    } else {
        SpanStatus::Unset
    };
    let nanos = |seconds: f64| (seconds * 1e9).round().max(0.0) as u64;
    let span_id = document.id.clone();
    out.push(SpanRecord {
        service: service.to_owned(),
        trace_id: trace_id.to_owned(),
        span_id: span_id.clone(),
        parent_span_id: document
            .parent_id
            .clone()
            .or_else(|| enclosing.map(str::to_owned))
            .unwrap_or_default(),
        name,
        kind,
        start_unix_nanos: nanos(document.start_time),
        end_unix_nanos: nanos(document.end_time.unwrap_or(document.start_time)),
        status,
        attributes,
        links: document
            .links
            .iter()
            .map(|link| (otel_trace_id(&link.trace_id), link.id.clone()))
            .collect(),
        events: Vec::new(),
        sampled: true,
    });
    for subsegment in document.subsegments {
        flatten(subsegment, trace_id, service, Some(&span_id), false, out);
    }
}

/// What an X-Ray segment was as a span: the messaging operation or Application Signals' span
/// kind when X-Ray kept them, else a remote call for an `aws`/`remote` subsegment, else the
/// service's entry for a segment.
fn kind_of(attributes: &BTreeMap<String, String>, namespace: Option<&str>, top_level: bool) -> SpanKind {
    match attributes.get("messaging.operation.type").map(String::as_str) {
        Some("send" | "publish") => return SpanKind::Producer,
        Some("process" | "receive") => return SpanKind::Consumer,
        _ => {}
    }
    match attributes.get("aws.span.kind").map(String::as_str) {
        Some("CLIENT") => return SpanKind::Client,
        Some("PRODUCER") => return SpanKind::Producer,
        Some("CONSUMER") => return SpanKind::Consumer,
        Some("SERVER" | "LOCAL_ROOT") => return SpanKind::Server,
        _ => {}
    }
    match (namespace, top_level) {
        (Some("aws" | "remote"), _) => SpanKind::Client,
        (_, true) => SpanKind::Server,
        _ => SpanKind::Internal,
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_and_subsegments_become_spans_with_their_roles() {
        let gateway = r#"{"id":"a1","trace_id":"1-6b072030-a2b7091c360c3217ec38674e","name":"webhooks-dev/live",
            "origin":"AWS::ApiGateway::Stage","start_time":100.0,"end_time":100.5,
            "subsegments":[{"id":"a2","name":"Lambda","namespace":"aws","start_time":100.01,"end_time":100.4,
                "aws":{"operation":"Invoke"}}]}"#;
        let worker = r#"{"id":"b1","trace_id":"1-6b072030-a2b7091c360c3217ec38674e","parent_id":"c9","name":"SQS",
            "start_time":105.0,"end_time":105.2,"fault":true,"cause":"boom",
            "metadata":{"default":{"messaging.operation.type":"process","webhook.event_id":"evt_1"}}}"#;
        let spans = spans_from_documents([gateway, worker]).expect("readable");
        assert_eq!(spans.len(), 3);
        assert_eq!(spans[0].trace_id, "6b072030a2b7091c360c3217ec38674e");
        assert_eq!(spans[0].attribute(ORIGIN_ATTRIBUTE), Some(API_GATEWAY_ORIGIN));
        assert_eq!(spans[0].kind, SpanKind::Server);
        assert_eq!(
            (spans[1].name.as_str(), spans[1].kind),
            ("Lambda.Invoke", SpanKind::Client)
        );
        assert_eq!(
            spans[1].parent_span_id, "a1",
            "a subsegment's parent is its enclosing segment"
        );
        assert_eq!(spans[2].kind, SpanKind::Consumer);
        assert_eq!(spans[2].parent_span_id, "c9");
        assert_eq!(spans[2].attribute("webhook.event_id"), Some("evt_1"));
        assert_eq!(spans[2].status, SpanStatus::Error("boom".to_owned()));
        assert_eq!(spans[2].start_unix_nanos, 105_000_000_000);
    }

    #[test]
    fn an_unreadable_document_is_an_error() {
        assert!(spans_from_documents(["{"]).is_err());
    }
}
