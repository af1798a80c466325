//! The real webhook-notifier binary under a local Lambda Runtime API: a missing setting is an
//! init error naming it, an event that is not a stream batch fails the invocation clearly, and
//! the stream records Lambda can deliver that are not pending notifications are answered
//! without a panic, the unreadable one named by its sequence number.

use std::path::Path;
use std::time::Duration;

use runtime_api_emulator::{Answer, FunctionProcess, Invocation, RuntimeApiEmulator};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

async fn start(name: &str, env: &[(&str, &str)]) -> (RuntimeApiEmulator, FunctionProcess) {
    let api = RuntimeApiEmulator::start().await.unwrap();
    let mut all = vec![
        ("WEBHOOK_TABLE_NAME", "webhooks-local-events"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "eu-west-1"),
        // Nothing listens there: a record that reaches AWS fails, and none below should.
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
        ("OTEL_TRACES_EXPORTER", "none"),
    ];
    all.extend_from_slice(env);
    let log = std::env::temp_dir().join(format!("webhook-notifier-{name}-{}.log", std::process::id()));
    let binary = Path::new(env!("CARGO_BIN_EXE_webhook-notifier"));
    let process = FunctionProcess::start(&api, binary, "webhook-notifier", &all, &log).unwrap();
    (api, process)
}

async fn answer(api: &mut RuntimeApiEmulator, id: &str) -> Answer {
    let record = tokio::time::timeout(WAIT, api.wait_for(|record| record.answer(id).is_some()))
        .await
        .expect("an answer");
    record.answer(id).cloned().unwrap()
}

#[tokio::test]
async fn a_missing_sender_is_an_init_error_that_names_it() {
    let (mut api, _process) = start("no-sender", &[]).await;
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
            .contains("NOTIFICATION_SENDER is not set"),
        "{body}"
    );
}

#[tokio::test]
async fn an_event_that_is_not_a_stream_batch_fails_the_invocation_clearly() {
    let (mut api, _process) = start("not-stream", &[("NOTIFICATION_SENDER", "billing@example.com")]).await;
    let gateway = r#"{"httpMethod":"POST","path":"/webhooks/stripe","requestContext":{},"body":"{}"}"#;
    api.invoke(Invocation::new("http", "webhook-notifier", gateway));
    let Answer::Error { body, .. } = answer(&mut api, "http").await else {
        panic!("expected an invocation error");
    };
    let error: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(error["errorType"], "Function.InvalidEvent");
    assert!(
        error["errorMessage"]
            .as_str()
            .unwrap()
            .contains("missing field `Records`"),
        "{error}"
    );
}

/// A stream record of the table, with `change` as its `dynamodb` part.
fn record(event_name: &str, sequence: &str, change: Value) -> Value {
    let mut change = change;
    change["SequenceNumber"] = json!(sequence);
    change["SizeBytes"] = json!(100);
    json!({
        "eventID": format!("rec-{sequence}"), "eventName": event_name, "eventVersion": "1.1",
        "eventSource": "aws:dynamodb", "awsRegion": "eu-west-1",
        "eventSourceARN": "arn:aws:dynamodb:eu-west-1:123456789012:table/webhooks-dev-events/stream/2026-12-04T00:00:00.000",
        "dynamodb": change,
    })
}

#[tokio::test]
async fn records_that_are_not_pending_notifications_never_panic_and_the_unreadable_one_is_the_checkpoint() {
    let (mut api, mut process) = start("hostile", &[("NOTIFICATION_SENDER", "billing@example.com")]).await;
    let keys = json!({"pk": {"S": "NOTIFICATION#evt_1"}, "sk": {"S": "NOTIFICATION"}});
    let sample: Value = serde_json::from_slice(
        &std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../events/lambda/webhook-notifier-stream-batch.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let mut sent = sample["Records"][0]["dynamodb"].clone();
    sent["NewImage"]["status"] = json!({"S": "sent"});
    let batch = json!({"Records": [
        record("REMOVE", "101", json!({"Keys": keys, "OldImage": {"pk": {"S": "NOTIFICATION#evt_1"}}})),
        record("MODIFY", "102", sent),
        record("INSERT", "103", json!({"Keys": {"pk": {"S": "EVENT#evt_1"}, "sk": {"S": "EVENT"}}, "NewImage": {"pk": {"S": "EVENT#evt_1"}}})),
        record("INSERT", "104", json!({"Keys": keys})),
        record("INSERT", "105", json!({"Keys": keys, "NewImage": {"pk": {"S": "NOTIFICATION#evt_1"}, "status": {"S": "pending"}}})),
    ]});
    api.invoke(Invocation::new("hostile", "webhook-notifier", batch.to_string()));
    let Answer::Response(body) = answer(&mut api, "hostile").await else {
        panic!("expected a batch response");
    };
    let response: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        response["batchItemFailures"],
        json!([{"itemIdentifier": "104"}]),
        "the record without a NewImage is the checkpoint"
    );

    // Wrong attribute types, a null image, nothing at all: answered, and the sandbox lives on.
    let wrong_types = json!({"Records": [record("INSERT", "201", json!({
        "Keys": keys,
        "NewImage": {"pk": {"S": "NOTIFICATION#evt_1"}, "status": {"S": "pending"}, "event_id": {"N": "1"}, "customer_id": {"BOOL": true}},
    }))]});
    api.invoke(Invocation::new(
        "types",
        "webhook-notifier",
        wrong_types.to_string(),
    ));
    let Answer::Response(body) = answer(&mut api, "types").await else {
        panic!("expected a batch response");
    };
    let response: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(response["batchItemFailures"], json!([{"itemIdentifier": "201"}]));
    for (id, event) in [
        (
            "null-image",
            json!({"Records": [record("INSERT", "301", json!({"Keys": keys, "NewImage": null}))]}),
        ),
        ("empty", json!({"Records": []})),
    ] {
        api.invoke(Invocation::new(id, "webhook-notifier", event.to_string()));
        assert!(matches!(answer(&mut api, id).await, Answer::Response(_)), "{id}");
    }
    assert!(process.exited().is_none(), "the sandbox is still running");
    let log = process.log();
    assert!(!log.contains("panicked"), "{log}");
    assert!(log.contains("malformed_notification_record"), "{log}");
}
