//! The real webhook-api binary under a local Lambda Runtime API: every event Lambda can deliver
//! gets an answer, an event that is not HTTP fails the invocation with one clear error, an
//! unavailable queue is a 503 whose log line names the cause, and a bad setting is an init error.

// Integration tests: a failed expectation is a failed test, not a crash on input.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use runtime_api_emulator::{Answer, FunctionProcess, Invocation, RuntimeApiEmulator};
use serde_json::Value;
use stripe_signature::sign;
use test_support::events::{self, GatewayEvent};

const SECRET: &str = "whsec_runtime_api_test_secret_0123456789";
const WAIT: Duration = Duration::from_secs(30);

fn log_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("webhook-api-{name}-{}.log", std::process::id()))
}

/// A port nothing listens on: the queue's endpoint refuses every connection.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start(name: &str, extra: &[(&str, &str)]) -> (RuntimeApiEmulator, FunctionProcess) {
    let api = RuntimeApiEmulator::start().await.unwrap();
    let port = closed_port();
    let queue_url = format!("http://127.0.0.1:{port}/123456789012/webhooks-local-events");
    let endpoint = format!("http://127.0.0.1:{port}");
    let mut env = vec![
        ("STRIPE_WEBHOOK_SECRET", SECRET),
        ("WEBHOOK_QUEUE_URL", queue_url.as_str()),
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("OTEL_TRACES_EXPORTER", "none"),
    ];
    env.extend_from_slice(extra);
    let binary = Path::new(env!("CARGO_BIN_EXE_webhook-api"));
    let process = FunctionProcess::start(&api, binary, "webhook-api", &env, &log_path(name)).unwrap();
    (api, process)
}

async fn answer(api: &mut RuntimeApiEmulator, request_id: &str) -> Answer {
    let record = tokio::time::timeout(WAIT, api.wait_for(|record| record.answer(request_id).is_some()))
        .await
        .unwrap_or_else(|_| panic!("no answer to {request_id}"));
    record.answer(request_id).cloned().unwrap()
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

#[tokio::test]
async fn an_event_that_is_not_http_fails_the_invocation_with_one_clear_error() {
    let (mut api, _process) = start("not-http", &[]).await;
    let sqs = r#"{"Records":[{"messageId":"m-1","body":"{}","eventSource":"aws:sqs"}]}"#;
    let eventbridge =
        r#"{"version":"0","id":"e-1","detail-type":"x","source":"aws.partner/stripe.com","detail":{}}"#;
    for (id, body) in [("sqs", sqs), ("eventbridge", eventbridge)] {
        api.invoke(Invocation::new(id, "webhook-api", body));
        match answer(&mut api, id).await {
            Answer::Error { body, .. } => {
                let error: Value = serde_json::from_slice(&body).unwrap();
                assert_eq!(error["errorType"], "Function.InvalidEvent", "{id}: {error}");
                let message = error["errorMessage"].as_str().unwrap_or_default();
                assert!(
                    message.contains("neither httpMethod nor requestContext.http"),
                    "{id}: {message}"
                );
            }
            other => panic!("{id}: expected an invocation error, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn malformed_envelopes_get_a_response_and_the_function_keeps_serving() {
    let (mut api, mut process) = start("envelopes", &[]).await;
    let body = events::stripe("payment_intent.payment_failed");
    let signed = |event: GatewayEvent| event.header("Stripe-Signature", Some(&sign(SECRET, now(), &body)));
    let cases = [
        (
            "rest-base64",
            signed(GatewayEvent::rest(&body)).base64(true).raw_body("%%%"),
            400,
            "malformed_envelope",
        ),
        (
            "http-base64",
            signed(GatewayEvent::http(&body)).base64(true).raw_body("%%%"),
            400,
            "malformed_envelope",
        ),
        (
            "rest-host",
            GatewayEvent::rest(&body)
                .header("Host", Some("bad host"))
                .header("Stripe-Signature", None),
            401,
            "signature_missing",
        ),
        (
            "http-host",
            GatewayEvent::http(&body)
                .header("host", Some("[::1"))
                .header("stripe-signature", None),
            401,
            "signature_missing",
        ),
    ];
    for (id, event, status, code) in cases {
        api.invoke(Invocation::new(id, "webhook-api", event.to_json()));
        let Answer::Response(response) = answer(&mut api, id).await else {
            panic!("{id}: expected a response");
        };
        let response: Value = serde_json::from_slice(&response).unwrap();
        assert_eq!(response["statusCode"], status, "{id}: {response}");
        let inner: Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
        assert_eq!(inner["error"]["code"], code, "{id}");
    }
    assert!(
        process.exited().is_none(),
        "the process serves on:\n{}",
        process.log()
    );
}

#[tokio::test]
async fn an_unavailable_queue_is_a_503_whose_log_line_names_the_cause() {
    let (mut api, process) = start("queue-down", &[("AWS_MAX_ATTEMPTS", "1")]).await;
    let body = events::stripe("payment_intent.payment_failed");
    let signature = sign(SECRET, now(), &body);
    let event = GatewayEvent::rest(&body).header("Stripe-Signature", Some(&signature));
    api.invoke(Invocation::new("down", "webhook-api", event.to_json()));
    let Answer::Response(response) = answer(&mut api, "down").await else {
        panic!("expected a response");
    };
    let response: Value = serde_json::from_slice(&response).unwrap();
    assert_eq!(response["statusCode"], 503);
    let log = process.log();
    let line: Value = log
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|line| line["level"] == "ERROR" && line["code"] == "queue_unavailable")
        .unwrap_or_else(|| panic!("no 503 log line:\n{log}"));
    assert_eq!(line["cause"], "unreachable", "{line}");
    let v1 = signature.split_once(",v1=").unwrap().1;
    assert!(
        !log.contains(SECRET) && !log.contains(v1),
        "no secret or signature in the log"
    );
}

#[tokio::test]
async fn an_invalid_setting_is_an_init_error_that_names_it() {
    let (mut api, mut process) = start("bad-setting", &[("WEBHOOK_MAX_BODY_BYTES", "0")]).await;
    let record = tokio::time::timeout(WAIT, api.wait_for(|record| record.init_error.is_some()))
        .await
        .expect("an init error is reported");
    let (error_type, body) = record.init_error.unwrap();
    assert_eq!(error_type, "Runtime.InvalidConfiguration");
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert!(
        body["errorMessage"]
            .as_str()
            .unwrap()
            .contains("WEBHOOK_MAX_BODY_BYTES=\"0\""),
        "{body}"
    );
    let exited = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(status) = process.exited() {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the process exits");
    assert!(!exited.success());
}
