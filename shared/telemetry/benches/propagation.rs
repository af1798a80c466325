//! Trace context through SQS: injection into message attributes (the API, per send) and
//! extraction from a received message (the worker, per message), with the production
//! propagators. Targets: injection ≤ 2 µs; extraction is part of the ≤ 3 µs per-message
//! overhead measured in webhook-worker's `batch` benchmark. Then what the hops in front of the
//! queue add: injection into an SNS notification, extraction from an SNS envelope, and opening a
//! body (direct, SNS, EventBridge) against its floor, one JSON scan of the same body.
// criterion_group! generates a public function it cannot document.
#![allow(missing_docs)]
// A benchmark's fixed inputs are valid; a failure here is a broken benchmark.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::hint::black_box;

use aws_lambda_events::sqs::SqsMessage;
use criterion::{Criterion, criterion_group, criterion_main};
use opentelemetry::Context;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use test_support::sqs;
use test_telemetry::benchmark_telemetry;
use webhook_event::Envelope;

const XRAY: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

fn message(attributes: &[(&str, &str)], aws_trace_header: Option<&str>) -> SqsMessage {
    let message = attributes
        .iter()
        .fold(sqs::message("m-1", b"{}"), |message, (name, value)| {
            sqs::with_attribute(message, name, value)
        });
    match aws_trace_header {
        Some(header) => sqs::with_system_attribute(message, "AWSTraceHeader", header),
        None => message,
    }
}

fn propagation(c: &mut Criterion) {
    // The function module's adot-collector settings: tracecontext, baggage and xray.
    let (telemetry, _dispatch) = benchmark_telemetry(&[("OTEL_PROPAGATORS", "tracecontext,baggage,xray")]);
    let cx = Context::new().with_remote_span_context(SpanContext::new(
        TraceId::from(0x5759_e988_bd86_2e3f_e1be_46a9_9427_2793),
        SpanId::from(0x5399_5c3f_42cd_8ad8),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    ));
    let no_attributes = HashMap::new();

    let mut group = c.benchmark_group("sqs_context");
    group.bench_function("inject", |b| {
        b.iter(|| telemetry.inject_into_sqs(black_box(&cx), &no_attributes))
    });

    let injected = telemetry.inject_into_sqs(&cx, &no_attributes);
    let attributes: Vec<(String, String)> = injected
        .message_attributes
        .iter()
        .map(|(name, value)| (name.clone(), value.string_value().unwrap().to_owned()))
        .collect();
    let borrowed: Vec<(&str, &str)> = attributes.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let cases = [
        ("extract_message_attributes", message(&borrowed, Some(XRAY))),
        ("extract_aws_trace_header", message(&[], Some(XRAY))),
        ("extract_none", message(&[], None)),
    ];
    for (name, message) in &cases {
        group.bench_function(*name, |b| {
            b.iter(|| telemetry.extract_from_sqs(black_box(message), None))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("sns_context");
    group.bench_function("inject", |b| {
        b.iter(|| telemetry.inject_into_sns(black_box(&cx), &HashMap::new()))
    });
    let event = test_support::events::stripe("payment_intent.payment_failed");
    let enveloped = sqs::message("m-sns", &sqs::sns_notification("sns-1", &event, &borrowed));
    let body = enveloped.body.clone().unwrap_or_default();
    let envelope = Envelope::open(&body).unwrap();
    group.bench_function("extract_sns_message_attributes", |b| {
        b.iter(|| telemetry.extract_from_sqs(black_box(&enveloped), envelope.sns()))
    });
    group.finish();

    let mut group = c.benchmark_group("envelope");
    let direct = String::from_utf8(event.clone()).unwrap();
    let eventbridge = String::from_utf8(sqs::eventbridge_event("eb-1", &event)).unwrap();
    for (name, body) in [("direct", &direct), ("sns", &body), ("eventbridge", &eventbridge)] {
        group.bench_function(format!("scan_{name}"), |b| {
            b.iter(|| serde_json::from_str::<serde::de::IgnoredAny>(black_box(body)).unwrap())
        });
        group.bench_function(format!("open_{name}"), |b| {
            b.iter(|| Envelope::open(black_box(body)).unwrap().payload().len())
        });
    }
    group.finish();
}

criterion_group!(benches, propagation);
criterion_main!(benches);
