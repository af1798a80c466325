//! Trace context carriers for SQS: what the producer injects into a message and how the
//! consumer finds it again, one message at a time, also when the message came through SNS or
//! EventBridge first (`webhook_event::Envelope` opens it).
//!
//! SQS attribute names are case-sensitive while propagators use lowercase keys, and other SDKs
//! send `X-Amzn-Trace-Id`: injection writes the canonical spelling, extraction ignores case.

use std::collections::HashMap;

use aws_lambda_events::sns::MessageAttribute as SnsMessageAttribute;
use aws_lambda_events::sqs::{SqsMessage, SqsMessageAttribute};
use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeValue};
use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{SpanContext, TraceContextExt};
use opentelemetry_aws::trace::xray_propagator::span_context_to_string;

use crate::xray_header;
use aws_lambda_events::sns::SnsMessage;

/// SQS accepts at most this many message attributes per message.
pub const MAX_MESSAGE_ATTRIBUTES: usize = 10;
/// The message system attribute Lambda and X-Ray use to link a message to its trace.
pub const AWS_TRACE_HEADER: &str = "AWSTraceHeader";
const XRAY_PROPAGATOR_KEY: &str = "x-amzn-trace-id";
const XRAY_ATTRIBUTE_NAME: &str = "X-Amzn-Trace-Id";

/// The trace context to attach to one outgoing message.
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingTraceContext {
    /// One String attribute per propagator key (`traceparent`, `X-Amzn-Trace-Id`, ...).
    pub message_attributes: HashMap<String, MessageAttributeValue>,
    /// The `AWSTraceHeader` system attribute (X-Ray format); it does not count against the
    /// 10-attribute limit.
    pub aws_trace_header: Option<MessageSystemAttributeValue>,
    /// Keys left out because the message would have exceeded the attribute limit.
    pub skipped: Vec<String>,
}

/// Injects `cx` with `propagator` for a message that already carries `existing_attributes`
/// business attributes. Never fails the send: keys that would exceed SQS's limit are skipped
/// (and logged), the `AWSTraceHeader` system attribute is always produced for a valid context.
pub(crate) fn inject_into_sqs(
    cx: &Context,
    propagator: &dyn TextMapPropagator,
    existing_attributes: &HashMap<String, MessageAttributeValue>,
) -> OutgoingTraceContext {
    let (message_attributes, skipped) = inject_attributes(cx, propagator, existing_attributes, |value| {
        MessageAttributeValue::builder()
            .data_type("String")
            .string_value(value)
            .build()
    });
    OutgoingTraceContext {
        message_attributes,
        aws_trace_header: xray_trace_header(cx).and_then(string_system_attribute),
        skipped,
    }
}

fn string_system_attribute(value: String) -> Option<MessageSystemAttributeValue> {
    MessageSystemAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .ok()
}

/// `cx` as an X-Ray trace header (`Root=...;Parent=...;Sampled=...`); none for an invalid context.
pub(crate) fn xray_trace_header(cx: &Context) -> Option<String> {
    span_context_to_string(cx.span().span_context())
}

/// `cx`'s propagator entries as String message attributes built with `build`, for a message
/// that already carries `existing` business attributes (SQS's or SNS's type), and the names left
/// out: all of them when they would take the message past [`MAX_MESSAGE_ATTRIBUTES`] (logged;
/// the X-Ray header still carries the trace), or one the SDK refused. Empty values are dropped:
/// SQS and SNS reject them, and an empty `tracestate` carries nothing anyway.
pub(crate) fn inject_attributes<T, E: std::fmt::Display>(
    cx: &Context,
    propagator: &dyn TextMapPropagator,
    existing: &HashMap<String, T>,
    build: impl Fn(String) -> Result<T, E>,
) -> (HashMap<String, T>, Vec<String>) {
    let mut carrier: HashMap<String, String> = HashMap::new();
    propagator.inject_context(cx, &mut carrier);
    let mut entries: Vec<(String, String)> = carrier
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(key, value)| (sqs_attribute_name(key), value))
        .collect();
    entries.sort();
    let new_keys = entries
        .iter()
        .filter(|(key, _)| !existing.contains_key(key))
        .count();
    if existing.len() + new_keys > MAX_MESSAGE_ATTRIBUTES {
        let skipped: Vec<String> = entries.into_iter().map(|(key, _)| key).collect();
        tracing::warn!(
            existing_attributes = existing.len(),
            skipped = ?skipped,
            "trace context left out of the message attributes: a message may have {MAX_MESSAGE_ATTRIBUTES}; \
             the X-Ray trace header still carries the trace"
        );
        return (HashMap::new(), skipped);
    }
    let mut attributes = HashMap::with_capacity(entries.len());
    let mut skipped = Vec::new();
    for (key, value) in entries {
        match build(value) {
            Ok(attribute) => {
                attributes.insert(key, attribute);
            }
            Err(error) => {
                tracing::warn!(%error, attribute = %key, "trace context attribute left out");
                skipped.push(key);
            }
        }
    }
    (attributes, skipped)
}

/// The message attribute name for a propagator key: X-Ray's canonical header spelling, others as
/// is.
pub(crate) fn sqs_attribute_name(key: String) -> String {
    if key.eq_ignore_ascii_case(XRAY_PROPAGATOR_KEY) {
        XRAY_ATTRIBUTE_NAME.to_owned()
    } else {
        key
    }
}

/// Which carrier of a message held its upstream trace context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamCarrier {
    /// SQS message attributes, read with the configured propagators (SNS raw message delivery
    /// carries the publisher's attributes through as these).
    MessageAttributes,
    /// The `MessageAttributes` of an SNS notification envelope in the body.
    SnsMessageAttributes,
    /// The `AWSTraceHeader` message system attribute.
    AwsTraceHeader,
    /// The `trace_context` map of a DynamoDB stream record's new image (the outbox item).
    StreamItem,
    /// Neither: a legacy producer, a manual send or a redrive without context.
    None,
}

impl UpstreamCarrier {
    /// The value of the `trace.upstream_carrier` span attribute.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MessageAttributes => "message_attributes",
            Self::SnsMessageAttributes => "sns_message_attributes",
            Self::AwsTraceHeader => "aws_trace_header",
            Self::StreamItem => "stream_item",
            Self::None => "none",
        }
    }
}

/// The producer's context found on one message.
#[derive(Debug, Clone)]
pub struct UpstreamContext {
    context: Context,
    carrier: UpstreamCarrier,
}

impl UpstreamContext {
    pub(crate) fn new(context: Context, carrier: UpstreamCarrier) -> Self {
        Self { context, carrier }
    }

    /// The extracted context (remote span context and baggage); empty when none was found.
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// Where the context was found.
    pub fn carrier(&self) -> UpstreamCarrier {
        self.carrier
    }

    /// The producer's span context; invalid when none was found.
    pub fn span_context(&self) -> SpanContext {
        self.context.span().span_context().clone()
    }

    /// A producer context was found, whatever its sampling decision.
    pub fn is_present(&self) -> bool {
        self.context.span().span_context().is_valid()
    }
}

/// Extracts one message's upstream context, in this order: the SQS message attributes
/// (through `propagator`), the message attributes of the SNS notification `envelope` the body
/// holds, the `AWSTraceHeader` system attribute (which SNS and EventBridge fill from the X-Ray
/// header of the publishing call), then nothing. Call it once per message, inside the loop.
pub fn extract_upstream_context(
    message: &SqsMessage,
    envelope: Option<&SnsMessage>,
    propagator: &dyn TextMapPropagator,
) -> UpstreamContext {
    // Extract onto an empty context: the current one holds the invocation span, which would
    // otherwise pass for an upstream context when the message carries none.
    let from_attributes =
        propagator.extract_with_context(&Context::new(), &StringAttributes(&message.message_attributes));
    if from_attributes.span().span_context().is_valid() {
        return UpstreamContext {
            context: from_attributes,
            carrier: UpstreamCarrier::MessageAttributes,
        };
    }
    // An envelope delivery has no SQS message attributes: its own carry the baggage, if any.
    let found = match envelope {
        Some(notification) => {
            let from_notification = propagator.extract_with_context(
                &Context::new(),
                &StringAttributes(&notification.message_attributes),
            );
            if from_notification.span().span_context().is_valid() {
                return UpstreamContext {
                    context: from_notification,
                    carrier: UpstreamCarrier::SnsMessageAttributes,
                };
            }
            from_notification
        }
        None => from_attributes,
    };
    let from_system_attribute = message
        .attributes
        .get(AWS_TRACE_HEADER)
        .and_then(|header| xray_header::span_context(header));
    match from_system_attribute {
        // Baggage found in the attributes still travels with the X-Ray parent.
        Some(span_context) => UpstreamContext {
            context: found.with_remote_span_context(span_context),
            carrier: UpstreamCarrier::AwsTraceHeader,
        },
        None => UpstreamContext {
            context: found,
            carrier: UpstreamCarrier::None,
        },
    }
}

/// Reads String message attributes by case-insensitive name: SQS's, or an SNS envelope's.
struct StringAttributes<'a, A>(&'a HashMap<String, A>);

impl<A: MessageAttribute> Extractor for StringAttributes<'_, A> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(name, attribute)| name.eq_ignore_ascii_case(key) && attribute.is_string())
            .and_then(|(_, attribute)| attribute.text())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

/// A message attribute as a carrier: whether it is a String, and its text.
trait MessageAttribute {
    fn is_string(&self) -> bool;
    fn text(&self) -> Option<&str>;
}

impl MessageAttribute for SqsMessageAttribute {
    fn is_string(&self) -> bool {
        self.data_type.as_deref().is_some_and(is_string_type)
    }

    fn text(&self) -> Option<&str> {
        self.string_value.as_deref()
    }
}

/// An SNS envelope's attribute, `{"Type": "String", "Value": ...}`.
impl MessageAttribute for SnsMessageAttribute {
    fn is_string(&self) -> bool {
        is_string_type(&self.data_type)
    }

    fn text(&self) -> Option<&str> {
        Some(&self.value)
    }
}

/// `String`, or a custom `String.<suffix>` type.
fn is_string_type(data_type: &str) -> bool {
    data_type == "String" || data_type.starts_with("String.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PropagatorKind;
    use crate::propagation::Propagators;
    use opentelemetry::trace::{SpanId, TraceFlags, TraceId, TraceState};

    const OTHER_SDK_XRAY: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:1|68fd508a:5";
    const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    fn default_propagators() -> Propagators {
        Propagators::new(&[
            PropagatorKind::TraceContext,
            PropagatorKind::Baggage,
            PropagatorKind::Xray,
        ])
    }

    fn remote(trace_id: u128, span_id: u64, sampled: bool) -> Context {
        let flags = if sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from(trace_id),
            SpanId::from(span_id),
            flags,
            true,
            TraceState::default(),
        ))
    }

    fn attribute(value: &str) -> SqsMessageAttribute {
        let mut attribute = SqsMessageAttribute::default();
        attribute.data_type = Some("String".to_owned());
        attribute.string_value = Some(value.to_owned());
        attribute
    }

    /// What Lambda delivers for a message sent with `outgoing`.
    fn delivered(outgoing: &OutgoingTraceContext) -> SqsMessage {
        let mut message = SqsMessage::default();
        for (name, value) in &outgoing.message_attributes {
            message
                .message_attributes
                .insert(name.clone(), attribute(value.string_value().unwrap_or_default()));
        }
        if let Some(header) = &outgoing.aws_trace_header {
            message.attributes.insert(
                AWS_TRACE_HEADER.to_owned(),
                header.string_value().unwrap_or_default().to_owned(),
            );
        }
        message
    }

    #[test]
    fn injection_writes_every_propagator_key_and_the_system_attribute() {
        let cx = remote(0x5759e988bd862e3fe1be46a994272793, 0x53995c3f42cd8ad8, true);
        let outgoing = inject_into_sqs(&cx, default_propagators().messages(), &HashMap::new());
        let mut names: Vec<&str> = outgoing.message_attributes.keys().map(String::as_str).collect();
        names.sort();
        assert_eq!(
            names,
            ["X-Amzn-Trace-Id", "traceparent"],
            "no empty tracestate or baggage"
        );
        let header = outgoing.aws_trace_header.as_ref().and_then(|h| h.string_value());
        assert_eq!(
            header,
            Some("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
        );
        assert_eq!(
            outgoing.message_attributes["traceparent"].string_value(),
            Some("00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01")
        );
        assert!(outgoing.skipped.is_empty());
    }

    #[test]
    fn injection_never_exceeds_ten_attributes_but_keeps_the_system_attribute() {
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
        let cx = remote(1, 2, true);
        let outgoing = inject_into_sqs(&cx, default_propagators().messages(), &business);
        assert!(outgoing.message_attributes.is_empty());
        assert_eq!(outgoing.skipped, ["X-Amzn-Trace-Id", "traceparent"]);
        assert!(outgoing.aws_trace_header.is_some());

        let eight: HashMap<_, _> = business.into_iter().take(8).collect();
        let outgoing = inject_into_sqs(&cx, default_propagators().messages(), &eight);
        assert_eq!(outgoing.message_attributes.len(), 2, "exactly ten fit");
    }

    #[test]
    fn an_invalid_context_injects_nothing() {
        let outgoing = inject_into_sqs(&Context::new(), default_propagators().messages(), &HashMap::new());
        assert!(outgoing.message_attributes.is_empty() && outgoing.aws_trace_header.is_none());
    }

    #[test]
    fn inject_then_extract_round_trips_through_each_carrier() {
        let cx = remote(0xabc, 0xdef, true);
        let propagators = default_propagators();
        let outgoing = inject_into_sqs(&cx, propagators.messages(), &HashMap::new());
        let message = delivered(&outgoing);
        let upstream = extract_upstream_context(&message, None, propagators.messages());
        assert_eq!(upstream.carrier(), UpstreamCarrier::MessageAttributes);
        assert_eq!(upstream.span_context().trace_id(), TraceId::from(0xabc));
        assert_eq!(upstream.span_context().span_id(), SpanId::from(0xdef));

        let mut system_only = message.clone();
        system_only.message_attributes.clear();
        let upstream = extract_upstream_context(&system_only, None, propagators.messages());
        assert_eq!(upstream.carrier(), UpstreamCarrier::AwsTraceHeader);
        assert_eq!(upstream.span_context().trace_id(), TraceId::from(0xabc));
        assert!(upstream.span_context().is_sampled());
    }

    #[test]
    fn message_attributes_take_precedence_over_the_system_attribute() {
        let mut message = SqsMessage::default();
        message
            .message_attributes
            .insert("traceparent".into(), attribute(TRACEPARENT));
        message
            .attributes
            .insert(AWS_TRACE_HEADER.into(), OTHER_SDK_XRAY.into());
        let upstream = extract_upstream_context(&message, None, default_propagators().messages());
        assert_eq!(upstream.carrier(), UpstreamCarrier::MessageAttributes);
        assert_eq!(
            upstream.span_context().trace_id().to_string(),
            "0af7651916cd43dd8448eb211c80319c"
        );
    }

    #[test]
    fn another_sdks_xray_header_round_trips_in_either_spelling() {
        for name in ["X-Amzn-Trace-Id", "x-amzn-trace-id"] {
            let mut message = SqsMessage::default();
            message
                .message_attributes
                .insert(name.into(), attribute(OTHER_SDK_XRAY));
            let propagators = default_propagators();
            let upstream = extract_upstream_context(&message, None, propagators.messages());
            assert_eq!(upstream.carrier(), UpstreamCarrier::MessageAttributes, "{name}");
            let span_context = upstream.span_context();
            assert_eq!(
                span_context.trace_id().to_string(),
                "5759e988bd862e3fe1be46a994272793"
            );
            assert_eq!(span_context.span_id().to_string(), "53995c3f42cd8ad8");
            assert!(span_context.is_sampled());

            // Re-injecting the same context gives back the header, extra fields included.
            let outgoing = inject_into_sqs(upstream.context(), propagators.messages(), &HashMap::new());
            assert_eq!(
                outgoing.message_attributes["X-Amzn-Trace-Id"].string_value(),
                Some(OTHER_SDK_XRAY)
            );
        }
    }

    #[test]
    fn no_context_means_carrier_none_even_inside_an_active_span() {
        let message = SqsMessage::default();
        // The current context holds a valid span, as it does inside the invocation span.
        let _guard = remote(7, 8, true).attach();
        let upstream = extract_upstream_context(&message, None, default_propagators().messages());
        assert_eq!(upstream.carrier(), UpstreamCarrier::None);
        assert!(!upstream.is_present());
    }

    #[test]
    fn unusable_carriers_fall_through_to_the_next() {
        let mut message = SqsMessage::default();
        message
            .message_attributes
            .insert("traceparent".into(), attribute("00-garbage"));
        let mut binary = SqsMessageAttribute::default();
        binary.data_type = Some("Binary".into());
        binary.string_value = Some(TRACEPARENT.into());
        message.message_attributes.insert("tracestate".into(), binary);
        message
            .attributes
            .insert(AWS_TRACE_HEADER.into(), "Root=1-zz;Parent=00".into());
        let upstream = extract_upstream_context(&message, None, default_propagators().messages());
        assert_eq!(upstream.carrier(), UpstreamCarrier::None);
    }

    /// An SQS message whose body is an SNS notification carrying `traceparent` in its
    /// `MessageAttributes`, as a subscription without raw message delivery receives it.
    fn enveloped(traceparent: &str) -> String {
        serde_json::json!({
            "Type": "Notification",
            "MessageId": "5f2c0b4e-0d8e-5d2a-9c51-0c4d6f1e2a3b",
            "TopicArn": "arn:aws:sns:eu-west-1:123456789012:webhooks-dev-events",
            "Message": "{}",
            "Timestamp": "2026-12-02T05:00:00.000Z",
            "SignatureVersion": "2",
            "Signature": "c2lnbmF0dXJl",
            "SigningCertURL": "https://sns.eu-west-1.amazonaws.com/cert.pem",
            "UnsubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe",
            "MessageAttributes": {
                "traceparent": {"Type": "String", "Value": traceparent},
                "tracestate": {"Type": "Binary", "Value": "AAEC"}
            }
        })
        .to_string()
    }

    #[test]
    fn an_sns_envelope_carries_the_context_when_the_sqs_attributes_do_not() {
        let body = enveloped(TRACEPARENT);
        let envelope: SnsMessage = serde_json::from_str(&body).expect("an SNS notification");
        let mut message = SqsMessage::default();
        message
            .attributes
            .insert(AWS_TRACE_HEADER.into(), OTHER_SDK_XRAY.into());
        let upstream = extract_upstream_context(&message, Some(&envelope), default_propagators().messages());
        assert_eq!(upstream.carrier(), UpstreamCarrier::SnsMessageAttributes);
        assert_eq!(upstream.carrier().as_str(), "sns_message_attributes");
        assert_eq!(
            upstream.span_context().trace_id().to_string(),
            "0af7651916cd43dd8448eb211c80319c"
        );

        // SQS message attributes come first (raw delivery puts the SNS attributes there).
        let raw = TRACEPARENT.replace(
            "0af7651916cd43dd8448eb211c80319c",
            "11111111111111111111111111111111",
        );
        message
            .message_attributes
            .insert("traceparent".into(), attribute(&raw));
        let upstream = extract_upstream_context(&message, Some(&envelope), default_propagators().messages());
        assert_eq!(upstream.carrier(), UpstreamCarrier::MessageAttributes);
    }

    #[test]
    fn an_envelope_without_context_falls_through_to_the_trace_header_then_none() {
        let body = enveloped("00-garbage");
        let envelope: SnsMessage = serde_json::from_str(&body).expect("an SNS notification");
        let mut message = SqsMessage::default();
        message
            .attributes
            .insert(AWS_TRACE_HEADER.into(), OTHER_SDK_XRAY.into());
        let upstream = extract_upstream_context(&message, Some(&envelope), default_propagators().messages());
        assert_eq!(upstream.carrier(), UpstreamCarrier::AwsTraceHeader);
        assert_eq!(
            upstream.span_context().trace_id().to_string(),
            "5759e988bd862e3fe1be46a994272793"
        );
        message.attributes.clear();
        let upstream = extract_upstream_context(&message, Some(&envelope), default_propagators().messages());
        assert_eq!(upstream.carrier(), UpstreamCarrier::None);
    }

    #[test]
    fn an_unsampled_upstream_is_present_with_its_decision() {
        let outgoing = inject_into_sqs(
            &remote(3, 4, false),
            default_propagators().messages(),
            &HashMap::new(),
        );
        let upstream =
            extract_upstream_context(&delivered(&outgoing), None, default_propagators().messages());
        assert!(upstream.is_present());
        assert!(!upstream.span_context().is_sampled());
    }
}
