//! The invocation layer around a real `lambda_runtime` service: the span continues Lambda's
//! X-Ray context (or the HTTP request's `traceparent`), marks the cold start once, and spans are
//! exported before the invocation completes, within a bounded time even when export hangs.

// Integration tests: a failed expectation is a failed test, not a crash on input.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lambda_runtime::tower::{Layer, Service, service_fn};
use lambda_runtime::{Config, Context, LambdaInvocation};
use opentelemetry::trace::SpanKind;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData, SpanExporter};
use shared_telemetry::{DEFAULT_MAX_BUFFERED, InvocationSpanProcessor};
use shared_telemetry::{InvocationLayer, Trigger};
use test_support::spans::SpanDataExt;
use test_telemetry::TestTelemetry;

const LAMBDA_XRAY: &str =
    "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:1";
const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

/// What the functions run: spans held until the flush after each invocation.
fn production_processor(exporter: InMemorySpanExporter) -> InvocationSpanProcessor<InMemorySpanExporter> {
    InvocationSpanProcessor::new(exporter, DEFAULT_MAX_BUFFERED)
}

fn invocation(request_id: &str, xray: Option<&str>, body: &str) -> LambdaInvocation {
    let (parts, _) = http::Response::new(()).into_parts();
    let mut context = Context::default();
    context.request_id = request_id.to_owned();
    context.xray_trace_id = xray.map(str::to_owned);
    context.invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:webhook-api".to_owned();
    context.env_config = Arc::new(Config {
        function_name: "webhook-api".to_owned(),
        ..Config::default()
    });
    LambdaInvocation {
        parts,
        body: bytes::Bytes::from(body.to_owned()),
        context,
    }
}

/// A handler that opens one span of its own.
fn handler()
-> impl Service<LambdaInvocation, Response = (), Error = lambda_runtime::Error, Future = impl Send + 'static>
{
    service_fn(|_invocation: LambdaInvocation| async {
        tracing::info_span!("handler-work").in_scope(|| tracing::info!("working"));
        Ok::<(), lambda_runtime::Error>(())
    })
}

#[tokio::test]
async fn continues_the_lambda_xray_context_and_marks_the_cold_start_once() {
    let harness = TestTelemetry::new(&[]);
    let mut service = InvocationLayer::new(harness.telemetry.clone(), Trigger::Http).layer(handler());
    service
        .call(invocation("req-1", Some(LAMBDA_XRAY), "{}"))
        .await
        .expect("first");
    service
        .call(invocation("req-2", Some(LAMBDA_XRAY), "{}"))
        .await
        .expect("second");

    let spans = harness.spans.named("webhook-api");
    assert_eq!(spans.len(), 2);
    let first = &spans[0];
    assert_eq!(first.span_kind, SpanKind::Server);
    assert_eq!(
        first.span_context.trace_id().to_string(),
        "5759e988bd862e3fe1be46a994272793"
    );
    assert_eq!(first.parent_span_id.to_string(), "53995c3f42cd8ad8");
    assert_eq!(first.attr_str("faas.trigger").as_deref(), Some("http"));
    assert_eq!(first.attr_str("faas.invocation_id").as_deref(), Some("req-1"));
    assert_eq!(first.attr_bool("faas.coldstart"), Some(true));
    assert_eq!(spans[1].attr_bool("faas.coldstart"), Some(false));
    assert_eq!(
        first.attr_str("cloud.resource_id").as_deref(),
        Some("arn:aws:lambda:eu-west-1:123456789012:function:webhook-api")
    );
    let work = harness.spans.named("handler-work");
    assert!(
        work[0].is_child_of(first),
        "handler spans nest under the invocation"
    );
}

#[tokio::test]
async fn http_without_xray_continues_the_requests_traceparent() {
    let harness = TestTelemetry::new(&[]);
    let mut service = InvocationLayer::new(harness.telemetry.clone(), Trigger::Http).layer(handler());
    let body =
        format!(r#"{{"headers": {{"TraceParent": "{TRACEPARENT}", "content-type": "application/json"}}}}"#);
    service
        .call(invocation("req-1", None, &body))
        .await
        .expect("invocation");
    let span = harness.spans.one_named("webhook-api");
    assert_eq!(
        span.span_context.trace_id().to_string(),
        "0af7651916cd43dd8448eb211c80319c"
    );
    assert_eq!(span.parent_span_id.to_string(), "b7ad6b7169203331");
}

#[tokio::test]
async fn xray_context_wins_over_the_requests_traceparent() {
    let harness = TestTelemetry::new(&[]);
    let mut service = InvocationLayer::new(harness.telemetry.clone(), Trigger::Http).layer(handler());
    let body = format!(r#"{{"headers": {{"traceparent": "{TRACEPARENT}"}}}}"#);
    service
        .call(invocation("req-1", Some(LAMBDA_XRAY), &body))
        .await
        .expect("invocation");
    let span = harness.spans.one_named("webhook-api");
    assert_eq!(
        span.span_context.trace_id().to_string(),
        "5759e988bd862e3fe1be46a994272793"
    );
}

#[tokio::test]
async fn a_consumer_invocation_without_xray_is_a_root() {
    let harness = TestTelemetry::new(&[]);
    let mut service = InvocationLayer::new(harness.telemetry.clone(), Trigger::PubSub).layer(handler());
    let body = format!(r#"{{"headers": {{"traceparent": "{TRACEPARENT}"}}, "Records": []}}"#);
    service
        .call(invocation("req-1", None, &body))
        .await
        .expect("invocation");
    let span = harness.spans.one_named("webhook-api");
    assert_eq!(span.span_kind, SpanKind::Consumer);
    assert!(span.is_root());
    assert_eq!(span.attr_str("faas.trigger").as_deref(), Some("pubsub"));
}

#[tokio::test]
async fn spans_are_exported_before_the_invocation_completes() {
    // The production processor exports nothing on its own: only the layer's flush does.
    let harness = TestTelemetry::with_processor(&[], production_processor);
    let mut service = InvocationLayer::new(harness.telemetry.clone(), Trigger::Http).layer(handler());
    service
        .call(invocation("req-1", None, "{}"))
        .await
        .expect("invocation");
    assert_eq!(harness.spans.named("webhook-api").len(), 1);
    assert_eq!(harness.spans.named("handler-work").len(), 1);
    assert_eq!(harness.telemetry.failed_flushes(), 0);
}

/// An exporter that hangs until released, like a collector that accepts and never answers.
#[derive(Debug)]
struct HangingExporter {
    release: Arc<Mutex<mpsc::Receiver<()>>>,
}

impl SpanExporter for HangingExporter {
    async fn export(&self, _batch: Vec<SpanData>) -> OTelSdkResult {
        let _ = self.release.lock().map(|release| release.recv());
        Ok(())
    }
}

#[tokio::test]
async fn a_hanging_exporter_delays_the_invocation_by_the_export_timeout_at_most() {
    let (release, released) = mpsc::channel();
    let harness = TestTelemetry::with_processor(&[("OTEL_BSP_EXPORT_TIMEOUT", "100")], |_| {
        InvocationSpanProcessor::new(
            HangingExporter {
                release: Arc::new(Mutex::new(released)),
            },
            DEFAULT_MAX_BUFFERED,
        )
    });
    let mut service = InvocationLayer::new(harness.telemetry.clone(), Trigger::Http).layer(handler());
    let outcome = tokio::time::timeout(
        Duration::from_secs(10),
        service.call(invocation("req-1", None, "{}")),
    )
    .await;
    assert!(
        matches!(outcome, Ok(Ok(()))),
        "the invocation completes despite the exporter"
    );
    assert_eq!(
        harness.telemetry.failed_flushes(),
        1,
        "the failed flush is counted"
    );
    let warned = harness.logs.lines().into_iter().any(|line| {
        line["level"] == "WARN"
            && line["message"]
                .as_str()
                .is_some_and(|m| m.contains("span export failed"))
    });
    assert!(warned, "the failed flush is logged");
    drop(release);
}

/// The runtime's own steps around a handler, as `lambda_runtime` runs them: the body decoded as
/// raw JSON, the handler called, its error posted to the Runtime API (so not returned here).
fn runtime<S>(
    handler: S,
) -> impl Service<LambdaInvocation, Response = (), Error = lambda_runtime::Error, Future = impl Send + 'static>
where
    S: Service<
            lambda_runtime::LambdaEvent<Box<serde_json::value::RawValue>>,
            Response = aws_lambda_events::sqs::SqsBatchResponse,
            Error = lambda_runtime::Diagnostic,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    service_fn(move |invocation: LambdaInvocation| {
        let mut handler = handler.clone();
        async move {
            let raw: Box<serde_json::value::RawValue> = serde_json::from_slice(&invocation.body)?;
            let _posted_to_the_runtime_api = handler
                .call(lambda_runtime::LambdaEvent::new(raw, invocation.context))
                .await;
            Ok::<(), lambda_runtime::Error>(())
        }
    })
}

type Batch = lambda_runtime::LambdaEvent<aws_lambda_events::sqs::SqsEvent>;

/// Runs one invocation of a worker-like handler and returns the invocation span.
async fn failing_invocation<F, Fut>(
    body: &str,
    handler: F,
) -> (TestTelemetry, opentelemetry_sdk::trace::SpanData)
where
    F: Fn(Batch) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<aws_lambda_events::sqs::SqsBatchResponse, lambda_runtime::Error>>
        + Send
        + 'static,
{
    // Exported only by the flush that ends the failed invocation, as in Lambda.
    let harness = TestTelemetry::with_processor(&[], production_processor);
    let handler = shared_telemetry::InvocationHandler::new(service_fn(handler));
    let mut service =
        InvocationLayer::new(harness.telemetry.clone(), Trigger::PubSub).layer(runtime(handler));
    service
        .call(invocation("req-1", None, body))
        .await
        .expect("the runtime goes on");
    let span = harness.spans.one_named("webhook-api");
    (harness, span)
}

fn assert_failed(
    harness: &TestTelemetry,
    span: &opentelemetry_sdk::trace::SpanData,
    error_type: &str,
    message: &str,
) {
    assert!(
        matches!(&span.status, opentelemetry::trace::Status::Error { description } if description.contains(message)),
        "{:?}",
        span.status
    );
    assert_eq!(span.attr_str("error.type").as_deref(), Some(error_type));
    assert!(
        span.events.iter().any(|event| event.name == "exception"),
        "an exception event"
    );
    let logged = harness.logs.lines().into_iter().any(|line| {
        line["level"] == "ERROR"
            && line["error.type"] == error_type
            && line["error"].as_str().is_some_and(|e| e.contains(message))
    });
    assert!(
        logged,
        "one JSON log line with the reason: {:?}",
        harness.logs.lines()
    );
}

#[tokio::test]
async fn an_event_that_does_not_decode_fails_the_invocation_span() {
    let (harness, span) = failing_invocation(r#"{"httpMethod": "POST", "path": "/"}"#, |_: Batch| async {
        Ok(aws_lambda_events::sqs::SqsBatchResponse::default())
    })
    .await;
    assert_failed(&harness, &span, "invalid_event", "missing field `Records`");
}

#[tokio::test]
async fn a_handler_error_fails_the_invocation_span() {
    let (harness, span) = failing_invocation(r#"{"Records": []}"#, |_: Batch| async {
        Err::<aws_lambda_events::sqs::SqsBatchResponse, lambda_runtime::Error>(
            "message 3 of the batch failed and has no messageId to report".into(),
        )
    })
    .await;
    assert_failed(&harness, &span, "handler_error", "has no messageId");
}

#[tokio::test]
async fn a_panic_fails_the_invocation_span_with_its_message_and_spans_still_arrive() {
    let (harness, span) = failing_invocation(r#"{"Records": []}"#, |_: Batch| async {
        tracing::info_span!("handler-work").in_scope(|| tracing::info!("working"));
        if std::hint::black_box(true) {
            panic!("the store handle is gone");
        }
        Ok(aws_lambda_events::sqs::SqsBatchResponse::default())
    })
    .await;
    assert_failed(&harness, &span, "panic", "the store handle is gone");
    assert_eq!(
        harness.spans.named("handler-work").len(),
        1,
        "the handler's own spans are exported too"
    );
}
