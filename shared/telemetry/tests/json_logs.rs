//! Log lines are JSON and lead to their trace: trace id in W3C and X-Ray form, span id, the
//! Lambda request id and the fields of the enclosing spans.

// Integration tests: a failed expectation is a failed test, not a crash on input.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use shared_telemetry::testing::TestTelemetry;
use shared_telemetry::{TelemetryBuilder, TelemetryConfig, TelemetryError};

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
