//! The redrive scenario, end to end on the local pipeline: DynamoDB is down long enough that a
//! webhook's message dead-letters; after recovery the redrive brings it back, and it is stored
//! exactly once, in its original trace.

// Integration tests: a failed expectation is a failed test, not a crash on input.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use local_pipeline::fault_proxy::{AwsService, Fault, FaultRule};
use local_pipeline::probe::{
    StackView, dlq_depth, event_record, notification_count, post_payment_failure, queue_depth, wait_for,
};
use local_pipeline::stack::{LocalStack, StackOptions};
use operator::environment::{Environment, Location};
use operator::redrive::{Mover, Pace, redrive};
use operator::story::{Verdict, gather};
use trace_reader::source::TraceSource;
use trace_reader::span::{SpanKind, SpanStatus};

const EVENT: &str = "evt_redriveAfterOutage";
const CUSTOMER: &str = "cus_redriveAfterOutage";

/// The stack as the operator sees it: its AWS endpoint, as in AWS.
async fn environment(stack: &LocalStack) -> Environment {
    let sdk = stack.aws_sdk().await;
    Environment {
        location: Location::Local,
        traces: TraceSource::new(&sdk),
        sdk,
        region: moto_server::REGION.to_owned(),
        table: stack.provisioned.table_name.clone(),
        queue_url: stack.provisioned.queue_url.clone(),
        dlq_url: stack.provisioned.dlq_url.clone(),
        log_groups: stack.function_log_groups(),
        notifier_failures_url: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_dead_lettered_by_an_outage_is_redriven_and_stored_once_in_its_trace() {
    let mut options = StackOptions::for_workspace(&local_pipeline::workspace_root());
    options.fault_proxy = true;
    let mut stack = LocalStack::start(options)
        .await
        .expect("the local pipeline starts");
    stack
        .faults()
        .unwrap()
        .add(FaultRule::always(AwsService::DynamoDb, Fault::Unavailable));

    let sent = post_payment_failure(&stack, EVENT, CUSTOMER).await.unwrap();
    assert_eq!(sent.status, 202, "{sent:?}");
    wait_for(&mut stack, "the message to be dead-lettered", |view| async move {
        dlq_depth(&view).await == 1 && queue_depth(&view).await == 0
    })
    .await
    .unwrap();
    let environment = environment(&stack).await;
    let before = gather(&environment, EVENT, std::time::UNIX_EPOCH).await.unwrap();
    assert_eq!(before.verdict(), Verdict::DeadLettered);

    // DynamoDB is back; the redrive moves the message, with its trace context, to the queue.
    stack.faults().unwrap().clear();
    let moved = redrive(&environment, Mover::Emulated, Pace::default(), |_| {})
        .await
        .unwrap();
    assert_eq!(moved, 1);
    wait_for(&mut stack, "the redriven event to be stored", |view| async move {
        event_record(&view, EVENT).await.is_some()
    })
    .await
    .unwrap();

    let view = StackView::of(&stack);
    assert_eq!(dlq_depth(&view).await, 0);
    assert_eq!(notification_count(&view, CUSTOMER).await, 1, "one effect");
    let record = event_record(&view, EVENT).await.unwrap();
    let spans = stack.spans();
    let send = spans
        .iter()
        .find(|span| span.kind == SpanKind::Producer && span.attribute("webhook.event_id") == Some(EVENT))
        .expect("the API's send span");
    assert_eq!(
        record.trace_id.as_deref(),
        Some(send.trace_id.as_str()),
        "stored in its original trace"
    );
    let attempts: Vec<_> = spans
        .iter()
        .filter(|span| span.name == "process-webhook" && span.attribute("webhook.event_id") == Some(EVENT))
        .collect();
    let max_receive_count = stack.settings.max_receive_count as usize;
    assert_eq!(
        attempts.len(),
        max_receive_count + 1,
        "every failed attempt, then the one after the redrive"
    );
    assert!(attempts.iter().all(|attempt| attempt.is_child_of(send)));
    let failed = attempts
        .iter()
        .filter(|attempt| matches!(attempt.status, SpanStatus::Error(_)))
        .count();
    assert_eq!(failed, max_receive_count);

    let after = gather(&environment, EVENT, std::time::UNIX_EPOCH).await.unwrap();
    assert_eq!(after.verdict(), Verdict::Processed("applied".to_owned()));
    stack.shutdown().await;
}
