//! The batch loop over the in-memory store and mailer, asserted on exported spans and on the
//! partial batch response: each record in its own producer's trace, a root for a record without
//! a usable context, one email per notification under redelivery, the first failure as the
//! checkpoint, and the inputs a stream can deliver that are not notifications.

use std::time::{Duration, SystemTime};

use aws_lambda_events::dynamodb::EventRecord;
use opentelemetry::trace::SpanKind;
use opentelemetry_sdk::trace::SpanData;
use serde_json::{Value, json};
use test_support::spans::SpanDataExt;
use test_telemetry::TestTelemetry;
use tracing::Instrument;
use webhook_notifier::batch::{BatchOutcome, Notifier, NotifierSettings};
use webhook_notifier::mailer::memory::MemoryMailer;
use webhook_notifier::store::memory::MemoryNotifications;
use webhook_notifier::store::{Mark, NotificationStore};

const TRACE_A: &str = "aaaaaaaa000000000000000000000001";
const TRACE_B: &str = "bbbbbbbb000000000000000000000002";
const TRACE_C: &str = "cccccccc000000000000000000000003";
const STREAM_ARN: &str =
    "arn:aws:dynamodb:us-east-1:123456789012:table/webhooks-dev/stream/2026-12-04T00:00:00.000";

fn keys(event_id: &str) -> Value {
    json!({"pk": {"S": format!("NOTIFICATION#{event_id}")}, "sk": {"S": "NOTIFICATION"}})
}

/// The new image the worker writes, with `context` as its trace context map.
fn image(event_id: &str, context: Value) -> Value {
    let mut image = json!({
        "pk": {"S": format!("NOTIFICATION#{event_id}")}, "sk": {"S": "NOTIFICATION"},
        "status": {"S": "pending"}, "kind": {"S": "payment_failed"},
        "event_id": {"S": event_id}, "customer_id": {"S": format!("cus_{event_id}")},
        "email": {"S": format!("{event_id}@example.com")},
    });
    if !context.is_null() {
        image["trace_context"] = context;
    }
    image
}

fn record(event_name: &str, sequence: &str, keys: Value, new_image: Option<Value>) -> EventRecord {
    let mut change = json!({
        "ApproximateCreationDateTime": 1_796_000_000.0, "Keys": keys,
        "SequenceNumber": sequence, "SizeBytes": 120, "StreamViewType": "NEW_IMAGE",
    });
    if let Some(new_image) = new_image {
        change["NewImage"] = new_image;
    }
    serde_json::from_value(json!({
        "awsRegion": "us-east-1", "eventID": format!("rec-{sequence}"), "eventName": event_name,
        "eventSource": "aws:dynamodb", "eventVersion": "1.1", "eventSourceARN": STREAM_ARN,
        "dynamodb": change,
    }))
    .unwrap()
}

fn insert(sequence: &str, event_id: &str, context: Value) -> EventRecord {
    record("INSERT", sequence, keys(event_id), Some(image(event_id, context)))
}

fn traceparent(trace: &str, span: &str) -> Value {
    json!({"M": {"traceparent": {"S": format!("00-{trace}-{span}-01")}}})
}

fn xray(trace: &str, span: &str) -> Value {
    json!({"M": {"X-Amzn-Trace-Id": {"S": format!("Root=1-{}-{};Parent={span};Sampled=1", &trace[..8], &trace[8..])}}})
}

struct Fixture {
    notifier: Notifier<MemoryNotifications, MemoryMailer>,
    telemetry: TestTelemetry,
}

impl Fixture {
    fn new(store: MemoryNotifications, mailer: MemoryMailer) -> Self {
        let telemetry = TestTelemetry::new(&[]);
        let notifier = Notifier::new(
            store,
            mailer,
            telemetry.telemetry.clone(),
            NotifierSettings::default(),
        );
        Fixture { notifier, telemetry }
    }

    fn pending(event_ids: &[&str]) -> Self {
        let store = event_ids
            .iter()
            .fold(MemoryNotifications::new(), |store, id| store.with_pending(id));
        Self::new(store, MemoryMailer::new())
    }

    async fn run(&self, records: &[EventRecord]) -> BatchOutcome {
        self.run_until(records, SystemTime::now() + Duration::from_secs(60))
            .await
    }

    async fn run_until(&self, records: &[EventRecord], deadline: SystemTime) -> BatchOutcome {
        let span = tracing::info_span!("invocation", otel.kind = "consumer");
        self.notifier.run_batch(records, deadline).instrument(span).await
    }

    fn record_span(&self, sequence: &str) -> SpanData {
        let spans = self
            .telemetry
            .spans
            .with_attribute("aws.dynamodb.stream.sequence_number", sequence);
        assert_eq!(spans.len(), 1, "one span for record {sequence}");
        spans.into_iter().next().unwrap()
    }
}

fn checkpoint(outcome: BatchOutcome) -> Vec<String> {
    outcome
        .into_response()
        .unwrap()
        .batch_item_failures
        .into_iter()
        .filter_map(|failure| failure.item_identifier)
        .collect()
}

#[tokio::test]
async fn each_notification_of_a_batch_sits_in_its_own_producers_trace() {
    let fixture = Fixture::pending(&["evt_a", "evt_b", "evt_c"]);
    let batch = [
        insert("100", "evt_a", traceparent(TRACE_A, "a000000000000001")),
        insert("200", "evt_b", xray(TRACE_B, "b000000000000002")),
        insert("300", "evt_c", traceparent(TRACE_C, "c000000000000003")),
    ];
    let outcome = fixture.run(&batch).await;
    assert_eq!(outcome.sent(), 3);
    assert!(checkpoint(outcome).is_empty());

    let invocation = fixture.telemetry.spans.one_named("invocation");
    for (sequence, trace, parent) in [
        ("100", TRACE_A, "a000000000000001"),
        ("200", TRACE_B, "b000000000000002"),
        ("300", TRACE_C, "c000000000000003"),
    ] {
        let span = fixture.record_span(sequence);
        assert_eq!(span.name, "send-notification");
        assert_eq!(span.span_kind, SpanKind::Consumer);
        assert_eq!(
            span.span_context.trace_id().to_string(),
            trace,
            "record {sequence}"
        );
        assert_eq!(span.parent_span_id.to_string(), parent, "record {sequence}");
        assert_eq!(
            span.attr_str("trace.upstream_carrier").as_deref(),
            Some("stream_item")
        );
        assert_eq!(
            span.attr_str("webhook.notification.outcome").as_deref(),
            Some("sent")
        );
        assert_eq!(
            span.attr_str("messaging.destination.name").as_deref(),
            Some("webhooks-dev")
        );
        assert!(
            span.links_to(&invocation.span_context),
            "linked to the invocation"
        );
        let message_id = span.attr_str("webhook.notification.message_id").unwrap();
        assert!(message_id.starts_with("msg-"));
    }
    let event_ids: Vec<String> = fixture
        .telemetry
        .spans
        .named("send-notification")
        .iter()
        .filter_map(|span| span.attr_str("webhook.event_id"))
        .collect();
    assert_eq!(event_ids, ["evt_a", "evt_b", "evt_c"]);
    let sent = fixture.notifier.mailer().sent();
    let recipients: Vec<&str> = sent.iter().map(|email| email.to.as_str()).collect();
    assert_eq!(
        recipients,
        ["evt_a@example.com", "evt_b@example.com", "evt_c@example.com"]
    );
    for id in ["evt_a", "evt_b", "evt_c"] {
        assert!(
            matches!(fixture.notifier.store().item(id), Some((status, Some(Mark::Sent { .. }))) if status == "sent")
        );
    }
    // No address ever reaches a span.
    for span in fixture.telemetry.spans.all() {
        for attribute in &span.attributes {
            assert!(
                !attribute.value.as_str().contains("@example.com"),
                "{attribute:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_redelivered_record_sends_nothing_twice() {
    let fixture = Fixture::pending(&["evt_a"]);
    let record = insert("100", "evt_a", traceparent(TRACE_A, "a000000000000001"));
    fixture.run(std::slice::from_ref(&record)).await;
    let again = fixture.run(&[record]).await;
    assert!(checkpoint(again).is_empty());
    assert_eq!(fixture.notifier.mailer().sent().len(), 1, "one email");
    let spans = fixture.telemetry.spans.named("send-notification");
    let outcomes: Vec<String> = spans
        .iter()
        .filter_map(|span| span.attr_str("webhook.notification.outcome"))
        .collect();
    assert_eq!(outcomes, ["sent", "already_sent"]);
    assert!(
        spans
            .iter()
            .all(|span| span.span_context.trace_id().to_string() == TRACE_A)
    );
}

#[tokio::test]
async fn a_failed_send_is_an_error_span_and_the_checkpoint_for_the_rest() {
    let fixture = Fixture::new(
        MemoryNotifications::new()
            .with_pending("evt_a")
            .with_pending("evt_b")
            .with_pending("evt_c"),
        MemoryMailer::new().rejecting("evt_b@example.com"),
    );
    let batch = [
        insert("100", "evt_a", traceparent(TRACE_A, "a000000000000001")),
        insert("200", "evt_b", traceparent(TRACE_B, "b000000000000002")),
        insert("300", "evt_c", traceparent(TRACE_C, "c000000000000003")),
    ];
    let outcome = fixture.run(&batch).await;
    assert_eq!((outcome.sent(), outcome.failed()), (1, 2));
    assert_eq!(
        checkpoint(outcome),
        ["200"],
        "Lambda resumes from the failed record"
    );

    let failed = fixture.record_span("200");
    assert!(failed.is_error());
    assert_eq!(failed.attr_str("error.type").as_deref(), Some("ses_rejected"));
    assert!(failed.has_event("exception"));
    assert_eq!(
        failed.span_context.trace_id().to_string(),
        TRACE_B,
        "the failure in its producer's trace"
    );
    assert!(
        fixture
            .telemetry
            .spans
            .with_attribute("aws.dynamodb.stream.sequence_number", "300")
            .is_empty(),
        "the record after the checkpoint is not started"
    );
    assert_eq!(
        fixture
            .notifier
            .store()
            .item("evt_b")
            .map(|(status, _)| status)
            .as_deref(),
        Some("pending")
    );
    let warning = fixture
        .telemetry
        .logs
        .lines()
        .into_iter()
        .find(|line| line["outcome"] == "failed")
        .unwrap();
    assert_eq!(warning["error.type"], "ses_rejected");
    assert_eq!(warning["webhook.event_id"], "evt_b");
}

#[tokio::test]
async fn an_unavailable_table_fails_the_record_before_anything_is_sent() {
    let fixture = Fixture::new(
        MemoryNotifications::new().with_pending("evt_a").failing_next(1),
        MemoryMailer::new(),
    );
    let record = insert("100", "evt_a", traceparent(TRACE_A, "a000000000000001"));
    assert_eq!(
        checkpoint(fixture.run(std::slice::from_ref(&record)).await),
        ["100"]
    );
    assert!(fixture.notifier.mailer().sent().is_empty());
    assert_eq!(
        fixture.record_span("100").attr_str("error.type").as_deref(),
        Some("dynamodb_unavailable")
    );
    // The retry sends it.
    assert!(checkpoint(fixture.run(&[record]).await).is_empty());
    assert_eq!(fixture.notifier.mailer().sent().len(), 1);
}

#[tokio::test]
async fn a_record_without_a_usable_context_is_a_root_and_is_sent() {
    let fixture = Fixture::pending(&["evt_none", "evt_bad"]);
    let batch = [
        insert("100", "evt_none", Value::Null),
        insert(
            "200",
            "evt_bad",
            json!({"M": {"traceparent": {"S": "00-not-a-context-01"}}}),
        ),
    ];
    assert!(checkpoint(fixture.run(&batch).await).is_empty());
    for sequence in ["100", "200"] {
        let span = fixture.record_span(sequence);
        assert!(span.is_root(), "record {sequence}");
        assert_eq!(span.attr_bool("trace.has_upstream_context"), Some(false));
        assert_eq!(
            span.attr_str("webhook.notification.outcome").as_deref(),
            Some("sent")
        );
    }
    assert_eq!(fixture.notifier.mailer().sent().len(), 2);
}

#[tokio::test]
async fn what_a_stream_delivers_besides_pending_inserts_changes_nothing_and_never_panics() {
    let fixture = Fixture::pending(&["evt_a"]);
    let sent_image = {
        let mut image = image("evt_a", Value::Null);
        image["status"] = json!({"S": "sent"});
        image
    };
    let batch = [
        record("MODIFY", "100", keys("evt_a"), Some(sent_image)),
        record("REMOVE", "200", keys("evt_a"), None),
        record(
            "INSERT",
            "300",
            json!({"pk": {"S": "EVENT#evt_a"}, "sk": {"S": "EVENT"}}),
            Some(json!({"pk": {"S": "EVENT#evt_a"}, "outcome": {"S": "applied"}})),
        ),
    ];
    assert!(checkpoint(fixture.run(&batch).await).is_empty());
    for sequence in ["100", "200", "300"] {
        assert_eq!(
            fixture
                .record_span(sequence)
                .attr_str("webhook.notification.outcome")
                .as_deref(),
            Some("ignored")
        );
    }
    assert!(fixture.notifier.mailer().sent().is_empty());
    assert_eq!(
        fixture.notifier.store().status("evt_a").await.unwrap().as_deref(),
        Some("pending")
    );
}

#[tokio::test]
async fn an_unreadable_notification_fails_with_its_reason_and_is_retried() {
    let fixture = Fixture::pending(&["evt_a", "evt_b"]);
    let wrong_type = {
        let mut image = image("evt_b", Value::Null);
        image["customer_id"] = json!({"N": "42"});
        image
    };
    for (record, detail) in [
        (record("INSERT", "100", keys("evt_a"), None), "no NewImage"),
        (
            record("INSERT", "200", keys("evt_b"), Some(wrong_type)),
            "customer_id attribute is a number (N)",
        ),
    ] {
        let sequence = record.change.sequence_number.clone().unwrap();
        assert_eq!(
            checkpoint(fixture.run(&[record]).await),
            std::slice::from_ref(&sequence)
        );
        let span = fixture.record_span(&sequence);
        assert_eq!(
            span.attr_str("error.type").as_deref(),
            Some("malformed_notification_record")
        );
        assert!(format!("{:?}", span.status).contains(detail), "{:?}", span.status);
    }
    assert!(fixture.notifier.mailer().sent().is_empty());
}

#[tokio::test]
async fn no_record_starts_past_the_deadline() {
    let fixture = Fixture::pending(&["evt_a", "evt_b"]);
    let batch = [
        insert("100", "evt_a", traceparent(TRACE_A, "a000000000000001")),
        insert("200", "evt_b", traceparent(TRACE_B, "b000000000000002")),
    ];
    let outcome = fixture.run_until(&batch, SystemTime::now()).await;
    assert_eq!(checkpoint(outcome), ["100"]);
    assert!(
        fixture.telemetry.spans.named("send-notification").is_empty(),
        "never started"
    );
    assert!(fixture.notifier.mailer().sent().is_empty());
}

#[tokio::test]
async fn a_payment_failure_without_an_address_is_marked_unsendable_once() {
    let fixture = Fixture::pending(&["evt_a"]);
    let mut without_email = image("evt_a", traceparent(TRACE_A, "a000000000000001"));
    if let Some(image) = without_email.as_object_mut() {
        image.remove("email");
    }
    let record = record("INSERT", "100", keys("evt_a"), Some(without_email));
    assert!(checkpoint(fixture.run(std::slice::from_ref(&record)).await).is_empty());
    assert!(checkpoint(fixture.run(&[record]).await).is_empty());
    assert!(fixture.notifier.mailer().sent().is_empty());
    assert_eq!(
        fixture
            .notifier
            .store()
            .item("evt_a")
            .map(|(status, _)| status)
            .as_deref(),
        Some("unsendable")
    );
    let outcomes: Vec<String> = fixture
        .telemetry
        .spans
        .named("send-notification")
        .iter()
        .filter_map(|span| span.attr_str("webhook.notification.outcome"))
        .collect();
    assert_eq!(outcomes, ["unsendable", "already_sent"]);
}
