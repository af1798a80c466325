//! The smoke test against the emulator and the local stack: the signing secret's two states on
//! a first deploy, and the real binary passing on a connected trace and failing, naming what is
//! missing, when the worker's spans never arrive.

// Integration tests: a failed expectation is a failed test, not a crash on input.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Output;

use emulator::moto::MotoServer;
use local_stack::stack::{LocalStack, StackOptions};
use smoke_test::SecretState;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secret_without_a_value_is_reported_as_such_and_a_value_is_read() {
    let moto = MotoServer::start();
    let client = aws_sdk_secretsmanager::Client::new(&moto.sdk_config().await);
    let created = client
        .create_secret()
        .name("webhooks-local/stripe-webhook-secret")
        .send()
        .await
        .expect("created without a value, as Terraform does");
    let arn = created.arn().unwrap().to_owned();

    let state = smoke_test::signing_secret(&client, &arn).await.expect("readable");
    assert_eq!(state, SecretState::NoValueYet);

    client
        .put_secret_value()
        .secret_id(&arn)
        .secret_string("whsec_current,whsec_previous")
        .send()
        .await
        .unwrap();
    let state = smoke_test::signing_secret(&client, &arn).await.expect("readable");
    assert_eq!(state, SecretState::Value("whsec_current".to_owned()));

    let missing = smoke_test::signing_secret(&client, "webhooks-local/no-such-secret").await;
    assert!(
        missing.is_err(),
        "a secret that does not exist is an error, not a first deploy"
    );
}

/// Runs the smoke-test binary against `stack`, reading traces from its sink.
fn smoke(stack: &LocalStack, trace_timeout_secs: u64) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_smoke-test"))
        .envs(stack.aws_env())
        .args(["--endpoint", &stack.webhook_url()])
        .args(["--secret-arn", &stack.provisioned.secret_arn])
        .args(["--table", &stack.provisioned.table_name])
        .args(["--trace-source", &stack.trace_sink_url()])
        .args([
            "--timeout-secs",
            "60",
            "--trace-timeout-secs",
            &trace_timeout_secs.to_string(),
        ])
        .output()
        .expect("the smoke-test binary runs")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_smoke_test_passes_on_a_connected_trace_and_names_what_a_broken_one_lacks() {
    let stack = LocalStack::start(StackOptions::for_workspace(&workspace()))
        .await
        .expect("the local stack starts");
    let output = smoke(&stack, 60);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("smoke test passed"), "{stdout}");
    assert!(
        stdout.contains("process-webhook") && stdout.contains("DynamoDB.TransactWriteItems"),
        "{stdout}"
    );
    stack.shutdown().await;

    let mut options = StackOptions::for_workspace(&workspace());
    options.withhold_worker_spans = true;
    let stack = LocalStack::start(options).await.expect("the local stack starts");
    let output = smoke(&stack, 8);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(1),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stdout.contains("stored:"),
        "the event itself is processed: {stdout}"
    );
    assert!(
        stderr.contains("missing: webhook-worker's `process-webhook` CONSUMER span"),
        "{stderr}"
    );
    assert!(
        stderr.contains("missing: webhook-worker's DynamoDB CLIENT span"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("missing: webhook-api"),
        "the API's spans arrived: {stderr}"
    );
    stack.shutdown().await;
}
