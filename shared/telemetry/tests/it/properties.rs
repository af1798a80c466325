//! Properties of the SQS carriers over arbitrary input: any message attributes (names, values,
//! types) extract without panicking; any valid context injected by the producer comes back out
//! of the message the consumer receives, through each carrier, an SNS envelope included; any
//! body opens without panicking, and an envelope gives back exactly the message it wraps.

// Property tests: a failed expectation is a failed test, not a crash on input.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use aws_lambda_events::sqs::{SqsMessage, SqsMessageAttribute};
use opentelemetry::Context;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use proptest::prelude::*;
use shared_telemetry::{Telemetry, UpstreamCarrier};
use test_support::sqs::{eventbridge_event, sns_notification};
use test_telemetry::benchmark_telemetry;
use webhook_event::Envelope;

/// Attribute names the propagators look for, in assorted spellings, and arbitrary others.
fn attribute_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("traceparent".to_owned()),
        Just("tracestate".to_owned()),
        Just("baggage".to_owned()),
        Just("X-Amzn-Trace-Id".to_owned()),
        Just("x-amzn-trace-id".to_owned()),
        Just("TRACEPARENT".to_owned()),
        "[A-Za-z0-9_.-]{1,20}",
    ]
}

/// Values shaped like trace headers, and arbitrary text.
fn attribute_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}",
        "[0-9a-fA-F-]{0,60}",
        "Root=1-[0-9a-f]{0,8}-[0-9a-f]{0,24};Parent=[0-9a-f]{0,16};Sampled=[0-9?]",
        "(Root|Parent|Sampled|Lineage|Self)=[^;]{0,30}(;[A-Za-z]+=[^;]{0,20}){0,4}",
        ".{0,80}",
    ]
}

fn message(attributes: &[(String, String, String)], aws_trace_header: Option<String>) -> SqsMessage {
    let mut message = SqsMessage::default();
    for (name, data_type, value) in attributes {
        let mut attribute = SqsMessageAttribute::default();
        attribute.data_type = Some(data_type.clone());
        attribute.string_value = Some(value.clone());
        message.message_attributes.insert(name.clone(), attribute);
    }
    if let Some(header) = aws_trace_header {
        message.attributes.insert("AWSTraceHeader".to_owned(), header);
    }
    message
}

fn telemetry(propagators: &str) -> Telemetry {
    benchmark_telemetry(&[("OTEL_PROPAGATORS", propagators)]).0
}

/// What the producer injects, as the consumer receives it.
fn received(telemetry: &Telemetry, cx: &Context, with_attributes: bool) -> SqsMessage {
    let outgoing = telemetry.inject_into_sqs(cx, &HashMap::new());
    let attributes: Vec<(String, String, String)> = if with_attributes {
        outgoing
            .message_attributes
            .iter()
            .map(|(name, value)| {
                (
                    name.clone(),
                    value.data_type().to_owned(),
                    value.string_value().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    let header = outgoing
        .aws_trace_header
        .and_then(|header| header.string_value().map(str::to_owned));
    message(&attributes, header)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_attributes_extract_without_panicking(
        attributes in proptest::collection::vec(
            (attribute_name(), prop_oneof![Just("String".to_owned()), Just("Number".to_owned()), ".{0,8}"], attribute_value()),
            0..12,
        ),
        aws_trace_header in proptest::option::of(attribute_value()),
    ) {
        let telemetry = telemetry("tracecontext,baggage,xray");
        let upstream = telemetry.extract_from_sqs(&message(&attributes, aws_trace_header), None);
        // Whatever was found is usable, or reported as absent.
        prop_assert_eq!(upstream.is_present(), upstream.span_context().is_valid());
        if !upstream.is_present() {
            prop_assert_eq!(upstream.carrier(), UpstreamCarrier::None);
        }
    }

    #[test]
    fn an_injected_context_is_extracted_unchanged(
        trace_id in 1_u128..,
        span_id in 1_u64..,
        sampled in any::<bool>(),
        propagators in prop_oneof![Just("tracecontext"), Just("xray"), Just("tracecontext,baggage,xray"), Just("xray,tracecontext")],
        through_attributes in any::<bool>(),
    ) {
        let telemetry = telemetry(propagators);
        let flags = if sampled { TraceFlags::SAMPLED } else { TraceFlags::default() };
        let sent = SpanContext::new(TraceId::from(trace_id), SpanId::from(span_id), flags, true, TraceState::default());
        let cx = Context::new().with_remote_span_context(sent.clone());

        let upstream = telemetry.extract_from_sqs(&received(&telemetry, &cx, through_attributes), None);

        let extracted = upstream.span_context();
        prop_assert_eq!(extracted.trace_id(), sent.trace_id());
        prop_assert_eq!(extracted.span_id(), sent.span_id());
        prop_assert_eq!(extracted.is_sampled(), sampled);
        let expected = if through_attributes { UpstreamCarrier::MessageAttributes } else { UpstreamCarrier::AwsTraceHeader };
        prop_assert_eq!(upstream.carrier(), expected);
    }

    #[test]
    fn arbitrary_bodies_open_without_panicking(
        body in prop_oneof![
            ".{0,200}",
            "\\{\"(Type|detail-type|detail|Message|source)\":(\"[A-Za-z]{0,12}\"|[0-9]{1,3}|\\{\\}|null)(,\"[A-Za-z-]{1,12}\":\"[^\"\\\\]{0,12}\"){0,4}\\}",
        ],
    ) {
        if let Ok(Envelope::Direct(payload)) = Envelope::open(&body) {
            prop_assert_eq!(payload, body.as_str());
        }
    }

    #[test]
    fn an_envelope_gives_back_the_message_it_wraps_and_its_context(
        message_text in ".{0,200}",
        trace_id in 1_u128..,
        span_id in 1_u64..,
    ) {
        let telemetry = telemetry("tracecontext,baggage,xray");
        let sent = SpanContext::new(TraceId::from(trace_id), SpanId::from(span_id), TraceFlags::SAMPLED, true, TraceState::default());
        let outgoing = telemetry.inject_into_sns(&Context::new().with_remote_span_context(sent.clone()), &HashMap::new());
        let attributes: Vec<(String, String)> = outgoing
            .message_attributes
            .iter()
            .map(|(name, value)| (name.clone(), value.string_value().unwrap_or_default().to_owned()))
            .collect();
        let borrowed: Vec<(&str, &str)> = attributes.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let body = String::from_utf8(sns_notification("sns-1", message_text.as_bytes(), &borrowed)).unwrap();

        let envelope = Envelope::open(&body).unwrap();
        prop_assert_eq!(envelope.payload(), message_text.as_str());
        let upstream = telemetry.extract_from_sqs(&message(&[], None), envelope.sns());
        prop_assert_eq!(upstream.carrier(), UpstreamCarrier::SnsMessageAttributes);
        prop_assert_eq!(upstream.span_context().trace_id(), sent.trace_id());
        prop_assert_eq!(upstream.span_context().span_id(), sent.span_id());
    }

    #[test]
    fn an_eventbridge_event_gives_back_its_detail(id in "[a-z0-9]{1,12}", amount in any::<i64>()) {
        let event = serde_json::json!({"id": format!("evt_{id}"), "type": "invoice.paid", "data": {"object": {"amount": amount}}});
        let body = String::from_utf8(eventbridge_event(&id, event.to_string().as_bytes())).unwrap();
        let envelope = Envelope::open(&body).unwrap();
        let detail: serde_json::Value = serde_json::from_str(envelope.payload()).unwrap();
        prop_assert_eq!(detail, event);
    }
}
