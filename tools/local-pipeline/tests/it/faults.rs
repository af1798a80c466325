//! Fault injection against the whole local pipeline: the real binaries, moto behind a
//! fault-injecting proxy, the event source mapping. Each scenario breaks one dependency and
//! checks the promise: a 202 means processed exactly once in effect, nothing else is
//! acknowledged, failures show as errors, and only what was affected fails.

// Integration tests: a failed expectation is a failed test, not a crash on input.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::{Duration, Instant};

use local_pipeline::fault_proxy::{AwsService, Fault, FaultRule};
use local_pipeline::probe::{
    Delivery, StackView, all_stored, dlq_depth, notification_count, post_payment_failure, queue_depth,
    wait_for,
};
use local_pipeline::stack::{LocalStack, StackOptions, TelemetryTransport};
use trace_reader::span::{SpanRecord, SpanStatus};

/// One stack at a time: two would compete for the machine's two cores and its timings.
static ONE_STACK_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn start(configure: impl FnOnce(&mut StackOptions)) -> LocalStack {
    let mut options = StackOptions::for_workspace(&local_pipeline::workspace_root());
    configure(&mut options);
    LocalStack::start(options)
        .await
        .expect("the local pipeline starts")
}

async fn send(stack: &LocalStack, event_id: &str, customer: &str) -> Delivery {
    post_payment_failure(stack, event_id, customer)
        .await
        .expect("the API answers")
}

/// Waits until every event is stored and the queue is empty.
async fn drained(stack: &mut LocalStack, event_ids: &[&str]) {
    let ids: Vec<String> = event_ids.iter().map(|id| (*id).to_owned()).collect();
    wait_for(stack, "every event stored and the queue drained", |view| {
        let ids = ids.clone();
        async move { all_stored(&view, &ids).await && queue_depth(&view).await == 0 }
    })
    .await
    .expect("the pipeline drains");
}

fn process_spans<'a>(spans: &'a [SpanRecord], event_id: &str) -> Vec<&'a SpanRecord> {
    spans
        .iter()
        .filter(|span| span.name == "process-webhook" && span.attribute("webhook.event_id") == Some(event_id))
        .collect()
}

/// Polls (against a deadline) until every span of the stored events has arrived.
async fn spans_arrived(stack: &LocalStack, ready: impl Fn(&[SpanRecord]) -> bool) -> Vec<SpanRecord> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let spans = stack.spans();
        if ready(&spans) {
            return spans;
        }
        assert!(Instant::now() < deadline, "spans still missing: {spans:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn assert_stored_once(stack: &LocalStack, customers: &[&str]) {
    let view = StackView::of(stack);
    for customer in customers {
        assert_eq!(
            notification_count(&view, customer).await,
            1,
            "{customer}: one effect"
        );
    }
    assert_eq!(dlq_depth(&view).await, 0, "nothing dead-lettered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_write_fails_only_its_message_which_is_redelivered_and_stored_once() {
    let _turn = ONE_STACK_AT_A_TIME.lock().await;
    let mut stack = start(|options| options.fault_proxy = true).await;
    // Every attempt the SDK makes to write evt_faultB (it tries three times) is throttled.
    let faults = stack.faults().unwrap();
    faults.add(
        FaultRule::always(AwsService::DynamoDb, Fault::Throttled)
            .matching("evt_faultB")
            .times(3),
    );

    let sent = [
        send(&stack, "evt_faultA", "cus_faultA").await,
        send(&stack, "evt_faultB", "cus_faultB").await,
        send(&stack, "evt_faultC", "cus_faultC").await,
    ];
    assert!(sent.iter().all(|delivery| delivery.status == 202), "{sent:?}");
    drained(&mut stack, &["evt_faultA", "evt_faultB", "evt_faultC"]).await;

    assert_eq!(stack.faults().unwrap().injected(AwsService::DynamoDb), 3);
    let spans = spans_arrived(&stack, |spans| process_spans(spans, "evt_faultB").len() == 2).await;
    let attempts = process_spans(&spans, "evt_faultB");
    assert!(
        matches!(attempts[0].status, SpanStatus::Error(_)),
        "{attempts:#?}"
    );
    assert_eq!(attempts[0].attribute("error.type"), Some("dynamodb_throttled"));
    assert!(
        !matches!(attempts[1].status, SpanStatus::Error(_)),
        "{attempts:#?}"
    );
    assert_eq!(attempts[1].attribute("webhook.outcome"), Some("applied"));
    for unaffected in ["evt_faultA", "evt_faultC"] {
        let processed = process_spans(&spans, unaffected);
        assert_eq!(processed.len(), 1, "{unaffected} processed once");
        assert!(!matches!(processed[0].status, SpanStatus::Error(_)));
    }
    // The batch that held the throttled message reported it, and only it, as failed.
    let b_id = sent[1].message_id.clone().unwrap();
    let first = stack
        .mapping_log()
        .invocations()
        .into_iter()
        .find(|invocation| invocation.message_ids.contains(&b_id))
        .unwrap();
    assert_eq!(first.failed_ids, vec![b_id]);
    assert_stored_once(&stack, &["cus_faultA", "cus_faultB", "cus_faultC"]).await;
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_sqs_unavailable_the_api_answers_503_and_acknowledges_nothing() {
    let _turn = ONE_STACK_AT_A_TIME.lock().await;
    let mut stack = start(|options| options.fault_proxy = true).await;
    let faults = stack.faults().unwrap();
    faults.add(FaultRule::always(AwsService::Sqs, Fault::Unavailable));

    let refused = send(&stack, "evt_sqsDown", "cus_sqsDown").await;
    assert_eq!(refused.status, 503);
    assert_eq!(refused.error_code.as_deref(), Some("queue_unavailable"));
    assert!(stack.faults().unwrap().injected(AwsService::Sqs) >= 1);
    let view = StackView::of(&stack);
    assert_eq!(queue_depth(&view).await, 0, "nothing was queued");
    let spans = spans_arrived(&stack, |spans| {
        spans
            .iter()
            .any(|span| span.attribute("http.response.status_code") == Some("503"))
    })
    .await;
    let invocation = spans
        .iter()
        .find(|span| span.attribute("http.response.status_code") == Some("503"))
        .unwrap();
    assert!(
        matches!(invocation.status, SpanStatus::Error(_)),
        "a 5xx is our failure"
    );

    // Stripe retries; once SQS is back the same event is accepted and processed once.
    stack.faults().unwrap().clear();
    let accepted = send(&stack, "evt_sqsDown", "cus_sqsDown").await;
    assert_eq!(accepted.status, 202);
    drained(&mut stack, &["evt_sqsDown"]).await;
    assert_stored_once(&stack, &["cus_sqsDown"]).await;
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_collector_down_the_business_path_is_unaffected_and_the_failure_logged() {
    let _turn = ONE_STACK_AT_A_TIME.lock().await;
    // The ADOT collector is what can be down: over UDP to the X-Ray daemon there is no
    // connection to fail.
    let mut stack = start(|options| {
        options.transport = Some(TelemetryTransport::AdotCollector);
        options.collector_unreachable = true;
    })
    .await;

    let sent = [
        send(&stack, "evt_noCollector1", "cus_noCollector1").await,
        send(&stack, "evt_noCollector2", "cus_noCollector2").await,
    ];
    assert!(sent.iter().all(|delivery| delivery.status == 202), "{sent:?}");
    drained(&mut stack, &["evt_noCollector1", "evt_noCollector2"]).await;
    assert_stored_once(&stack, &["cus_noCollector1", "cus_noCollector2"]).await;

    assert!(
        !stack
            .spans()
            .iter()
            .any(|span| span.service == "webhook-api" || span.service == "webhook-worker"),
        "no collector, no spans from the functions (API Gateway's own segments still arrive)"
    );
    // Each function flushes after answering, so the warning follows the stored event.
    let logs: Vec<_> = stack
        .log_paths()
        .into_iter()
        .filter(|(name, _)| name.contains("webhook"))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(15);
    for (name, log) in logs {
        loop {
            let text = std::fs::read_to_string(&log).unwrap();
            if text.contains("span export failed") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{name} logs the export failure:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_batch_has_its_batch_redelivered_without_a_double_effect() {
    let _turn = ONE_STACK_AT_A_TIME.lock().await;
    let mut stack = start(|options| {
        options.fault_proxy = true;
        // Scaled down with the visibility timeout (8 s), as the real one is with 180 s.
        options.invocation_timeout = Some(Duration::from_secs(3));
    })
    .await;
    // The first batch's writes are held back, so the worker is mid-batch for a while.
    stack
        .faults()
        .unwrap()
        .add(FaultRule::always(AwsService::DynamoDb, Fault::Delay(Duration::from_secs(2))).times(3));

    let sent = [
        send(&stack, "evt_killed1", "cus_killed1").await,
        send(&stack, "evt_killed2", "cus_killed2").await,
        send(&stack, "evt_killed3", "cus_killed3").await,
    ];
    assert!(sent.iter().all(|delivery| delivery.status == 202), "{sent:?}");

    let deadline = Instant::now() + Duration::from_secs(30);
    while stack.faults().unwrap().delayed(AwsService::DynamoDb) == 0 {
        assert!(Instant::now() < deadline, "the batch never reached DynamoDB");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let killed = stack.kill_worker().unwrap().expect("a worker sandbox runs");
    let deadline = Instant::now() + Duration::from_secs(10);
    while child_process::is_alive(killed) {
        assert!(Instant::now() < deadline, "the killed worker {killed} is gone");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    drained(&mut stack, &["evt_killed1", "evt_killed2", "evt_killed3"]).await;
    assert!(
        stack
            .mapping_log()
            .invocations()
            .iter()
            .any(|invocation| invocation.invocation_failed),
        "the killed invocation counted as failed: {:?}",
        stack.mapping_log().invocations()
    );
    assert!(
        stack.worker_stats().sandboxes >= 2,
        "a new sandbox, a cold start: {:?}",
        stack.worker_stats()
    );
    assert_stored_once(&stack, &["cus_killed1", "cus_killed2", "cus_killed3"]).await;
    stack.shutdown().await;
}
