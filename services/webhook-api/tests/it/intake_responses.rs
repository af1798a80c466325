//! Every response the intake gives, driven through its public core with an in-memory queue:
//! the status, the error code, what was queued (nothing unless 202), and what was logged
//! (never the secret, never the signature).

// Integration tests: a failed expectation is a failed test, not a crash on input.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use serde_json::Value;
use stripe_signature::{SigningSecrets, sign};
use test_support::events;
use test_support::spans::SpanDataExt;
use test_telemetry::TestTelemetry;
use tracing::Instrument;
use webhook_api::config::Limits;
use webhook_api::error::ApiResponse;
use webhook_api::intake::{IncomingRequest, WebhookIntake};
use webhook_api::queue::MemoryQueue;

const SECRET: &str = "whsec_intake_test_secret";
const NOW: i64 = 1_732_000_000;

struct Fixture {
    queue: MemoryQueue,
    intake: WebhookIntake<MemoryQueue>,
    telemetry: TestTelemetry,
}

impl Fixture {
    fn new() -> Self {
        Self::with_queue(MemoryQueue::new())
    }

    fn with_queue(queue: MemoryQueue) -> Self {
        let limits = Limits {
            tolerance_secs: 300,
            max_body_bytes: 64 * 1024,
        };
        let intake = WebhookIntake::new(queue.clone(), SigningSecrets::parse(SECRET).unwrap(), limits);
        Fixture {
            queue,
            intake,
            telemetry: TestTelemetry::new(&[]),
        }
    }

    async fn send(&self, request: IncomingRequest<'_>) -> (u16, Value) {
        let span = tracing::info_span!("invocation", otel.kind = "server");
        let response: ApiResponse = self.intake.handle(request, NOW).instrument(span).await;
        let body = serde_json::from_str(&response.body).expect("every response body is JSON");
        (response.status, body)
    }

    fn queued(&self) -> usize {
        self.queue.sent().len()
    }
}

fn post<'a>(body: &'a [u8], signature: Option<&'a str>) -> IncomingRequest<'a> {
    IncomingRequest {
        method: "POST",
        path: "/webhooks/stripe",
        content_type: Some("application/json; charset=utf-8"),
        signature,
        body,
    }
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_valid_signed_event_is_queued_as_sent_and_answered_202() {
    let fixture = Fixture::new();
    let body = events::stripe("payment_intent.payment_failed");
    let signature = sign(SECRET, NOW, &body);
    let (status, response) = fixture.send(post(&body, Some(&signature))).await;
    assert_eq!(status, 202);
    assert_eq!(response["event_id"], "evt_3PpFailedPaymentIntent01");
    assert_eq!(response["message_id"], "memory-1");
    let sent = fixture.queue.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].1.as_bytes(),
        &body[..],
        "the original JSON, byte for byte"
    );

    let invocation = fixture.telemetry.spans.one_named("invocation");
    assert_eq!(
        invocation.attr_str("webhook.event_id").as_deref(),
        Some("evt_3PpFailedPaymentIntent01")
    );
    // Searchable in X-Ray by event id (`make trace`).
    assert!(
        invocation
            .attr_str("aws.xray.annotations")
            .is_some_and(|keys| keys.contains("webhook.event_id"))
    );
    assert_eq!(
        invocation.attr_str("webhook.type").as_deref(),
        Some("payment_intent.payment_failed")
    );
    assert!(!invocation.is_error());
}

#[tokio::test]
async fn each_refusal_has_its_status_and_code_and_queues_nothing() {
    let fixture = Fixture::new();
    let body = events::stripe("invoice.payment_failed");
    let good = sign(SECRET, NOW, &body);
    let stale = sign(SECRET, NOW - 301, &body);
    let wrong_secret = sign("whsec_someone_else", NOW, &body);
    let not_json = b"event=evt_1".to_vec();
    let not_json_signature = sign(SECRET, NOW, &not_json);
    let invalid = br#"{"id":"ch_1","type":"x.y","created":1,"livemode":false,"data":{"object":{}}}"#.to_vec();
    let invalid_signature = sign(SECRET, NOW, &invalid);
    let large = vec![b' '; 64 * 1024 + 1];
    let large_signature = sign(SECRET, NOW, &large);

    let cases: Vec<(&str, IncomingRequest<'_>, u16, &str)> = vec![
        ("no signature", post(&body, None), 401, "signature_missing"),
        (
            "garbled signature",
            post(&body, Some("v1=abc")),
            401,
            "signature_malformed",
        ),
        (
            "wrong secret",
            post(&body, Some(&wrong_secret)),
            401,
            "signature_mismatch",
        ),
        ("stale", post(&body, Some(&stale)), 401, "signature_stale"),
        (
            "not JSON",
            post(&not_json, Some(&not_json_signature)),
            400,
            "malformed_json",
        ),
        (
            "invalid event",
            post(&invalid, Some(&invalid_signature)),
            400,
            "invalid_event",
        ),
        (
            "too large",
            post(&large, Some(&large_signature)),
            413,
            "payload_too_large",
        ),
        (
            "form encoded",
            IncomingRequest {
                content_type: Some("application/x-www-form-urlencoded"),
                ..post(&body, Some(&good))
            },
            415,
            "unsupported_media_type",
        ),
        (
            "no content type",
            IncomingRequest {
                content_type: None,
                ..post(&body, Some(&good))
            },
            415,
            "unsupported_media_type",
        ),
        (
            "other path",
            IncomingRequest {
                path: "/webhooks/paypal",
                ..post(&body, Some(&good))
            },
            404,
            "not_found",
        ),
        (
            "GET",
            IncomingRequest {
                method: "GET",
                ..post(&body, Some(&good))
            },
            405,
            "method_not_allowed",
        ),
    ];
    for (case, request, expected_status, expected_code) in cases {
        let (status, response) = fixture.send(request).await;
        assert_eq!(
            (status, code(&response)),
            (expected_status, expected_code),
            "{case}"
        );
        assert!(
            response["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{case}"
        );
    }
    assert_eq!(fixture.queued(), 0, "a refused request queues nothing");
}

#[tokio::test]
async fn validation_messages_name_the_field() {
    let fixture = Fixture::new();
    let body = br#"{"id":"evt_1","type":"a.b","created":1,"livemode":false,"data":{}}"#;
    let signature = sign(SECRET, NOW, body);
    let (status, response) = fixture.send(post(body, Some(&signature))).await;
    assert_eq!(status, 400);
    let message = response["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("`data`") && message.contains("`object`"),
        "{message}"
    );
}

#[tokio::test]
async fn a_405_says_which_method_is_allowed() {
    let fixture = Fixture::new();
    let span = tracing::info_span!("invocation");
    let request = IncomingRequest {
        method: "PUT",
        ..post(b"{}", None)
    };
    let response = fixture.intake.handle(request, NOW).instrument(span).await;
    assert_eq!(response.status, 405);
    assert_eq!(response.headers, [("allow", "POST")]);
}

#[tokio::test]
async fn an_unavailable_queue_answers_503_so_the_sender_retries() {
    let fixture = Fixture::with_queue(MemoryQueue::unavailable());
    let body = events::stripe("customer.subscription.updated");
    let signature = sign(SECRET, NOW, &body);
    let (status, response) = fixture.send(post(&body, Some(&signature))).await;
    assert_eq!((status, code(&response)), (503, "queue_unavailable"));
    assert!(response.get("event_id").is_none(), "nothing acknowledged");
    let invocation = fixture.telemetry.spans.one_named("invocation");
    assert!(
        invocation.is_error(),
        "our failure is an error on the server span"
    );
    assert!(invocation.has_event("exception"));
}

#[tokio::test]
async fn client_mistakes_are_not_server_errors_on_the_span() {
    let fixture = Fixture::new();
    let body = events::stripe("invoice.payment_failed");
    fixture.send(post(&body, None)).await;
    let invocation = fixture.telemetry.spans.one_named("invocation");
    assert!(!invocation.is_error(), "a 401 is the sender's mistake");
    assert_eq!(
        invocation.attr_str("error.type").as_deref(),
        Some("signature_missing")
    );
}

#[tokio::test]
async fn neither_the_secret_nor_the_signature_reaches_logs_or_spans() {
    let fixture = Fixture::new();
    let body = events::stripe("invoice.payment_failed");
    let good = sign(SECRET, NOW, &body);
    let wrong = sign("whsec_someone_else", NOW, &body);
    for signature in [&good, &wrong] {
        fixture.send(post(&body, Some(signature))).await;
    }
    fixture
        .send(post(b"not json", Some(&sign(SECRET, NOW, b"not json"))))
        .await;
    let logs = serde_json::to_string(&fixture.telemetry.logs.lines()).unwrap();
    let spans = format!("{:?}", fixture.telemetry.spans.all());
    assert!(!logs.is_empty() && !spans.is_empty());
    for (haystack, what) in [(&logs, "logs"), (&spans, "spans")] {
        assert!(!haystack.contains(SECRET), "the secret leaked into {what}");
        for signature in [&good, &wrong] {
            let v1 = signature.split_once("v1=").map(|(_, v1)| v1).unwrap();
            assert!(!haystack.contains(v1), "a signature leaked into {what}");
        }
    }
}
