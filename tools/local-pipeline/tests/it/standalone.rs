//! The README's "Run one function alone": the resources `local-pipeline emulator` provisions and
//! the variables it writes are enough for each real function binary to handle the committed
//! sample event (`events/lambda/`), as `cargo lambda invoke --data-file` sends it.

// Integration tests: a failed expectation is a failed test, not a crash on input.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use event_table::StoredEventRecord;
use local_pipeline::stack::StackOptions;
use local_pipeline::standalone::Resources;
use runtime_api_emulator::{Answer, FunctionProcess, Invocation, RuntimeApiEmulator};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(60);

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(local_pipeline::workspace_root().join("events/lambda").join(name)).expect("sample event")
}

/// Runs `function` (a binary built by `cargo build --bins`) with the env file's variables and
/// hands it `event`; its answer.
async fn invoke(options: &StackOptions, resources: &Resources, function: &str, event: Vec<u8>) -> Answer {
    let mut api = RuntimeApiEmulator::start().await.unwrap();
    let env = resources.function_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let binary = options.bin_dir.join(function);
    assert!(
        binary.exists(),
        "{} is missing: run `cargo build --bins`",
        binary.display()
    );
    let log = options.log_dir.join(format!("{function}.log"));
    let _process = FunctionProcess::start(&api, &binary, function, &env, &log).unwrap();
    api.invoke(Invocation::new("sample", function, event));
    let record = tokio::time::timeout(WAIT, api.wait_for(|record| record.answer("sample").is_some()))
        .await
        .unwrap_or_else(|_| panic!("{function} answered nothing; log: {}", log.display()));
    record.answer("sample").cloned().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_function_alone_handles_its_sample_event() {
    let options = StackOptions::for_workspace(&local_pipeline::workspace_root());
    let resources = Resources::start(&options).await.expect("moto with the resources");
    let sdk = resources.moto.sdk_config().await;

    // The API verifies the sample's signature with the env file's secret and queues it.
    let answer = invoke(
        &options,
        &resources,
        "webhook-api",
        sample("webhook-api-request.json"),
    )
    .await;
    let Answer::Response(body) = answer else {
        panic!("webhook-api failed the invocation: {answer:?}");
    };
    let response: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(response["statusCode"], 202, "{response}");
    let queued = aws_sdk_sqs::Client::new(&sdk)
        .get_queue_attributes()
        .queue_url(&resources.provisioned.queue_url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .unwrap();
    let depth = queued
        .attributes()
        .and_then(|map| map.get(&QueueAttributeName::ApproximateNumberOfMessages))
        .cloned();
    assert_eq!(depth.as_deref(), Some("1"), "the sample event is on the queue");

    // The worker stores the batch's event and reports only the poison message as failed.
    let batch = sample("webhook-worker-batch.json");
    let records: Value = serde_json::from_slice(&batch).unwrap();
    let poison_id = records["Records"][1]["messageId"].as_str().unwrap().to_owned();
    let event: Value = serde_json::from_str(records["Records"][0]["body"].as_str().unwrap()).unwrap();
    let answer = invoke(&options, &resources, "webhook-worker", batch).await;
    let Answer::Response(body) = answer else {
        panic!("webhook-worker failed the invocation: {answer:?}");
    };
    let response: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        response,
        serde_json::json!({"batchItemFailures": [{"itemIdentifier": poison_id}]})
    );
    let item = aws_sdk_dynamodb::Client::new(&sdk)
        .get_item()
        .table_name(&resources.provisioned.table_name)
        .set_key(Some(event_table::event_record_key(event["id"].as_str().unwrap())))
        .send()
        .await
        .unwrap()
        .item
        .expect("the event record");
    let record = StoredEventRecord::from_item(&item).expect("a readable record");
    assert_eq!(record.outcome, event_table::outcome::APPLIED);
}
