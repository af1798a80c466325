//! Trace context carriers for SNS: what a publisher puts on a notification so that every
//! subscription's copy carries it. The message attributes follow the SQS rules (String values,
//! the same keys, at most ten per message, since SNS hands them on to SQS as message
//! attributes under raw delivery); the X-Ray header goes on the `Publish` request itself, which
//! SNS passes on to its subscriptions (an SQS subscription's messages get it as
//! `AWSTraceHeader`) when the topic's tracing is `PassThrough` or `Active`.

use std::collections::HashMap;

use aws_sdk_sns::types::MessageAttributeValue;
use opentelemetry::Context;
use opentelemetry::propagation::TextMapPropagator;

use crate::sqs::{inject_attributes, xray_trace_header};

/// The HTTP header of the `Publish` request that SNS passes on as the trace header.
pub const XRAY_TRACE_HEADER: &str = "x-amzn-trace-id";

/// The trace context to attach to one notification.
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingNotificationTraceContext {
    /// One String attribute per propagator key (`traceparent`, `X-Amzn-Trace-Id`, ...).
    pub message_attributes: HashMap<String, MessageAttributeValue>,
    /// The `X-Amzn-Trace-Id` header for the `Publish` request (X-Ray format). The AWS SDK would
    /// otherwise send the Lambda segment's, which is not the `publish` span.
    pub xray_trace_header: Option<String>,
    /// Keys left out because the notification would have exceeded the attribute limit.
    pub skipped: Vec<String>,
}

/// Injects `cx` with `propagator` for a notification that already carries
/// `existing_attributes`. Never fails the publish: keys past the limit are skipped and logged;
/// the X-Ray header is produced for any valid context.
pub(crate) fn inject_into_sns(
    cx: &Context,
    propagator: &dyn TextMapPropagator,
    existing_attributes: &HashMap<String, MessageAttributeValue>,
) -> OutgoingNotificationTraceContext {
    let (message_attributes, skipped) = inject_attributes(cx, propagator, existing_attributes, |value| {
        MessageAttributeValue::builder()
            .data_type("String")
            .string_value(value)
            .build()
    });
    OutgoingNotificationTraceContext {
        message_attributes,
        xray_trace_header: xray_trace_header(cx),
        skipped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PropagatorKind;
    use crate::propagation::Propagators;
    use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};

    fn propagators() -> Propagators {
        Propagators::new(&[
            PropagatorKind::TraceContext,
            PropagatorKind::Baggage,
            PropagatorKind::Xray,
        ])
    }

    fn sampled(trace_id: u128, span_id: u64) -> Context {
        Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from(trace_id),
            SpanId::from(span_id),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        ))
    }

    #[test]
    fn a_notification_gets_the_same_attributes_as_a_message_and_the_request_header() {
        let cx = sampled(0x5759e988bd862e3fe1be46a994272793, 0x53995c3f42cd8ad8);
        let outgoing = inject_into_sns(&cx, propagators().messages(), &HashMap::new());
        let mut names: Vec<&str> = outgoing.message_attributes.keys().map(String::as_str).collect();
        names.sort();
        assert_eq!(names, ["X-Amzn-Trace-Id", "traceparent"]);
        assert_eq!(
            outgoing.message_attributes["traceparent"].string_value(),
            Some("00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01")
        );
        assert_eq!(outgoing.message_attributes["traceparent"].data_type(), "String");
        assert_eq!(
            outgoing.xray_trace_header.as_deref(),
            Some("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
        );
    }

    #[test]
    fn a_notification_never_exceeds_ten_attributes_but_keeps_the_header() {
        let business: HashMap<String, MessageAttributeValue> = (0..9)
            .map(|i| {
                let value = MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value("x")
                    .build()
                    .expect("valid attribute");
                (format!("business-{i}"), value)
            })
            .collect();
        let outgoing = inject_into_sns(&sampled(1, 2), propagators().messages(), &business);
        assert!(outgoing.message_attributes.is_empty());
        assert_eq!(outgoing.skipped, ["X-Amzn-Trace-Id", "traceparent"]);
        assert!(outgoing.xray_trace_header.is_some());
    }

    #[test]
    fn an_invalid_context_injects_nothing() {
        let outgoing = inject_into_sns(&Context::new(), propagators().messages(), &HashMap::new());
        assert!(outgoing.message_attributes.is_empty() && outgoing.xray_trace_header.is_none());
    }
}
