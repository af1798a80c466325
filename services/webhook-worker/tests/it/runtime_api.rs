//! The real webhook-worker binary under a local Lambda Runtime API: a bad setting is an init
//! error naming it, and an event that is not an SQS batch fails the invocation clearly.

// Integration tests: a failed expectation is a failed test, not a crash on input.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use runtime_api_emulator::{Answer, FunctionProcess, Invocation, RuntimeApiEmulator};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

async fn start(name: &str, extra: &[(&str, &str)]) -> (RuntimeApiEmulator, FunctionProcess) {
    let api = RuntimeApiEmulator::start().await.unwrap();
    let mut env = vec![
        ("WEBHOOK_TABLE_NAME", "webhooks-local-events"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
        ("OTEL_TRACES_EXPORTER", "none"),
    ];
    env.extend_from_slice(extra);
    let log = std::env::temp_dir().join(format!("webhook-worker-{name}-{}.log", std::process::id()));
    let binary = Path::new(env!("CARGO_BIN_EXE_webhook-worker"));
    let process = FunctionProcess::start(&api, binary, "webhook-worker", &env, &log).unwrap();
    (api, process)
}

#[tokio::test]
async fn an_invalid_setting_is_an_init_error_that_names_it() {
    let (mut api, _process) = start("bad-setting", &[("WEBHOOK_MAX_CONCURRENCY", "10000")]).await;
    let record = tokio::time::timeout(WAIT, api.wait_for(|record| record.init_error.is_some()))
        .await
        .expect("an init error is reported");
    let (error_type, body) = record.init_error.unwrap();
    assert_eq!(error_type, "Runtime.InvalidConfiguration");
    let body: Value = serde_json::from_slice(&body).unwrap();
    let message = body["errorMessage"].as_str().unwrap();
    assert!(message.contains("WEBHOOK_MAX_CONCURRENCY=\"10000\""), "{message}");
    assert!(record.next_requests.is_empty(), "no invocation is asked for");
}

#[tokio::test]
async fn an_event_that_is_not_an_sqs_batch_fails_the_invocation_clearly() {
    let (mut api, _process) = start("not-sqs", &[]).await;
    let gateway = r#"{"httpMethod":"POST","path":"/webhooks/stripe","requestContext":{},"body":"{}"}"#;
    api.invoke(Invocation::new("http", "webhook-worker", gateway));
    let record = tokio::time::timeout(WAIT, api.wait_for(|record| record.answer("http").is_some()))
        .await
        .expect("an answer");
    let Some(Answer::Error { body, .. }) = record.answer("http") else {
        panic!("expected an invocation error: {record:?}");
    };
    let error: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(error["errorType"], "Function.InvalidEvent");
    assert!(
        error["errorMessage"]
            .as_str()
            .unwrap()
            .contains("missing field `Records`"),
        "{error}"
    );
}

#[tokio::test]
async fn each_batch_publishes_its_failed_count_as_an_embedded_metric() {
    let (mut api, process) = start("metrics", &[("WEBHOOK_METRICS_NAMESPACE", "Webhooks/test")]).await;
    // The sample batch: an event (whose write fails here: no DynamoDB) and a poison message.
    let batch = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/lambda/webhook-worker-batch.json"),
    )
    .unwrap();
    api.invoke(Invocation::new("batch", "webhook-worker", batch));
    let record = tokio::time::timeout(WAIT, api.wait_for(|record| record.answer("batch").is_some()))
        .await
        .expect("an answer");
    let Some(Answer::Response(body)) = record.answer("batch") else {
        panic!("expected a batch response: {record:?}");
    };
    let response: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(response["batchItemFailures"].as_array().map(Vec::len), Some(2));
    let log = process.log();
    let metric: Value = log
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|line| line.get("_aws").is_some())
        .unwrap_or_else(|| panic!("no EMF line in:\n{log}"));
    assert_eq!(
        metric["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "Webhooks/test"
    );
    assert_eq!(metric["FunctionName"], "webhook-worker");
    assert_eq!(metric["FailedMessages"], 2);
    assert_eq!(metric["BatchSize"], 2);
}
