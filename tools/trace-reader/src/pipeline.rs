//! What a connected trace of one webhook holds, from the HTTP request to the DynamoDB write: the
//! check `make smoke` runs after a deploy (spans from X-Ray) and the end-to-end tests run on the
//! local pipeline (spans from its trace sink).

use std::collections::HashMap;

use crate::span::{SpanKind, SpanRecord};
use crate::xray::{API_GATEWAY_ORIGIN, ORIGIN_ATTRIBUTE};

/// One part of a connected webhook trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// API Gateway's stage segment.
    ApiGateway,
    /// webhook-api's SERVER span.
    ApiServer,
    /// The API's `send` or `publish` PRODUCER span.
    Send,
    /// The worker's `process-webhook` CONSUMER span.
    ProcessWebhook,
    /// The worker's DynamoDB CLIENT span.
    DynamoDbWrite,
}

impl Part {
    /// What the part is, for a report of what is missing.
    pub fn describe(self) -> &'static str {
        match self {
            Part::ApiGateway => "API Gateway's segment",
            Part::ApiServer => "webhook-api's SERVER span",
            Part::Send => "webhook-api's `send` (or, with fan-out, `publish`) PRODUCER span",
            Part::ProcessWebhook => {
                "webhook-worker's `process-webhook` CONSUMER span, under `send` or `publish` (parent mode)"
            }
            Part::DynamoDbWrite => "webhook-worker's DynamoDB CLIENT span, under `process-webhook`",
        }
    }
}

/// The parts a trace must hold; API Gateway only where there is one (AWS, not the local pipeline).
pub fn expected_parts(with_gateway: bool) -> Vec<Part> {
    let mut parts = vec![
        Part::ApiServer,
        Part::Send,
        Part::ProcessWebhook,
        Part::DynamoDbWrite,
    ];
    if with_gateway {
        parts.insert(0, Part::ApiGateway);
    }
    parts
}

/// The expected parts that `spans` (one trace) lacks, in pipeline order.
pub fn missing_parts(spans: &[SpanRecord], with_gateway: bool) -> Vec<Part> {
    let by_id: HashMap<&str, &SpanRecord> = spans.iter().map(|span| (span.span_id.as_str(), span)).collect();
    let gateway = spans
        .iter()
        .find(|span| span.attribute(ORIGIN_ATTRIBUTE) == Some(API_GATEWAY_ORIGIN));
    let server = spans
        .iter()
        .find(|span| span.kind == SpanKind::Server && span.service == "webhook-api");
    let send = spans.iter().find(|span| is_producer(span));
    let process = send.and_then(|send| {
        spans
            .iter()
            .find(|span| is_message_span(span) && descends_from(&by_id, span, send))
    });
    let write = process.and_then(|process| {
        spans.iter().find(|span| {
            span.kind == SpanKind::Client
                && (span.name.starts_with("DynamoDB")
                    || span.attribute("db.system.name") == Some("aws.dynamodb"))
                && descends_from(&by_id, span, process)
        })
    });
    expected_parts(with_gateway)
        .into_iter()
        .filter(|part| match part {
            Part::ApiGateway => gateway.is_none(),
            Part::ApiServer => server.is_none(),
            Part::Send => send.is_none(),
            Part::ProcessWebhook => process.is_none(),
            Part::DynamoDbWrite => write.is_none(),
        })
        .collect()
}

/// webhook-api's PRODUCER span: `send <queue>`, or `publish <topic>` with fan-out (both have
/// `messaging.operation.type = send`, which X-Ray keeps when it renames spans).
pub fn is_producer(span: &SpanRecord) -> bool {
    span.kind == SpanKind::Producer
        && (span.name.starts_with("send") || span.attribute("messaging.operation.type") == Some("send"))
}

/// webhook-worker's span for one message: `process-webhook`, or what X-Ray keeps of it (it
/// names the subsegment after the queue's service, `SQS`, and keeps the operation type).
pub fn is_message_span(span: &SpanRecord) -> bool {
    span.kind == SpanKind::Consumer
        && (span.name == "process-webhook" || span.attribute("messaging.operation.type") == Some("process"))
}

/// Whether `span` is `ancestor` or below it (X-Ray may put its own segments in between); at
/// most one step per span, so ids that repeat or parents that cycle end the walk.
fn descends_from(by_id: &HashMap<&str, &SpanRecord>, span: &SpanRecord, ancestor: &SpanRecord) -> bool {
    let mut current = span;
    for _ in 0..=by_id.len() {
        if current.span_id == ancestor.span_id {
            return true;
        }
        match by_id.get(current.parent_span_id.as_str()) {
            Some(parent) => current = parent,
            None => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::span::SpanStatus;

    fn span(service: &str, name: &str, kind: SpanKind, id: &str, parent: &str) -> SpanRecord {
        SpanRecord {
            service: service.into(),
            trace_id: "t".into(),
            span_id: id.into(),
            parent_span_id: parent.into(),
            name: name.into(),
            kind,
            start_unix_nanos: 0,
            end_unix_nanos: 1,
            status: SpanStatus::Unset,
            attributes: BTreeMap::new(),
            links: Vec::new(),
            events: Vec::new(),
            sampled: true,
        }
    }

    fn connected() -> Vec<SpanRecord> {
        vec![
            span(
                "webhook-api",
                "webhooks-local-webhook-api",
                SpanKind::Server,
                "a",
                "",
            ),
            span(
                "webhook-api",
                "send webhooks-local-events",
                SpanKind::Producer,
                "b",
                "a",
            ),
            span("webhook-worker", "process-webhook", SpanKind::Consumer, "c", "b"),
            span(
                "webhook-worker",
                "DynamoDB.TransactWriteItems",
                SpanKind::Client,
                "d",
                "c",
            ),
        ]
    }

    #[test]
    fn a_connected_trace_lacks_nothing() {
        assert!(missing_parts(&connected(), false).is_empty());
        assert_eq!(missing_parts(&connected(), true), [Part::ApiGateway]);
    }

    #[test]
    fn withheld_worker_spans_are_named() {
        let spans: Vec<SpanRecord> = connected()
            .into_iter()
            .filter(|s| s.service != "webhook-worker")
            .collect();
        assert_eq!(
            missing_parts(&spans, false),
            [Part::ProcessWebhook, Part::DynamoDbWrite]
        );
    }

    #[test]
    fn a_publish_with_snss_own_segment_in_between_is_connected() {
        let mut spans = connected();
        spans[1].name = "publish webhooks-local-events".into();
        spans[1]
            .attributes
            .insert("messaging.operation.type".into(), "send".into());
        // An `Active` topic writes its own segment between the publisher and the queue.
        spans.push(span("webhooks-local-events", "SNS", SpanKind::Server, "s", "b"));
        spans[2].parent_span_id = "s".into();
        assert!(missing_parts(&spans, false).is_empty());
    }

    #[test]
    fn a_consumer_in_its_own_trace_is_not_connected() {
        let mut spans = connected();
        spans[2].parent_span_id = "elsewhere".into();
        assert_eq!(
            missing_parts(&spans, false),
            [Part::ProcessWebhook, Part::DynamoDbWrite]
        );
    }
}
