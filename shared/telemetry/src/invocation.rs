//! The span around each Lambda invocation, as a tower layer for `lambda_runtime::Runtime`.
//!
//! It continues the invocation's X-Ray context (so the trace starts at API Gateway), or for HTTP
//! without one the request's own `traceparent`; marks the cold start; and flushes spans after the
//! response is posted and before the runtime asks for the next event, when the sandbox freezes.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task;

use lambda_runtime::tower::{Layer, Service};
use lambda_runtime::{Context as LambdaContext, LambdaInvocation};
use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use serde_json::Value;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::attributes as attr;
use crate::pipeline::Telemetry;

type BoxError = lambda_runtime::Error;

/// What invokes the function; decides the span kind and `faas.trigger`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// API Gateway or a function URL: a SERVER span.
    Http,
    /// An SQS event source mapping: a CONSUMER span.
    PubSub,
    /// A DynamoDB stream's event source mapping: a CONSUMER span.
    Datasource,
}

impl Trigger {
    fn span_kind(self) -> &'static str {
        match self {
            Trigger::Http => "server",
            Trigger::PubSub | Trigger::Datasource => "consumer",
        }
    }

    fn faas_trigger(self) -> &'static str {
        match self {
            Trigger::Http => "http",
            Trigger::PubSub => "pubsub",
            Trigger::Datasource => "datasource",
        }
    }
}

/// Wraps every invocation in a span and flushes telemetry after it.
#[derive(Debug, Clone)]
pub struct InvocationLayer {
    telemetry: Telemetry,
    trigger: Trigger,
}

impl InvocationLayer {
    /// The layer for a function invoked by `trigger`, reporting to `telemetry`.
    pub fn new(telemetry: Telemetry, trigger: Trigger) -> Self {
        Self { telemetry, trigger }
    }
}

impl<S> Layer<S> for InvocationLayer {
    type Service = InvocationService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        InvocationService {
            inner,
            telemetry: self.telemetry.clone(),
            trigger: self.trigger,
            coldstart: Arc::new(AtomicBool::new(true)),
        }
    }
}

/// The service [`InvocationLayer`] produces.
#[derive(Debug, Clone)]
pub struct InvocationService<S> {
    inner: S,
    telemetry: Telemetry,
    trigger: Trigger,
    coldstart: Arc<AtomicBool>,
}

impl<S> Service<LambdaInvocation> for InvocationService<S>
where
    S: Service<LambdaInvocation, Response = (), Error = BoxError>,
    S::Future: Send + 'static,
{
    type Response = ();
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut task::Context<'_>) -> task::Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, invocation: LambdaInvocation) -> Self::Future {
        let coldstart = self.coldstart.swap(false, Ordering::Relaxed);
        let span = invocation_span(&invocation, self.trigger, coldstart, &self.telemetry);
        // Enter while calling so spans the handler creates synchronously get this parent too.
        let future = {
            let _entered = span.enter();
            self.inner.call(invocation)
        };
        let telemetry = self.telemetry.clone();
        Box::pin(async move {
            // The span ends when `instrument` is dropped, before the flush exports it.
            let result = future.instrument(span).await;
            telemetry.flush().await;
            result
        })
    }
}

fn invocation_span(
    invocation: &LambdaInvocation,
    trigger: Trigger,
    coldstart: bool,
    telemetry: &Telemetry,
) -> tracing::Span {
    let context = &invocation.context;
    let function_name = match context.env_config.function_name.as_str() {
        "" => "invocation",
        name => name,
    };
    let span = tracing::info_span!(
        "invocation",
        otel.name = function_name,
        otel.kind = trigger.span_kind(),
        { attr::FAAS_TRIGGER } = trigger.faas_trigger(),
        { attr::FAAS_INVOCATION_ID } = %context.request_id,
        { attr::FAAS_COLDSTART } = coldstart,
        { attr::CLOUD_RESOURCE_ID } = %context.invoked_function_arn,
    );
    if let Some(parent) = upstream_context(
        context,
        trigger,
        &invocation.body,
        telemetry.invocation_propagator(),
    ) {
        // The span was created just above and not yet entered, so this cannot fail.
        let _ = span.set_parent(parent);
    }
    span
}

/// The invocation's parent: Lambda's X-Ray context, else (for HTTP) the request's headers.
fn upstream_context(
    context: &LambdaContext,
    trigger: Trigger,
    body: &[u8],
    propagator: &dyn TextMapPropagator,
) -> Option<Context> {
    let xray = context
        .xray_trace_id
        .as_deref()
        .and_then(crate::xray_header::span_context);
    if let Some(span_context) = xray {
        return Some(Context::new().with_remote_span_context(span_context));
    }
    if trigger != Trigger::Http {
        return None;
    }
    let headers = request_headers(body)?;
    let cx = propagator.extract_with_context(&Context::new(), &HeaderCarrier(&headers));
    cx.span().span_context().is_valid().then_some(cx)
}

/// The `headers` object of an API Gateway (REST or HTTP API) or function URL event.
fn request_headers(body: &[u8]) -> Option<serde_json::Map<String, Value>> {
    #[derive(serde::Deserialize)]
    struct HttpEvent {
        headers: Option<serde_json::Map<String, Value>>,
    }
    serde_json::from_slice::<HttpEvent>(body).ok()?.headers
}

/// HTTP header names are case-insensitive; REST API events keep the client's spelling.
struct HeaderCarrier<'a>(&'a serde_json::Map<String, Value>);

impl Extractor for HeaderCarrier<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(key))
            .and_then(|(_, value)| value.as_str())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}
