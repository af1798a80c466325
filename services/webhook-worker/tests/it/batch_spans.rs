//! The batch loop over the in-memory store, asserted on exported spans and on the partial
//! batch response: each message in its own producer's trace, roots for messages without
//! context, errors where messages fail, FIFO group order, the deadline, bounded concurrency.

// Integration tests: a failed expectation is a failed test, not a crash on input.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::{Duration, SystemTime};

use aws_lambda_events::sqs::{SqsBatchResponse, SqsMessage};
use opentelemetry::trace::SpanKind;
use opentelemetry_sdk::trace::SpanData;
use serde_json::json;
use shared_telemetry::TraceMode;
use test_support::spans::SpanDataExt;
use test_support::sqs::{
    TOPIC_ARN, eventbridge_event, in_fifo_group, message, sns_notification, with_attribute,
    with_system_attribute,
};
use test_telemetry::TestTelemetry;
use tracing::Instrument;
use webhook_worker::batch::{BatchOutcome, Worker, WorkerSettings};
use webhook_worker::store::memory::MemoryStore;

const TRACE_A: &str = "aaaaaaaa000000000000000000000001";
const TRACE_B: &str = "bbbbbbbb000000000000000000000002";
const TRACE_C: &str = "cccccccc000000000000000000000003";
const TRACE_D: &str = "dddddddd000000000000000000000004";
const TRACE_E: &str = "eeeeeeee000000000000000000000005";
/// The Lambda segment's trace: what SNS would pass on if the publisher's header were not set.
const TRACE_LAMBDA: &str = "ffffffff000000000000000000000006";

fn xray(trace_id: &str, parent: &str) -> String {
    format!(
        "Root=1-{}-{};Parent={parent};Sampled=1",
        &trace_id[..8],
        &trace_id[8..]
    )
}

fn event(id: &str, event_type: &str, customer: &str, created: i64) -> Vec<u8> {
    let object = match event_type {
        "customer.subscription.updated" => json!({"id": "sub_1", "customer": customer, "status": "active"}),
        _ => json!({"id": "pi_1", "customer": customer}),
    };
    json!({"id": id, "type": event_type, "created": created, "livemode": false, "data": {"object": object}})
        .to_string()
        .into_bytes()
}

fn payment_failed(id: &str) -> Vec<u8> {
    event(id, "payment_intent.payment_failed", &format!("cus_{id}"), 100)
}

/// Three messages from three producers, one carrier each, and one without any context.
fn traced_batch() -> Vec<SqsMessage> {
    vec![
        with_attribute(
            message("m-a", &payment_failed("evt_a")),
            "traceparent",
            &format!("00-{TRACE_A}-a000000000000001-01"),
        ),
        with_attribute(
            message("m-b", &payment_failed("evt_b")),
            "X-Amzn-Trace-Id",
            &format!(
                "Root=1-{}-{};Parent=b000000000000002;Sampled=1",
                &TRACE_B[..8],
                &TRACE_B[8..]
            ),
        ),
        with_system_attribute(
            message("m-c", &payment_failed("evt_c")),
            "AWSTraceHeader",
            &format!(
                "Root=1-{}-{};Parent=c000000000000003;Sampled=1",
                &TRACE_C[..8],
                &TRACE_C[8..]
            ),
        ),
        message("m-legacy", &payment_failed("evt_legacy")),
    ]
}

struct Fixture {
    worker: Worker<MemoryStore>,
    telemetry: TestTelemetry,
}

impl Fixture {
    fn new(store: MemoryStore, settings: WorkerSettings) -> Self {
        let telemetry = TestTelemetry::new(&[]);
        let worker = Worker::new(store, telemetry.telemetry.clone(), settings);
        Fixture { worker, telemetry }
    }

    fn with_store(store: MemoryStore) -> Self {
        Self::new(store, WorkerSettings::default())
    }

    async fn run(&self, messages: &[SqsMessage]) -> BatchOutcome {
        self.run_until(messages, SystemTime::now() + Duration::from_secs(60))
            .await
    }

    async fn run_until(&self, messages: &[SqsMessage], deadline: SystemTime) -> BatchOutcome {
        let span = tracing::info_span!("invocation", otel.kind = "consumer");
        self.worker.run_batch(messages, deadline).instrument(span).await
    }

    fn message_span(&self, message_id: &str) -> SpanData {
        let spans = self.message_spans(message_id);
        assert_eq!(spans.len(), 1, "one span for message {message_id}");
        spans.into_iter().next().unwrap()
    }

    fn message_spans(&self, message_id: &str) -> Vec<SpanData> {
        self.telemetry
            .spans
            .with_attribute("messaging.message.id", message_id)
    }
}

fn failed_ids(response: &SqsBatchResponse) -> Vec<&str> {
    response
        .batch_item_failures
        .iter()
        .map(|failure| failure.item_identifier.as_str())
        .collect()
}

#[tokio::test]
async fn each_message_joins_its_own_producers_trace_in_parent_mode() {
    let fixture = Fixture::with_store(MemoryStore::new());
    let outcome = fixture.run(&traced_batch()).await;
    assert!(failed_ids(&outcome.into_response().unwrap()).is_empty());

    let invocation = fixture.telemetry.spans.one_named("invocation");
    assert_eq!(invocation.attr_i64("messaging.batch.message_count"), Some(4));
    for (id, trace_id, parent) in [
        ("m-a", TRACE_A, "a000000000000001"),
        ("m-b", TRACE_B, "b000000000000002"),
        ("m-c", TRACE_C, "c000000000000003"),
    ] {
        let span = fixture.message_span(id);
        assert_eq!(span.name, "process-webhook");
        assert_eq!(span.span_kind, SpanKind::Consumer);
        assert_eq!(
            span.span_context.trace_id().to_string(),
            trace_id,
            "{id} is in its producer's trace"
        );
        assert_eq!(span.parent_span_id.to_string(), parent, "{id}");
        assert!(
            span.links_to(&invocation.span_context),
            "{id} links to the invocation"
        );
        assert_eq!(span.attr_bool("trace.has_upstream_context"), Some(true));
        assert_eq!(span.attr_str("messaging.system").as_deref(), Some("aws_sqs"));
        assert_eq!(
            span.attr_str("messaging.destination.name").as_deref(),
            Some("webhooks")
        );
        assert_eq!(
            span.attr_str("webhook.type").as_deref(),
            Some("payment_intent.payment_failed")
        );
        assert_eq!(span.attr_str("webhook.outcome").as_deref(), Some("applied"));
        assert_eq!(span.attr_bool("webhook.duplicate"), Some(false));
    }
    assert_eq!(
        invocation.links.links.len(),
        3,
        "the invocation links every producer"
    );
    let traces: Vec<String> = invocation
        .link_contexts()
        .iter()
        .map(|link| link.trace_id().to_string())
        .collect();
    assert_eq!(traces, [TRACE_A, TRACE_B, TRACE_C]);
}

/// One message per hop and carrier, in the precedence order: SNS raw delivery (SQS message
/// attributes, ahead of the header SNS passed on), an SNS envelope (its MessageAttributes, ahead
/// of the header), a direct send (X-Ray attribute), EventBridge (the header only) and an
/// EventBridge partner event (nothing).
fn mixed_hops_batch() -> Vec<SqsMessage> {
    let raw_sns = with_system_attribute(
        with_attribute(
            message("m-raw-sns", &payment_failed("evt_raw_sns")),
            "traceparent",
            &format!("00-{TRACE_A}-a000000000000001-01"),
        ),
        "AWSTraceHeader",
        &xray(TRACE_LAMBDA, "f000000000000006"),
    );
    let enveloped = with_system_attribute(
        message(
            "m-sns",
            &sns_notification(
                "sns-msg-1",
                &payment_failed("evt_sns"),
                &[("traceparent", &format!("00-{TRACE_D}-d000000000000004-01"))],
            ),
        ),
        "AWSTraceHeader",
        &xray(TRACE_LAMBDA, "f000000000000006"),
    );
    let direct = with_attribute(
        message("m-sqs", &payment_failed("evt_sqs")),
        "X-Amzn-Trace-Id",
        &xray(TRACE_B, "b000000000000002"),
    );
    let eventbridge = with_system_attribute(
        message(
            "m-eventbridge",
            &eventbridge_event("eb-1", &payment_failed("evt_eventbridge")),
        ),
        "AWSTraceHeader",
        &xray(TRACE_E, "e000000000000005"),
    );
    let partner = message(
        "m-partner",
        &eventbridge_event("eb-2", &payment_failed("evt_partner")),
    );
    vec![raw_sns, enveloped, direct, eventbridge, partner]
}

#[tokio::test]
async fn a_mixed_batch_puts_each_message_in_its_own_producers_trace_whatever_the_hop() {
    let fixture = Fixture::with_store(MemoryStore::new());
    let outcome = fixture.run(&mixed_hops_batch()).await;
    assert!(failed_ids(&outcome.into_response().unwrap()).is_empty());

    for (id, trace_id, parent, carrier, envelope) in [
        (
            "m-raw-sns",
            TRACE_A,
            "a000000000000001",
            "message_attributes",
            "none",
        ),
        (
            "m-sns",
            TRACE_D,
            "d000000000000004",
            "sns_message_attributes",
            "sns",
        ),
        ("m-sqs", TRACE_B, "b000000000000002", "message_attributes", "none"),
        (
            "m-eventbridge",
            TRACE_E,
            "e000000000000005",
            "aws_trace_header",
            "eventbridge",
        ),
    ] {
        let span = fixture.message_span(id);
        assert_eq!(
            span.span_context.trace_id().to_string(),
            trace_id,
            "{id} is in its producer's trace"
        );
        assert_eq!(span.parent_span_id.to_string(), parent, "{id}");
        assert_eq!(
            span.attr_str("trace.upstream_carrier").as_deref(),
            Some(carrier),
            "{id}"
        );
        assert_eq!(
            span.attr_str("webhook.envelope").as_deref(),
            Some(envelope),
            "{id}"
        );
        assert_eq!(
            span.attr_str("webhook.outcome").as_deref(),
            Some("applied"),
            "{id}"
        );
    }
    let partner = fixture.message_span("m-partner");
    assert!(partner.is_root(), "nothing carried a context");
    assert_eq!(
        partner.attr_str("trace.upstream_carrier").as_deref(),
        Some("none")
    );
    assert_eq!(
        partner.attr_str("webhook.envelope").as_deref(),
        Some("eventbridge")
    );

    let enveloped = fixture.message_span("m-sns");
    assert_eq!(
        enveloped.attr_str("aws.sns.topic.arn").as_deref(),
        Some(TOPIC_ARN)
    );
    assert_eq!(
        enveloped.attr_str("messaging.message.conversation_id").as_deref(),
        Some("sns-msg-1")
    );
    assert_eq!(enveloped.attr_str("webhook.event_id").as_deref(), Some("evt_sns"));
    let records = fixture.worker.store().state().records;
    assert_eq!(records.len(), 5, "every payload was recorded");
    assert_eq!(records["evt_sns"].0.trace_id.as_deref(), Some(TRACE_D));
    assert_eq!(records["evt_eventbridge"].0.trace_id.as_deref(), Some(TRACE_E));
}

#[tokio::test]
async fn an_envelope_without_an_event_inside_is_poison() {
    let fixture = Fixture::with_store(MemoryStore::new());
    let batch = vec![
        message("m-sns-not-event", &sns_notification("sns-2", b"hello", &[])),
        message(
            "m-sns-broken",
            br#"{"Type":"Notification","Message":"{}","TopicArn":"arn:aws:sns:us-east-1:1:t"}"#,
        ),
        message(
            "m-eventbridge-not-event",
            &eventbridge_event("eb-3", br#"{"id":"x"}"#),
        ),
        message("m-ok", &payment_failed("evt_ok")),
    ];
    let response = fixture.run(&batch).await.into_response().unwrap();
    assert_eq!(
        failed_ids(&response),
        ["m-sns-not-event", "m-sns-broken", "m-eventbridge-not-event"]
    );
    for (id, error_type) in [
        ("m-sns-not-event", "malformed_json"),
        ("m-sns-broken", "malformed_sns_envelope"),
        ("m-eventbridge-not-event", "invalid_event"),
    ] {
        let span = fixture.message_span(id);
        assert!(span.is_error(), "{id}");
        assert_eq!(span.attr_str("error.type").as_deref(), Some(error_type), "{id}");
    }
    assert_eq!(fixture.worker.store().state().records.len(), 1);
}

#[tokio::test]
async fn a_message_without_context_is_a_root_and_still_processed() {
    let fixture = Fixture::with_store(MemoryStore::new());
    fixture.run(&traced_batch()).await;
    let legacy = fixture.message_span("m-legacy");
    assert!(legacy.is_root());
    assert_eq!(legacy.attr_bool("trace.has_upstream_context"), Some(false));
    assert_eq!(legacy.attr_str("trace.upstream_carrier").as_deref(), Some("none"));
    assert_eq!(legacy.attr_str("webhook.event_id").as_deref(), Some("evt_legacy"));
    assert!(
        legacy
            .attr_str("aws.xray.annotations")
            .is_some_and(|keys| keys.contains("webhook.event_id"))
    );
    let state = fixture.worker.store().state();
    assert!(state.records.contains_key("evt_legacy"));
    assert_eq!(state.records.len(), 4);
}

#[tokio::test]
async fn link_mode_parents_on_the_invocation_and_links_each_producer() {
    let settings = WorkerSettings {
        trace_mode: TraceMode::Link,
        ..WorkerSettings::default()
    };
    let fixture = Fixture::new(MemoryStore::new(), settings);
    fixture.run(&traced_batch()).await;
    let invocation = fixture.telemetry.spans.one_named("invocation");
    for (id, trace_id) in [("m-a", TRACE_A), ("m-b", TRACE_B), ("m-c", TRACE_C)] {
        let span = fixture.message_span(id);
        assert!(span.is_child_of(&invocation), "{id}");
        let links = span.link_contexts();
        assert_eq!(links.len(), 1, "{id}");
        assert_eq!(
            links[0].trace_id().to_string(),
            trace_id,
            "{id} links its own producer"
        );
    }
}

#[tokio::test]
async fn the_record_keeps_the_trace_that_processed_it() {
    let fixture = Fixture::with_store(MemoryStore::new());
    fixture.run(&traced_batch()).await;
    let records = fixture.worker.store().state().records;
    assert_eq!(records["evt_a"].0.trace_id.as_deref(), Some(TRACE_A));
    let legacy_trace = fixture
        .message_span("m-legacy")
        .span_context
        .trace_id()
        .to_string();
    assert_eq!(
        records["evt_legacy"].0.trace_id.as_deref(),
        Some(legacy_trace.as_str())
    );
}

#[tokio::test]
async fn a_failing_write_fails_only_its_message_and_shows_as_an_error() {
    let fixture = Fixture::with_store(MemoryStore::new().failing_for(&["evt_b"]));
    let response = fixture.run(&traced_batch()).await.into_response().unwrap();
    assert_eq!(failed_ids(&response), ["m-b"]);

    let failed = fixture.message_span("m-b");
    assert!(failed.is_error());
    assert!(failed.has_event("exception"));
    assert_eq!(
        failed.attr_str("error.type").as_deref(),
        Some("dynamodb_throttled")
    );
    for id in ["m-a", "m-c", "m-legacy"] {
        assert!(!fixture.message_span(id).is_error(), "{id}");
    }
    let state = fixture.worker.store().state();
    assert!(!state.records.contains_key("evt_b"));
    assert_eq!(state.records.len(), 3);
}

#[tokio::test]
async fn poison_messages_fail_alone_with_their_reason() {
    let fixture = Fixture::with_store(MemoryStore::new());
    let batch = vec![
        message("m-ok", &payment_failed("evt_ok")),
        message("m-not-json", b"{\"id\": \"evt_"),
        message(
            "m-invalid",
            br#"{"id":"nope","type":"a.b","created":1,"livemode":false,"data":{"object":{}}}"#,
        ),
        message("m-ok-2", &payment_failed("evt_ok_2")),
    ];
    let response = fixture.run(&batch).await.into_response().unwrap();
    assert_eq!(failed_ids(&response), ["m-not-json", "m-invalid"]);
    assert_eq!(
        fixture
            .message_span("m-not-json")
            .attr_str("error.type")
            .as_deref(),
        Some("malformed_json")
    );
    assert_eq!(
        fixture
            .message_span("m-invalid")
            .attr_str("error.type")
            .as_deref(),
        Some("invalid_event")
    );
    assert_eq!(fixture.worker.store().state().records.len(), 2);
}

#[tokio::test]
async fn a_redelivered_event_is_a_success_marked_duplicate_with_one_effect() {
    let fixture = Fixture::with_store(MemoryStore::new());
    let body = payment_failed("evt_twice");
    let first = fixture
        .run(&[message("m-1", &body)])
        .await
        .into_response()
        .unwrap();
    let second = fixture
        .run(&[message("m-2", &body), message("m-3", &body)])
        .await
        .into_response()
        .unwrap();
    assert!(failed_ids(&first).is_empty() && failed_ids(&second).is_empty());
    assert_eq!(
        fixture.message_span("m-1").attr_bool("webhook.duplicate"),
        Some(false)
    );
    for id in ["m-2", "m-3"] {
        let span = fixture.message_span(id);
        assert_eq!(span.attr_bool("webhook.duplicate"), Some(true), "{id}");
        assert_eq!(span.attr_str("webhook.outcome").as_deref(), Some("duplicate"));
    }
    let state = fixture.worker.store().state();
    assert_eq!(state.notifications.len(), 1, "one effect");
}

#[tokio::test]
async fn fifo_a_failure_holds_back_the_rest_of_its_group_only() {
    let fixture = Fixture::with_store(MemoryStore::new().failing_for(&["evt_a2"]));
    let batch = vec![
        in_fifo_group(message("a1", &payment_failed("evt_a1")), "group-a"),
        in_fifo_group(message("b1", &payment_failed("evt_b1")), "group-b"),
        in_fifo_group(message("a2", &payment_failed("evt_a2")), "group-a"),
        in_fifo_group(message("b2", &payment_failed("evt_b2")), "group-b"),
        in_fifo_group(message("a3", &payment_failed("evt_a3")), "group-a"),
    ];
    let response = fixture.run(&batch).await.into_response().unwrap();
    assert_eq!(failed_ids(&response), ["a2", "a3"]);
    // Held back, not started: counted on the invocation span, with no span of its own.
    assert!(fixture.message_spans("a3").is_empty());
    let invocation = fixture.telemetry.spans.one_named("invocation");
    assert_eq!(
        invocation.attr_i64("webhook.not_started.fifo_group_blocked"),
        Some(1)
    );
    assert_eq!(invocation.attr_i64("webhook.not_started.deadline"), Some(0));
    let records = fixture.worker.store().state().records;
    let mut stored: Vec<&str> = records.keys().map(String::as_str).collect();
    stored.sort();
    assert_eq!(stored, ["evt_a1", "evt_b1", "evt_b2"], "a3 was never started");
}

#[tokio::test]
async fn fifo_messages_are_processed_one_at_a_time_in_order() {
    let store = MemoryStore::new().with_latency(Duration::from_millis(5));
    let fixture = Fixture::with_store(store);
    let batch: Vec<SqsMessage> = (0..4)
        .map(|i| {
            in_fifo_group(
                message(&format!("m{i}"), &payment_failed(&format!("evt_{i}"))),
                "g",
            )
        })
        .collect();
    fixture.run(&batch).await;
    assert_eq!(fixture.worker.store().max_in_flight(), 1);
    let ends: Vec<SystemTime> = (0..4)
        .map(|i| fixture.message_span(&format!("m{i}")).end_time)
        .collect();
    assert!(ends.windows(2).all(|pair| pair[0] <= pair[1]), "in batch order");
}

#[tokio::test]
async fn a_standard_batch_runs_concurrently_within_the_bound() {
    let store = MemoryStore::new().with_latency(Duration::from_millis(20));
    let settings = WorkerSettings {
        max_concurrency: 3,
        ..WorkerSettings::default()
    };
    let fixture = Fixture::new(store, settings);
    let batch: Vec<SqsMessage> = (0..10)
        .map(|i| message(&format!("m{i}"), &payment_failed(&format!("evt_{i}"))))
        .collect();
    let outcome = fixture.run(&batch).await;
    assert_eq!(outcome.failed(), 0);
    assert_eq!(fixture.worker.store().max_in_flight(), 3);
}

#[tokio::test(start_paused = true)]
async fn messages_not_started_before_the_deadline_are_reported_failed() {
    // Paused tokio time: each write takes exactly 100 ms of virtual time, one at a time.
    let store = MemoryStore::new().with_latency(Duration::from_millis(100));
    let settings = WorkerSettings {
        max_concurrency: 1,
        deadline_margin: Duration::from_secs(1),
        ..WorkerSettings::default()
    };
    let fixture = Fixture::new(store, settings);
    let batch: Vec<SqsMessage> = (0..5)
        .map(|i| message(&format!("m{i}"), &payment_failed(&format!("evt_{i}"))))
        .collect();
    // Starts at 0, 100 and 200 ms fit before the cut-off at 250 ms; 300 and 400 ms do not.
    let deadline = SystemTime::now() + Duration::from_millis(1250);
    let response = fixture.run_until(&batch, deadline).await.into_response().unwrap();
    assert_eq!(failed_ids(&response), ["m3", "m4"]);
    assert_eq!(fixture.worker.store().state().records.len(), 3);
    // No span each: two counted on the invocation span, one event, one WARN line for the batch,
    // and one line each so every event's story has this stage.
    assert!(fixture.message_spans("m3").is_empty() && fixture.message_spans("m4").is_empty());
    let invocation = fixture.telemetry.spans.one_named("invocation");
    assert_eq!(invocation.attr_i64("webhook.not_started.deadline"), Some(2));
    assert!(
        invocation
            .events
            .iter()
            .any(|event| event.name == "messages not started")
    );
    let warnings: Vec<_> = fixture
        .telemetry
        .logs
        .lines()
        .into_iter()
        .filter(|line| line["level"] == "WARN")
        .collect();
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    let summary: Vec<_> = warnings
        .iter()
        .filter(|line| line.get("deadline_exceeded").is_some())
        .collect();
    assert_eq!(summary.len(), 1, "{warnings:?}");
    assert_eq!(summary[0]["deadline_exceeded"], 2);
    let mut per_message: Vec<(&str, &str, &str)> = warnings
        .iter()
        .filter(|line| line["outcome"] == "not_started")
        .map(|line| {
            (
                line["webhook.event_id"].as_str().unwrap_or_default(),
                line["reason"].as_str().unwrap_or_default(),
                line["messaging.message.id"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    per_message.sort();
    assert_eq!(
        per_message,
        [("evt_3", "deadline", "m3"), ("evt_4", "deadline", "m4")]
    );
    assert!(
        warnings
            .iter()
            .all(|line| line.get("trace_id").is_some() && line.get("sampled").is_some())
    );
}

#[tokio::test]
async fn a_deadline_already_gone_at_the_start_is_ignored_not_failing_everything() {
    let fixture = Fixture::with_store(MemoryStore::new());
    let batch = [message("m-1", &payment_failed("evt_1"))];
    // What cargo-lambda's emulator sends: 600000 ms after the epoch.
    let deadline = SystemTime::UNIX_EPOCH + Duration::from_millis(600_000);
    let outcome = fixture.run_until(&batch, deadline).await;
    assert_eq!(outcome.failed(), 0);
    let warned = fixture.telemetry.logs.lines().iter().any(|line| {
        line["level"] == "WARN"
            && line["message"]
                .as_str()
                .is_some_and(|m| m.contains("deadline had passed"))
    });
    assert!(warned);
}

#[tokio::test]
async fn a_failed_message_without_an_id_fails_the_whole_invocation() {
    let fixture = Fixture::with_store(MemoryStore::new());
    let mut anonymous = message("x", b"not json");
    anonymous.message_id = None;
    let outcome = fixture
        .run(&[message("m-ok", &payment_failed("evt_1")), anonymous])
        .await;
    let error = outcome
        .into_response()
        .expect_err("cannot be reported item by item");
    assert!(
        error.to_string().contains("whole batch is redelivered"),
        "{error}"
    );
}

#[tokio::test]
async fn out_of_order_status_changes_never_regress_the_subscription() {
    let fixture = Fixture::with_store(MemoryStore::new());
    let newer = event("evt_new", "customer.subscription.updated", "cus_1", 200);
    let older = event("evt_old", "payment_intent.payment_failed", "cus_1", 100);
    fixture.run(&[message("m-new", &newer)]).await;
    fixture.run(&[message("m-old", &older)]).await;
    let state = fixture.worker.store().state();
    assert_eq!(state.subscriptions["cus_1"].0, "active");
    assert_eq!(
        fixture
            .message_span("m-old")
            .attr_str("webhook.outcome")
            .as_deref(),
        Some("superseded")
    );
    assert!(state.notifications.is_empty(), "a stale failure notifies nobody");
}
