//! The X-Ray daemon transport, checked by decoding what was sent (header, `T1S`/`T1U`, base64,
//! protobuf) back into the spans that went in: sampled and unsampled, a batch too large for one
//! datagram, and the whole pipeline as `OTEL_AWS_APPLICATION_SIGNALS_ENABLED=true` selects it.

// Integration tests: a failed expectation is a failed test, not a crash on input.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::UdpSocket;
use std::time::{Duration, Instant, SystemTime};

use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::trace::v1::Span as ProtoSpan;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanExporter, SpanLinks};
use shared_telemetry::{TelemetryBuilder, TelemetryConfig};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use xray_udp_exporter::{
    self as xray_udp, AWS_LOCAL_OPERATION, AWS_LOCAL_SERVICE, AWS_SPAN_KIND, MAX_DATAGRAM_BYTES,
    XrayUdpExporter,
};

fn span(index: u64, sampled: bool, padding: usize) -> SpanData {
    let flags = if sampled {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    SpanData {
        span_context: SpanContext::new(
            TraceId::from(0x6d1f_0000_0000_0000_0000_0000_0000_0000 + u128::from(index)),
            SpanId::from(0x1000 + index),
            flags,
            false,
            TraceState::default(),
        ),
        parent_span_id: SpanId::from(0x10),
        parent_span_is_remote: true,
        span_kind: SpanKind::Consumer,
        name: Cow::Owned(format!("process-webhook-{index}")),
        start_time: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        end_time: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_001),
        attributes: vec![
            KeyValue::new("webhook.event_id", format!("evt_{index}")),
            KeyValue::new("padding", "x".repeat(padding)),
        ],
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: Status::Ok,
        instrumentation_scope: InstrumentationScope::builder("webhook-worker").build(),
    }
}

/// Decoded spans by span id, with whether they came as sampled.
type ReceivedSpans = HashMap<SpanId, (bool, ProtoSpan)>;

/// The decoded spans of every datagram, by span id, with whether they came as sampled.
fn decode_all(datagrams: &[Vec<u8>]) -> ReceivedSpans {
    let mut spans = HashMap::new();
    for datagram in datagrams {
        assert!(
            datagram.len() <= MAX_DATAGRAM_BYTES,
            "datagram of {} bytes",
            datagram.len()
        );
        let (sampled, request) = xray_udp::decode(datagram).expect("a well-formed datagram");
        for span in proto_spans(&request) {
            let id = SpanId::from_bytes(span.span_id.clone().try_into().unwrap());
            assert!(
                spans.insert(id, (sampled, span)).is_none(),
                "span {id} sent twice"
            );
        }
    }
    spans
}

fn proto_spans(request: &ExportTraceServiceRequest) -> Vec<ProtoSpan> {
    request
        .resource_spans
        .iter()
        .flat_map(|resource| &resource.scope_spans)
        .flat_map(|scope| scope.spans.clone())
        .collect()
}

fn string_attribute(span: &ProtoSpan, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.clone())
        .and_then(|value| match value {
            any_value::Value::StringValue(value) => Some(value),
            _ => None,
        })
}

fn assert_same_span(sent: &SpanData, received: &ProtoSpan) {
    assert_eq!(received.trace_id, sent.span_context.trace_id().to_bytes());
    assert_eq!(received.parent_span_id, sent.parent_span_id.to_bytes());
    assert_eq!(received.name, sent.name);
    for attribute in &sent.attributes {
        assert_eq!(
            string_attribute(received, attribute.key.as_str()).as_deref(),
            Some(&*attribute.value.as_str()),
            "{}",
            attribute.key
        );
    }
}

/// Datagrams arriving at `socket` until `count` spans are in, or the deadline passes.
fn receive_spans(socket: &UdpSocket, count: usize) -> (Vec<Vec<u8>>, ReceivedSpans) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut datagrams = Vec::new();
    let mut buffer = vec![0_u8; 65_536];
    loop {
        let spans = decode_all(&datagrams);
        if spans.len() >= count {
            return (datagrams, spans);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "only {} of {count} spans arrived", spans.len());
        socket.set_read_timeout(Some(left)).unwrap();
        if let Ok(length) = socket.recv(&mut buffer) {
            datagrams.push(buffer[..length].to_vec());
        }
    }
}

fn daemon() -> (UdpSocket, String) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let address = socket.local_addr().unwrap().to_string();
    (socket, address)
}

#[test]
fn sampled_and_unsampled_spans_arrive_apart_and_decode_to_what_was_sent() {
    let (daemon, address) = daemon();
    let mut exporter = XrayUdpExporter::new(&address, None).unwrap();
    exporter.set_resource(
        &Resource::builder_empty()
            .with_service_name("webhook-worker")
            .build(),
    );
    let batch = vec![span(1, true, 0), span(2, false, 0), span(3, true, 0)];

    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    runtime.block_on(exporter.export(batch.clone())).expect("sent");

    let (datagrams, received) = receive_spans(&daemon, 3);
    assert_eq!(
        datagrams.len(),
        2,
        "one datagram of sampled spans, one of unsampled"
    );
    let header = b"{\"format\":\"json\",\"version\":1}\n";
    let mut prefixes: Vec<&[u8]> = datagrams
        .iter()
        .map(|d| &d[header.len()..header.len() + 3])
        .collect();
    prefixes.sort();
    assert_eq!(prefixes, [&b"T1S"[..], &b"T1U"[..]]);
    for sent in &batch {
        let (sampled, span) = &received[&sent.span_context.span_id()];
        assert_eq!(*sampled, sent.span_context.is_sampled());
        assert_same_span(sent, span);
    }
    let (_, request) = xray_udp::decode(&datagrams[0]).unwrap();
    let resource = request.resource_spans[0].resource.as_ref().unwrap();
    assert!(
        resource.attributes.iter().any(|kv| kv.key == "service.name"),
        "the resource travels with the spans"
    );
}

#[test]
fn a_batch_too_large_for_one_datagram_is_split_and_loses_nothing() {
    let (_daemon, address) = daemon();
    let exporter = XrayUdpExporter::new(&address, None).unwrap();
    // 300 spans of ~1 KiB: about 5 datagrams' worth once base64-encoded.
    let batch: Vec<SpanData> = (0..300).map(|i| span(i, i % 7 != 0, 1_000)).collect();

    let datagrams = exporter.datagrams(batch.clone());

    assert!(datagrams.len() >= 5, "{} datagrams", datagrams.len());
    let received = decode_all(&datagrams);
    assert_eq!(received.len(), batch.len());
    for sent in &batch {
        let (sampled, span) = &received[&sent.span_context.span_id()];
        assert_eq!(*sampled, sent.span_context.is_sampled());
        assert_same_span(sent, span);
    }
    let fullest = datagrams.iter().map(Vec::len).max().unwrap();
    assert!(
        fullest > MAX_DATAGRAM_BYTES - 2_000,
        "datagrams are packed, fullest {fullest}"
    );
}

#[test]
fn a_span_larger_than_a_datagram_is_counted_not_sent_and_the_rest_still_go() {
    let (_daemon, address) = daemon();
    let exporter = XrayUdpExporter::new(&address, None).unwrap();
    let batch = vec![span(1, true, 10), span(2, true, 70_000), span(3, true, 10)];

    let received = decode_all(&exporter.datagrams(batch));

    let ids: HashSet<SpanId> = received.keys().copied().collect();
    assert_eq!(ids, HashSet::from([SpanId::from(0x1001), SpanId::from(0x1003)]));
    assert_eq!(
        exporter
            .counters()
            .oversized_spans_dropped
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[test]
fn an_unusable_daemon_address_is_a_clear_error() {
    let error = XrayUdpExporter::new("no-port", None).expect_err("invalid");
    assert_eq!(
        error.to_string(),
        "AWS_XRAY_DAEMON_ADDRESS=\"no-port\" is not a host:port"
    );
}

#[test]
fn application_signals_in_lambda_sends_every_span_to_the_daemon_with_its_attributes() {
    let (daemon, address) = daemon();
    let vars = [
        ("AWS_LAMBDA_FUNCTION_NAME", "webhooks-dev-webhook-api"),
        ("OTEL_SERVICE_NAME", "webhook-api"),
        ("OTEL_PROPAGATORS", "xray"),
        ("OTEL_AWS_APPLICATION_SIGNALS_ENABLED", "true"),
        ("AWS_XRAY_DAEMON_ADDRESS", address.as_str()),
    ];
    let config = TelemetryConfig::from_lookup("ignored", |name| {
        vars.iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| (*value).to_owned())
    })
    .unwrap();
    let (telemetry, dispatch) = TelemetryBuilder::new(config)
        .with_log_writer(tracing_subscriber::fmt::writer::BoxMakeWriter::new(std::io::sink))
        .build()
        .unwrap();

    let unsampled_parent = opentelemetry::Context::new().with_remote_span_context(SpanContext::new(
        TraceId::from(0x5759_e988_bd86_2e3f_e1be_46a9_9427_2793),
        SpanId::from(0x5399_5c3f_42cd_8ad8),
        TraceFlags::default(),
        true,
        TraceState::default(),
    ));
    tracing::dispatcher::with_default(&dispatch, || {
        let sampled = tracing::info_span!(
            "invocation",
            otel.name = "webhooks-dev-webhook-api",
            otel.kind = "server"
        );
        sampled.in_scope(|| {
            let _send = tracing::info_span!(
                "send",
                otel.kind = "producer",
                rpc.system = "aws-api",
                rpc.service = "SQS",
                rpc.method = "SendMessage",
            );
        });
        let unsampled = tracing::info_span!("invocation", otel.name = "unsampled", otel.kind = "server");
        let _ = unsampled.set_parent(unsampled_parent);
        unsampled.in_scope(|| tracing::info!("inside an unsampled trace"));
    });
    telemetry.shutdown();

    let (_, received) = receive_spans(&daemon, 3);
    let by_name: BTreeMap<String, (bool, ProtoSpan)> = received
        .into_values()
        .map(|(sampled, span)| (span.name.clone(), (sampled, span)))
        .collect();
    let (sampled, invocation) = &by_name["webhooks-dev-webhook-api"];
    assert!(sampled);
    assert_eq!(
        string_attribute(invocation, AWS_LOCAL_SERVICE).as_deref(),
        Some("webhook-api")
    );
    assert_eq!(
        string_attribute(invocation, AWS_LOCAL_OPERATION).as_deref(),
        Some("webhooks-dev-webhook-api/FunctionHandler")
    );
    assert_eq!(
        string_attribute(invocation, AWS_SPAN_KIND).as_deref(),
        Some("LOCAL_ROOT")
    );
    let (_, send) = &by_name["send"];
    assert_eq!(
        string_attribute(send, "aws.remote.service").as_deref(),
        Some("AWS::SQS")
    );
    let (sampled, unsampled) = &by_name["unsampled"];
    assert!(
        !sampled,
        "recorded for Application Signals but not sampled for X-Ray"
    );
    assert_eq!(
        string_attribute(unsampled, AWS_SPAN_KIND).as_deref(),
        Some("LOCAL_ROOT")
    );
    // X-Ray-compatible ids: the first 4 bytes of a new trace id are the epoch seconds.
    let epoch = u32::from_be_bytes(invocation.trace_id[..4].try_into().unwrap());
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        now.abs_diff(u64::from(epoch)) < 600,
        "trace id {:02x?}",
        invocation.trace_id
    );
}
