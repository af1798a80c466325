//! Log lines are JSON and lead to their trace: trace id in W3C and X-Ray form, span id, the
//! Lambda request id and the event's ids from the enclosing spans.

// Integration tests: a failed expectation is a failed test, not a crash on input.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use shared_telemetry::{TelemetryBuilder, TelemetryConfig, TelemetryError};
use test_telemetry::TestTelemetry;

#[test]
fn a_line_inside_spans_carries_the_trace_the_request_and_the_span_fields() {
    let harness = TestTelemetry::new(&[]);
    let invocation = tracing::info_span!("invocation", faas.invocation_id = "req-42", otel.kind = "server");
    invocation.in_scope(|| {
        let event = tracing::info_span!("process-webhook", webhook.event_id = "evt_1");
        event.in_scope(|| tracing::info!(attempt = 2, "stored the event"));
    });
    drop(invocation);

    let span = harness.spans.one_named("process-webhook");
    let lines = harness.logs.lines();
    let line = lines
        .iter()
        .find(|line| line["message"] == "stored the event")
        .expect("the line was written");
    let trace_id = span.span_context.trace_id().to_string();
    assert_eq!(line["trace_id"], trace_id.as_str());
    assert_eq!(
        line["xray_trace_id"],
        format!("1-{}-{}", &trace_id[..8], &trace_id[8..]).as_str()
    );
    assert_eq!(line["span_id"], span.span_context.span_id().to_string().as_str());
    assert_eq!(line["sampled"], true);
    assert_eq!(line["request_id"], "req-42");
    assert_eq!(line["webhook.event_id"], "evt_1");
    assert_eq!(line["attempt"], 2);
    assert_eq!(line["level"], "INFO");
    assert!(
        line.get("otel.kind").is_none(),
        "exporter hints stay out of the logs"
    );
    assert!(line["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
}

#[test]
fn a_line_of_an_unsampled_trace_says_so_and_keeps_its_trace_id() {
    use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    let harness = TestTelemetry::new(&[]);
    let trace_id = TraceId::from_hex("6b072030a2b7091c360c3217ec38674e").unwrap();
    let upstream = SpanContext::new(
        trace_id,
        SpanId::from_hex("7a085853722dc6d2").unwrap(),
        TraceFlags::default(),
        true,
        TraceState::default(),
    );
    let invocation = tracing::info_span!("invocation", faas.invocation_id = "req-8");
    invocation
        .set_parent(opentelemetry::Context::new().with_remote_span_context(upstream))
        .unwrap();
    invocation.in_scope(|| tracing::info!(outcome = "queued", "webhook queued"));

    let lines = harness.logs.lines();
    let line = lines
        .iter()
        .find(|line| line["message"] == "webhook queued")
        .expect("the line was written");
    assert_eq!(line["sampled"], false, "{line}");
    assert_eq!(line["trace_id"], "6b072030a2b7091c360c3217ec38674e");
}

#[test]
fn a_line_carries_only_the_ids_of_its_spans_and_its_own_fields() {
    let harness = TestTelemetry::new(&[]);
    let invocation = tracing::info_span!(
        "invocation",
        faas.invocation_id = "req-7",
        http.route = "/webhooks"
    );
    invocation.in_scope(|| {
        let message = tracing::info_span!(
            "process-webhook",
            messaging.message.id = "msg-1",
            messaging.system = "aws_sqs",
            webhook.event_id = tracing::field::Empty,
            webhook.type = "payment_intent.succeeded",
        );
        // Recorded after the span starts, as the worker does once the body parses.
        message.record("webhook.event_id", "evt_9");
        message
            .in_scope(|| tracing::info!(outcome = "applied", webhook.type = "override", "webhook processed"));
    });

    let lines = harness.logs.lines();
    let line = lines
        .iter()
        .find(|line| line["message"] == "webhook processed")
        .expect("the line was written");
    assert_eq!(line["request_id"], "req-7");
    assert_eq!(line["webhook.event_id"], "evt_9");
    assert_eq!(line["messaging.message.id"], "msg-1");
    assert_eq!(line["outcome"], "applied");
    assert_eq!(line["webhook.type"], "override", "the line's own field wins");
    for absent in ["http.route", "messaging.system", "faas.invocation_id"] {
        assert!(
            line.get(absent).is_none(),
            "{absent} stays in the trace, not the line"
        );
    }
    assert!(line["trace_id"].as_str().is_some());
}

#[test]
fn a_line_keeps_its_trace_when_the_log_level_hides_its_spans() {
    let harness = TestTelemetry::new(&[("AWS_LAMBDA_LOG_LEVEL", "ERROR")]);
    let span = tracing::info_span!("process-webhook", webhook.event_id = "evt_3");
    span.in_scope(|| tracing::error!(error = "throttled", "webhook left for redelivery"));
    drop(span);

    let span = harness.spans.one_named("process-webhook");
    let lines = harness.logs.lines();
    assert_eq!(lines.len(), 1);
    assert_eq!(
        lines[0]["trace_id"],
        span.span_context.trace_id().to_string().as_str()
    );
    assert_eq!(lines[0]["webhook.event_id"], "evt_3");
}

#[test]
fn text_that_needs_escaping_still_makes_one_json_line() {
    let harness = TestTelemetry::new(&[]);
    tracing::info!(
        detail = "line one\nline \"two\"",
        ratio = 0.5,
        flag = true,
        "said \"hi\"\n"
    );
    let lines = harness.logs.lines();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["message"], "said \"hi\"\n");
    assert_eq!(lines[0]["detail"], "line one\nline \"two\"");
    assert_eq!(lines[0]["ratio"], 0.5);
    assert_eq!(lines[0]["flag"], true);
}

#[test]
fn a_line_outside_any_span_has_no_trace_fields() {
    let harness = TestTelemetry::new(&[]);
    tracing::warn!("starting");
    let lines = harness.logs.lines();
    assert_eq!(lines.len(), 1);
    assert!(lines[0].get("trace_id").is_none());
    assert_eq!(lines[0]["level"], "WARN");
}

#[test]
fn the_log_level_filters_logs_but_not_spans() {
    let harness = TestTelemetry::new(&[("AWS_LAMBDA_LOG_LEVEL", "ERROR")]);
    tracing::info_span!("still-traced").in_scope(|| tracing::info!("not logged"));
    assert!(harness.logs.lines().is_empty());
    assert_eq!(harness.spans.named("still-traced").len(), 1);
}

#[test]
fn an_invalid_rust_log_fails_with_the_filter_named() {
    let config = TelemetryConfig::from_lookup("t", |name| {
        (name == "RUST_LOG").then(|| "info,hyper=loud".to_owned())
    })
    .expect("RUST_LOG is checked when building");
    match TelemetryBuilder::new(config).build() {
        Err(TelemetryError::LogFilter { filter, .. }) => assert_eq!(filter, "info,hyper=loud"),
        other => panic!("expected a log filter error, got {:?}", other.map(|_| ())),
    }
}
