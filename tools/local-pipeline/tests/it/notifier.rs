//! The third hop end to end: the worker's notification item, moto's DynamoDB stream, the
//! emulated stream mapping (filter, checkpoint, retries, on-failure destination), the real
//! `webhook-notifier` binary and moto's SES. One trace runs from the HTTP request to the SES
//! call; a redelivered record sends nothing twice; a failing SES ends in the on-failure queue.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use local_pipeline::api_gateway::SamplingRule;
use local_pipeline::fault_proxy::{AwsService, Fault, FaultRule};
use local_pipeline::probe::{StackView, notification, notification_status, post_payment_failure, wait_for};
use local_pipeline::stack::{LocalStack, StackOptions};
use trace_reader::span::{SpanRecord, SpanStatus};

/// One stack at a time: two would compete for the machine's two cores and its timings.
static ONE_STACK_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn start(configure: impl FnOnce(&mut StackOptions)) -> LocalStack {
    let mut options = StackOptions::for_workspace(&local_pipeline::workspace_root());
    options.sampling = Some(SamplingRule::ALL);
    configure(&mut options);
    LocalStack::start(options)
        .await
        .expect("the local pipeline starts")
}

async fn notification_status_is(stack: &mut LocalStack, event_id: &str, wanted: &'static str) {
    let event = event_id.to_owned();
    wait_for(stack, &format!("{event_id}'s notification {wanted}"), |view| {
        let event = event.clone();
        async move { notification_status(&view, &event).await.as_deref() == Some(wanted) }
    })
    .await
    .expect("the notification reaches its state");
}

/// Polls (against a deadline) until the spans `ready` wants have arrived.
async fn spans_arrived(stack: &LocalStack, ready: impl Fn(&[SpanRecord]) -> bool) -> Vec<SpanRecord> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let spans = stack.spans();
        if ready(&spans) {
            return spans;
        }
        assert!(Instant::now() < deadline, "spans still missing: {spans:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn named<'a>(spans: &'a [SpanRecord], name: &str, event_id: &str) -> Vec<&'a SpanRecord> {
    spans
        .iter()
        .filter(|span| span.name == name && span.attribute("webhook.event_id") == Some(event_id))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_failure_notifies_the_customer_once_in_the_requests_trace() {
    let _turn = ONE_STACK_AT_A_TIME.lock().await;
    let mut stack = start(|_| {}).await;
    let event = "evt_notifyOnce";
    let delivery = post_payment_failure(&stack, event, "cus_notifyOnce")
        .await
        .unwrap();
    assert_eq!(delivery.status, 202);
    notification_status_is(&mut stack, event, "sent").await;
    let item = notification(&StackView::of(&stack), event).await.unwrap();
    let message_id = item["message_id"].as_s().unwrap().clone();
    assert!(!message_id.is_empty());

    // One trace: the request's server span, the worker's process-webhook, send-notification and
    // its SES call.
    let spans = spans_arrived(&stack, |spans| {
        named(spans, "send-notification", event).len() == 1
            && spans.iter().any(|span| span.name == "SES.SendEmail")
    })
    .await;
    let send = named(&spans, "send-notification", event)[0];
    let process = named(&spans, "process-webhook", event);
    assert_eq!(process.len(), 1, "{process:#?}");
    assert!(
        send.is_child_of(process[0]),
        "send-notification under process-webhook: {send:#?}"
    );
    assert_eq!(
        send.trace_id,
        delivery.trace_id.clone().unwrap(),
        "the request's trace"
    );
    assert_eq!(send.attribute("trace.upstream_carrier"), Some("stream_item"));
    assert_eq!(send.attribute("webhook.notification.outcome"), Some("sent"));
    assert_eq!(
        send.attribute("webhook.notification.message_id"),
        Some(message_id.as_str())
    );
    let ses = spans.iter().find(|span| span.name == "SES.SendEmail").unwrap();
    assert!(
        ses.is_child_of(send),
        "the SES call under send-notification: {ses:#?}"
    );
    let mark = spans
        .iter()
        .find(|span| span.name == "DynamoDB.UpdateItem" && span.is_child_of(send))
        .expect("the item marked sent under send-notification");
    assert!(!matches!(mark.status, SpanStatus::Error(_)));

    // The mapping's filter kept the worker's other writes (event record, subscription) away.
    let log = stack.stream_mapping_log();
    assert!(log.filtered_out() >= 2, "filtered {}", log.filtered_out());
    let invocations = log.invocations();
    assert_eq!(invocations.len(), 1, "{invocations:?}");

    // Lambda delivers at least once: the same record again sends nothing.
    let record = log.delivered(&invocations[0].sequence_numbers[0]).unwrap();
    let answer = stack.invoke_notifier(&[record]).await.unwrap();
    assert_eq!(answer["batchItemFailures"], serde_json::json!([]));
    let spans = spans_arrived(&stack, |spans| {
        named(spans, "send-notification", event).len() == 2
    })
    .await;
    let again = named(&spans, "send-notification", event)[1];
    assert_eq!(
        again.attribute("webhook.notification.outcome"),
        Some("already_sent")
    );
    assert_eq!(
        again.trace_id, send.trace_id,
        "the redelivery in the request's trace too"
    );
    assert_eq!(
        spans.iter().filter(|span| span.name == "SES.SendEmail").count(),
        1,
        "one email"
    );
    let item = notification(&StackView::of(&stack), event).await.unwrap();
    assert_eq!(item["message_id"].as_s().unwrap(), &message_id);
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_ses_is_retried_then_handed_to_the_on_failure_queue() {
    let _turn = ONE_STACK_AT_A_TIME.lock().await;
    let mut stack = start(|options| {
        options.fault_proxy = true;
        options
            .pipeline_variables
            .insert("notifier_maximum_retry_attempts".to_owned(), 1.into());
    })
    .await;
    let rule = stack
        .faults()
        .unwrap()
        .add(FaultRule::always(AwsService::Ses, Fault::Unavailable));
    let event = "evt_notifyFails";
    assert_eq!(
        post_payment_failure(&stack, event, "cus_notifyFails")
            .await
            .unwrap()
            .status,
        202
    );
    let destination = stack.stream_mapping_log();
    wait_for(&mut stack, "the record in the on-failure queue", |_| {
        let destination = destination.clone();
        async move { !destination.sent_to_destination().is_empty() }
    })
    .await
    .unwrap();
    assert!(stack.faults().unwrap().picked(rule) > 0, "SES was failed");
    let sent = destination.sent_to_destination();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].condition, "RetryAttemptsExhausted");
    let invocations = destination.invocations();
    assert_eq!(
        invocations.len(),
        2,
        "the first attempt and one retry: {invocations:?}"
    );
    assert!(
        invocations
            .iter()
            .all(|invocation| invocation.failed_from.is_some())
    );

    // The queue holds Lambda's record of the batch, naming the stream record.
    let failures_url = stack.provisioned.notifier.as_ref().unwrap().failures_url.clone();
    let received = aws_sdk_sqs::Client::new(&stack.sdk)
        .receive_message()
        .queue_url(&failures_url)
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_str(received.messages()[0].body().unwrap()).unwrap();
    assert_eq!(body["requestContext"]["condition"], "RetryAttemptsExhausted");
    assert_eq!(
        body["DDBStreamBatchInfo"]["startSequenceNumber"],
        sent[0].sequence_numbers[0].as_str()
    );

    // The item is still pending; each attempt is an ERROR span with its type, in the trace.
    assert_eq!(
        notification_status(&StackView::of(&stack), event)
            .await
            .as_deref(),
        Some("pending")
    );
    let spans = spans_arrived(&stack, |spans| {
        named(spans, "send-notification", event).len() == 2
    })
    .await;
    for attempt in named(&spans, "send-notification", event) {
        assert!(matches!(attempt.status, SpanStatus::Error(_)), "{attempt:#?}");
        assert_eq!(attempt.attribute("error.type"), Some("ses_unavailable"));
        assert_eq!(attempt.attribute("trace.upstream_carrier"), Some("stream_item"));
    }
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_transaction_leaves_nothing_in_the_stream() {
    use aws_sdk_dynamodb::types::{ConditionCheck, Put, TransactWriteItem};
    let _turn = ONE_STACK_AT_A_TIME.lock().await;
    let mut stack = start(|_| {}).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&stack.sdk);
    let table = stack.provisioned.table_name.clone();
    let pending = |event_id: &str| {
        let mut item = event_table::notification_key(event_id);
        item.insert("status".to_owned(), AttributeValue::S("pending".to_owned()));
        item.insert("event_id".to_owned(), AttributeValue::S(event_id.to_owned()));
        item.insert(
            "customer_id".to_owned(),
            AttributeValue::S("cus_rolledBack".to_owned()),
        );
        item
    };
    // The notification's put, then a condition that fails: DynamoDB cancels both.
    let cancelled = dynamodb
        .transact_write_items()
        .transact_items(
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(&table)
                        .set_item(Some(pending("evt_rolledBack")))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .transact_items(
            TransactWriteItem::builder()
                .condition_check(
                    ConditionCheck::builder()
                        .table_name(&table)
                        .set_key(Some(event_table::event_record_key("evt_missing")))
                        .condition_expression("attribute_exists(pk)")
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await;
    assert!(cancelled.is_err(), "the transaction is cancelled");
    // The next write is delivered; the stream is ordered, so the cancelled one would be first.
    dynamodb
        .put_item()
        .table_name(&table)
        .set_item(Some(pending("evt_committed")))
        .send()
        .await
        .unwrap();
    notification_status_is(&mut stack, "evt_committed", "unsendable").await;
    let log = stack.stream_mapping_log();
    let delivered: Vec<String> = log
        .invocations()
        .iter()
        .flat_map(|invocation| invocation.sequence_numbers.clone())
        .filter_map(|sequence| log.delivered(&sequence))
        .filter_map(|record| record["dynamodb"]["Keys"]["pk"]["S"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        delivered,
        ["NOTIFICATION#evt_committed"],
        "nothing of the cancelled transaction"
    );
    stack.shutdown().await;
}
