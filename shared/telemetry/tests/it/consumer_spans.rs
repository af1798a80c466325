//! Per-message span relationships for a batch, asserted on exported spans: each message joins
//! (parent mode) or links to (link mode) its own producer's trace, and a message without
//! context becomes a root that is still processed.

// Integration tests: a failed expectation is a failed test, not a crash on input.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use aws_lambda_events::sqs::SqsMessage;
use opentelemetry::trace::SpanKind;
use opentelemetry_sdk::trace::SpanData;
use shared_telemetry::{TraceMode, attach_upstream};
use test_support::spans::SpanDataExt;
use test_support::sqs;
use test_telemetry::TestTelemetry;

const TRACEPARENT_A: &str = "00-aaaaaaaa000000000000000000000001-a000000000000001-01";
const XRAY_B: &str =
    "Root=1-bbbbbbbb-000000000000000000000002;Parent=b000000000000002;Sampled=1;Lineage=a87bd80c:1";
const AWS_TRACE_HEADER_C: &str = "Root=1-cccccccc-000000000000000000000003;Parent=c000000000000003;Sampled=1";
const UNSAMPLED_D: &str = "00-dddddddd000000000000000000000004-d000000000000004-00";

fn message(id: &str, attributes: &[(&str, &str)], aws_trace_header: Option<&str>) -> SqsMessage {
    let message = attributes
        .iter()
        .fold(sqs::message(id, b"{}"), |message, (name, value)| {
            sqs::with_attribute(message, name, value)
        });
    match aws_trace_header {
        Some(header) => sqs::with_system_attribute(message, "AWSTraceHeader", header),
        None => message,
    }
}

fn batch() -> Vec<SqsMessage> {
    vec![
        message("m-a", &[("traceparent", TRACEPARENT_A)], Some(AWS_TRACE_HEADER_C)),
        message("m-b", &[("X-Amzn-Trace-Id", XRAY_B)], None),
        message("m-c", &[], Some(AWS_TRACE_HEADER_C)),
        message("m-none", &[], None),
        message("m-unsampled", &[("traceparent", UNSAMPLED_D)], None),
    ]
}

/// Processes a batch the way the worker does: extraction inside the loop, one span each.
fn process_batch(harness: &TestTelemetry, messages: &[SqsMessage], mode: TraceMode) {
    let invocation = tracing::info_span!("invocation", otel.kind = "consumer");
    let _entered = invocation.enter();
    for message in messages {
        let upstream = harness.telemetry.extract_from_sqs(message, None);
        let span = tracing::info_span!(
            "process-webhook",
            otel.kind = "consumer",
            messaging.message.id = message.message_id.as_deref().unwrap_or_default(),
        );
        attach_upstream(&span, &invocation, &upstream, mode).expect("parent set before start");
        span.in_scope(|| tracing::info!("processed"));
    }
}

fn by_message(spans: &[SpanData], id: &str) -> SpanData {
    spans
        .iter()
        .find(|span| span.attr_str("messaging.message.id").as_deref() == Some(id))
        .cloned()
        .unwrap_or_else(|| panic!("no span for message {id}"))
}

fn trace_hex(span: &SpanData) -> String {
    span.span_context.trace_id().to_string()
}

#[test]
fn parent_mode_puts_each_message_in_its_own_producer_trace() {
    let harness = TestTelemetry::new(&[]);
    process_batch(&harness, &batch(), TraceMode::Parent);
    let invocation = harness.spans.one_named("invocation");
    let spans = harness.spans.named("process-webhook");
    // Every message is processed, with or without context; the one whose producer was not
    // sampled keeps that decision: its span is record-only, and OTLP exports sampled spans only
    // (over UDP it goes out as `T1U` for Application Signals).
    assert_eq!(spans.len(), 4, "every sampled message has its exported span");
    assert!(
        !spans
            .iter()
            .any(|span| span.attr_str("messaging.message.id").as_deref() == Some("m-unsampled")),
        "the unsampled producer's decision holds: no recorded trace"
    );
    assert!(spans.iter().all(|span| span.span_kind == SpanKind::Consumer));

    let expected = [
        (
            "m-a",
            "aaaaaaaa000000000000000000000001",
            "a000000000000001",
            "message_attributes",
        ),
        (
            "m-b",
            "bbbbbbbb000000000000000000000002",
            "b000000000000002",
            "message_attributes",
        ),
        (
            "m-c",
            "cccccccc000000000000000000000003",
            "c000000000000003",
            "aws_trace_header",
        ),
    ];
    for (id, trace_id, parent_id, carrier) in expected {
        let span = by_message(&spans, id);
        assert_eq!(trace_hex(&span), trace_id, "{id} joins its producer's trace");
        assert_eq!(
            span.parent_span_id.to_string(),
            parent_id,
            "{id} is a child of the send span"
        );
        assert_eq!(span.attr_bool("trace.has_upstream_context"), Some(true), "{id}");
        assert_eq!(
            span.attr_str("trace.upstream_carrier").as_deref(),
            Some(carrier),
            "{id}"
        );
        assert!(
            span.links_to(&invocation.span_context),
            "{id} links to the invocation"
        );
        assert!(
            invocation.links_to(&span.parent_span_context()),
            "invocation links to {id}'s producer"
        );
    }

    let legacy = by_message(&spans, "m-none");
    assert!(legacy.is_root(), "no context: a new root");
    assert_ne!(legacy.span_context.trace_id(), invocation.span_context.trace_id());
    assert_eq!(legacy.attr_bool("trace.has_upstream_context"), Some(false));
    assert_eq!(legacy.attr_str("trace.upstream_carrier").as_deref(), Some("none"));
    assert!(legacy.links_to(&invocation.span_context));

    assert_eq!(
        invocation.links.links.len(),
        4,
        "one link per message with a producer context"
    );
}

#[test]
fn link_mode_parents_on_the_invocation_and_links_each_producer() {
    let harness = TestTelemetry::new(&[]);
    process_batch(&harness, &batch(), TraceMode::Link);
    let invocation = harness.spans.one_named("invocation");
    let spans = harness.spans.named("process-webhook");
    assert_eq!(spans.len(), 5);
    for span in &spans {
        assert!(
            span.is_child_of(&invocation),
            "link mode: the invocation is the parent"
        );
    }
    for (id, trace_id) in [
        ("m-a", "aaaaaaaa000000000000000000000001"),
        ("m-b", "bbbbbbbb000000000000000000000002"),
        ("m-c", "cccccccc000000000000000000000003"),
    ] {
        let span = by_message(&spans, id);
        let links = span.link_contexts();
        assert_eq!(links.len(), 1, "{id}");
        assert_eq!(
            links[0].trace_id().to_string(),
            trace_id,
            "{id} links its own producer"
        );
        assert_eq!(span.attr_bool("trace.has_upstream_context"), Some(true));
    }
    let legacy = by_message(&spans, "m-none");
    assert!(legacy.link_contexts().is_empty());
    assert_eq!(legacy.attr_bool("trace.has_upstream_context"), Some(false));
}

#[test]
fn extraction_per_message_is_independent_of_order_and_neighbours() {
    // The same messages in reverse order land in the same traces: nothing carries over from
    // one message's extraction to the next.
    let harness = TestTelemetry::new(&[]);
    let mut reversed = batch();
    reversed.reverse();
    process_batch(&harness, &reversed, TraceMode::Parent);
    let spans = harness.spans.named("process-webhook");
    assert_eq!(
        trace_hex(&by_message(&spans, "m-a")),
        "aaaaaaaa000000000000000000000001"
    );
    assert_eq!(
        trace_hex(&by_message(&spans, "m-c")),
        "cccccccc000000000000000000000003"
    );
    assert!(by_message(&spans, "m-none").is_root());
}

#[test]
fn with_only_xray_configured_the_traceparent_attribute_is_ignored() {
    let harness = TestTelemetry::new(&[("OTEL_PROPAGATORS", "xray")]);
    let only_traceparent = message("m-tp", &[("traceparent", TRACEPARENT_A)], None);
    let both = message(
        "m-both",
        &[("traceparent", TRACEPARENT_A)],
        Some(AWS_TRACE_HEADER_C),
    );
    process_batch(&harness, &[only_traceparent, both], TraceMode::Parent);
    let spans = harness.spans.named("process-webhook");
    assert!(by_message(&spans, "m-tp").is_root());
    let span = by_message(&spans, "m-both");
    assert_eq!(trace_hex(&span), "cccccccc000000000000000000000003");
    assert_eq!(
        span.attr_str("trace.upstream_carrier").as_deref(),
        Some("aws_trace_header")
    );
}

trait ParentContext {
    fn parent_span_context(&self) -> opentelemetry::trace::SpanContext;
}

impl ParentContext for SpanData {
    /// The producer's span context as the consumer saw it (trace id + parent span id).
    fn parent_span_context(&self) -> opentelemetry::trace::SpanContext {
        opentelemetry::trace::SpanContext::new(
            self.span_context.trace_id(),
            self.parent_span_id,
            opentelemetry::trace::TraceFlags::SAMPLED,
            true,
            Default::default(),
        )
    }
}

/// A header of the wrong shape (a `Parent` one digit short, a short `Root`) would be zero-padded
/// into a parent that never existed; it is no context: a root, marked so, still processed.
#[test]
fn a_malformed_xray_header_is_no_context() {
    let harness = TestTelemetry::new(&[]);
    let short_parent = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad;Sampled=1";
    let short_root = "Root=1-5759e988-bd862e3fe1be46a99427279;Parent=53995c3f42cd8ad8;Sampled=1";
    let messages = vec![
        message("m-system", &[], Some(short_parent)),
        message("m-attribute", &[("X-Amzn-Trace-Id", short_root)], None),
    ];
    process_batch(&harness, &messages, TraceMode::Parent);
    let spans = harness.spans.named("process-webhook");
    for id in ["m-system", "m-attribute"] {
        let span = by_message(&spans, id);
        assert!(span.is_root(), "{id}: a root span");
        assert_eq!(span.attr_bool("trace.has_upstream_context"), Some(false), "{id}");
        assert_eq!(
            span.attr_str("trace.upstream_carrier").as_deref(),
            Some("none"),
            "{id}"
        );
    }
}
