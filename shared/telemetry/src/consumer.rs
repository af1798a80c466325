//! How a message's span relates to its producer and to the invocation that received it
//! (docs/architecture.md, "The trace contract"): parent mode keeps one trace from HTTP request to database write, link
//! mode follows the OTel messaging conventions. Either way nothing is lost: what is not a
//! parent becomes a link.

use opentelemetry::Context;
use opentelemetry::baggage::{BaggageExt, KeyValueMetadata};
use opentelemetry::trace::TraceContextExt;
use tracing_opentelemetry::{OpenTelemetrySpanExt, SetParentError};

use crate::attributes::{
    TRACE_HAS_UPSTREAM_CONTEXT, TRACE_MODE, TRACE_UPSTREAM_CARRIER, TRACE_UPSTREAM_SAMPLED,
};
use crate::config::TraceMode;
use crate::sqs::UpstreamContext;

/// Sets the parent and links of a freshly created message span and records where its context
/// came from. Call it right after creating `message_span`, before entering it or adding
/// attributes: a span's parent cannot change once it has started. The invocation span gets a
/// link to the producer too, so a batch's fan-in is visible from either side.
///
/// Parent mode: a present producer context is the parent, and its sampling decision holds: the
/// request API Gateway's rule left out stays out, end to end (its spans are record-only, which
/// Application Signals still counts, and its log lines say `sampled: false`). Without one the
/// span is a new root linked to the invocation. Link mode: the invocation is the parent and the
/// producer context a link.
pub fn attach_upstream(
    message_span: &tracing::Span,
    invocation_span: &tracing::Span,
    upstream: &UpstreamContext,
    mode: TraceMode,
) -> Result<(), SetParentError> {
    let invocation = invocation_span.context();
    let connected = match mode {
        TraceMode::Parent => upstream.is_present(),
        TraceMode::Link => upstream.is_present(),
    };
    match mode {
        TraceMode::Parent if connected => message_span.set_parent(upstream.context().clone())?,
        // Baggage that arrived without a usable span context still travels.
        TraceMode::Parent => message_span.set_parent(baggage_only(upstream.context()))?,
        TraceMode::Link => message_span.set_parent(invocation.clone())?,
    }
    if mode == TraceMode::Parent {
        message_span.add_link(invocation.span().span_context().clone());
    }
    if upstream.is_present() {
        if !(mode == TraceMode::Parent && connected) {
            message_span.add_link(upstream.span_context());
        }
        invocation_span.add_link(upstream.span_context());
        message_span.set_attribute(TRACE_UPSTREAM_SAMPLED, upstream.span_context().is_sampled());
    }
    message_span.set_attribute(TRACE_HAS_UPSTREAM_CONTEXT, connected);
    message_span.set_attribute(TRACE_UPSTREAM_CARRIER, upstream.carrier().as_str());
    message_span.set_attribute(TRACE_MODE, mode.as_str());
    Ok(())
}

/// A context with `cx`'s baggage and no span, so a span parented on it starts a new trace.
fn baggage_only(cx: &Context) -> Context {
    Context::new().with_baggage(
        cx.baggage().iter().map(|(key, (value, metadata))| {
            KeyValueMetadata::new(key.clone(), value.clone(), metadata.clone())
        }),
    )
}
