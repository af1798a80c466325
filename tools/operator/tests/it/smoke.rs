//! The smoke test against the emulator and the local pipeline: the signing secret's two states, the
//! real binary failing, naming the command that fixes it, when the secret has no value, passing
//! on a connected trace read through a trace retrieval (Transaction Search, as AWS serves it),
//! and failing, naming what is missing, when the worker's spans never arrive.

// Integration tests: a failed expectation is a failed test, not a crash on input.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Output;

use local_pipeline::stack::{LocalStack, StackOptions};
use moto_server::MotoServer;
use operator::smoke::{Masks, SecretState, signing_secret};

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

    let state = signing_secret(&client, &arn, Masks::Off).await.expect("readable");
    assert_eq!(state, SecretState::NoValueYet);

    client
        .put_secret_value()
        .secret_id(&arn)
        .secret_string("whsec_current,whsec_previous")
        .send()
        .await
        .unwrap();
    let state = signing_secret(&client, &arn, Masks::Off).await.expect("readable");
    assert_eq!(state, SecretState::Value("whsec_current".to_owned()));

    let missing = signing_secret(&client, "webhooks-local/no-such-secret", Masks::Off).await;
    assert!(
        missing.is_err(),
        "a secret that does not exist is an error, not a first deploy"
    );
}

/// Runs operator smoke against `stack` through its AWS endpoint, as against AWS.
fn smoke(stack: &LocalStack, trace_timeout_secs: u64) -> Output {
    smoke_with_secret(stack, &stack.provisioned.secret_arn, trace_timeout_secs)
}

fn smoke_with_secret(stack: &LocalStack, secret_arn: &str, trace_timeout_secs: u64) -> Output {
    smoke_command(stack, secret_arn, trace_timeout_secs)
        .output()
        .expect("operator smoke runs")
}

fn smoke_command(stack: &LocalStack, secret_arn: &str, trace_timeout_secs: u64) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_operator"));
    command
        .env_clear()
        .envs(stack.aws_env())
        .arg("smoke")
        .args(["--endpoint", &stack.webhook_url()])
        .args(["--secret-arn", secret_arn])
        .args(["--table", &stack.provisioned.table_name])
        .args([
            "--timeout-secs",
            "60",
            "--trace-timeout-secs",
            &trace_timeout_secs.to_string(),
        ]);
    command
}

#[tokio::test(flavor = "multi_thread")]
async fn the_smoke_test_passes_on_a_connected_trace_and_names_what_a_broken_one_lacks() {
    let stack = LocalStack::start(StackOptions::for_workspace(&workspace()))
        .await
        .expect("the local pipeline starts");
    // As in the pipeline's smoke job: the secret is masked before anything else is printed.
    let output = smoke_command(&stack, &stack.provisioned.secret_arn, 60)
        .env("GITHUB_ACTIONS", "true")
        .output()
        .expect("operator smoke runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("smoke test passed"), "{stdout}");
    let secret = &stack.provisioned.signing_secret;
    assert_eq!(
        stdout.lines().next(),
        Some(format!("::add-mask::{secret}").as_str()),
        "{stdout}"
    );
    assert_eq!(
        stdout
            .lines()
            .chain(stderr.lines())
            .filter(|line| line.contains(secret.as_str()))
            .count(),
        1,
        "only the mask command names the secret: {stdout}{stderr}"
    );
    // X-Ray names the message's span after the queue's service; its role is kept.
    assert!(
        stdout.contains("CONSUMER") && stdout.contains("webhook.outcome=ignored"),
        "{stdout}"
    );
    assert!(stdout.contains("DynamoDB.TransactWriteItems"), "{stdout}");
    assert!(
        stdout.contains("Transaction Search (StartTraceRetrieval, ListRetrievedTraces)"),
        "read as AWS serves it with Transaction Search: {stdout}"
    );

    // A secret without a value: nothing can be signed, so the run fails and says how to fix it.
    let secrets = aws_sdk_secretsmanager::Client::new(&stack.sdk);
    let empty = secrets
        .create_secret()
        .name("webhooks-local/no-value-yet")
        .send()
        .await
        .unwrap();
    let output = smoke_with_secret(&stack, empty.arn().unwrap(), 5);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("has no value yet")
            && stderr.contains(&format!(
                "aws secretsmanager put-secret-value --secret-id {}",
                empty.arn().unwrap()
            )),
        "{stderr}"
    );
    stack.shutdown().await;

    let mut options = StackOptions::for_workspace(&workspace());
    options.withhold_worker_spans = true;
    let stack = LocalStack::start(options)
        .await
        .expect("the local pipeline starts");
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
