//! The whole pipeline, end to end: the real function binaries under the local Lambda service,
//! API Gateway's front door, moto, the event source mapping and the trace sink, driven by the
//! demo's scenario, with each transport, and with SNS fan-out in front of the queue (raw message
//! delivery on and off). The assertions read the spans received over OTLP and the emulator's
//! state directly, not the demo's own report, so a wrong check in the demo cannot hide a broken
//! pipeline. One more run samples half the requests, as `make demo` does, and holds the demo's
//! report to every check, `make trace` of each event included.

// Integration tests: a failed expectation is a failed test, not a crash on input.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::{HashMap, HashSet};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use child_process::is_alive;
use local_pipeline::scenario::{self, processed_spans, producer_spans};
use local_pipeline::stack::{LocalStack, StackOptions, TelemetryTransport};
use terraform_config::pipeline::FanOut;
use trace_reader::pipeline::is_producer;
use trace_reader::span::{SpanKind, SpanRecord, SpanStatus};

fn spans_for<'a>(spans: &'a [SpanRecord], name_prefix: &str, message_id: &str) -> Vec<&'a SpanRecord> {
    spans
        .iter()
        .filter(|span| {
            span.name.starts_with(name_prefix) && span.attribute("messaging.message.id") == Some(message_id)
        })
        .collect()
}

/// One stack at a time: two would compete for the machine's two cores and its timings.
static ONE_STACK_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipeline_keeps_every_promise_with_the_adot_collector_transport() {
    let _turn = ONE_STACK_AT_A_TIME.lock().await;
    the_pipeline_keeps_every_promise(TelemetryTransport::AdotCollector, FanOut::None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipeline_keeps_every_promise_with_the_xray_udp_transport() {
    let _turn = ONE_STACK_AT_A_TIME.lock().await;
    the_pipeline_keeps_every_promise(TelemetryTransport::XrayUdp, FanOut::None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipeline_keeps_every_promise_through_sns_with_raw_message_delivery() {
    let _turn = ONE_STACK_AT_A_TIME.lock().await;
    let fan_out = FanOut::Sns {
        raw_message_delivery: true,
    };
    the_pipeline_keeps_every_promise(TelemetryTransport::XrayUdp, fan_out).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipeline_keeps_every_promise_through_sns_with_the_notification_envelope() {
    let _turn = ONE_STACK_AT_A_TIME.lock().await;
    let fan_out = FanOut::Sns {
        raw_message_delivery: false,
    };
    the_pipeline_keeps_every_promise(TelemetryTransport::AdotCollector, fan_out).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_half_the_requests_sampled_every_event_is_still_told_and_every_sampled_trace_connected() {
    let _turn = ONE_STACK_AT_A_TIME.lock().await;
    let mut options = StackOptions::for_workspace(&local_pipeline::workspace_root());
    // OTLP exports sampled spans only: the unsampled events leave nothing but their log lines.
    options.transport = Some(TelemetryTransport::AdotCollector);
    options.sampling = Some(local_pipeline::api_gateway::SamplingRule {
        reservoir_per_second: 0,
        fixed_rate: 0.5,
    });
    let mut stack = LocalStack::start(options)
        .await
        .expect("the local pipeline starts");
    let run = scenario::run(&mut stack).await.expect("the pipeline drains");
    let report = scenario::report(&mut stack, &run).await;
    let sampling = stack.sampling();
    stack.shutdown().await;
    assert!(sampling.sampled > 0 && sampling.unsampled > 0, "{sampling:?}");
    assert!(report.passed(), "{}", report.render());
    assert!(
        report.render().contains("not sampled: no trace recorded"),
        "{}",
        report.render()
    );
}

/// The same assertions whichever way the spans travel and whichever hop is in front of the queue.
async fn the_pipeline_keeps_every_promise(transport: TelemetryTransport, fan_out: FanOut) {
    let mut options = StackOptions::for_workspace(&local_pipeline::workspace_root());
    options.transport = Some(transport);
    options.fan_out = Some(fan_out);
    let mut stack = LocalStack::start(options)
        .await
        .expect("the local pipeline starts");
    let pids = stack.pids();
    let run = scenario::run(&mut stack).await.expect("the pipeline drains");
    let spans = stack.spans();
    let dynamodb = aws_sdk_dynamodb::Client::new(&stack.sdk);
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    let table = stack.provisioned.table_name.clone();

    // Every accepted event is stored exactly once: one record per event id, and the event
    // delivered twice has a single effect.
    let accepted = run.accepted();
    assert_eq!(accepted.len(), 5);
    let records = dynamodb
        .scan()
        .table_name(&table)
        .filter_expression("begins_with(pk, :prefix)")
        .expression_attribute_values(":prefix", AttributeValue::S(event_table::EVENT_PREFIX.to_owned()))
        .send()
        .await
        .expect("scan")
        .items
        .unwrap_or_default();
    let stored: HashSet<String> = records
        .iter()
        .map(|item| item["event_id"].as_s().unwrap().clone())
        .collect();
    let mut expected: HashSet<String> = accepted
        .iter()
        .map(|delivery| delivery.event_id.clone())
        .collect();
    expected.insert(run.legacy.event_id.clone().unwrap());
    expected.insert(run.eventbridge.event_id.clone().unwrap());
    assert_eq!(stored, expected);
    assert_eq!(records.len(), expected.len(), "one record per event id");
    let notifications = local_pipeline::probe::notification_count(
        &local_pipeline::probe::StackView::of(&stack),
        run.payment_failed.customer.as_deref().unwrap(),
    )
    .await;
    assert_eq!(notifications, 1, "the redelivered payment failure notified once");

    // Each process-webhook span belongs to its own producer's trace, under its send (or
    // publish) span, and parents its DynamoDB write.
    let producer_name = match fan_out {
        FanOut::None => format!("send {}", stack.settings.names.queue),
        FanOut::Sns { .. } => format!("publish {}", stack.settings.names.topic),
    };
    for delivery in &accepted {
        let message_id = delivery.message_id.as_deref().unwrap();
        let sends = producer_spans(&spans, message_id);
        assert_eq!(sends.len(), 1, "{}: one producer span", delivery.label);
        let send = sends[0];
        assert_eq!(send.name, producer_name);
        assert_eq!(send.kind, SpanKind::Producer);
        let server = spans
            .iter()
            .find(|span| send.is_child_of(span))
            .expect("the send span's parent");
        assert_eq!(server.kind, SpanKind::Server);
        assert_eq!(
            server.attribute("webhook.event_id"),
            Some(delivery.event_id.as_str())
        );
        let processed = processed_spans(&spans, message_id);
        assert_eq!(processed.len(), 1, "{}: processed once", delivery.label);
        let process = processed[0];
        assert!(
            process.is_child_of(send),
            "{}: process-webhook is in its producer's trace",
            delivery.label
        );
        assert_eq!(process.kind, SpanKind::Consumer);
        assert_eq!(
            process.attribute("webhook.event_id"),
            Some(delivery.event_id.as_str())
        );
        assert_eq!(process.attribute("trace.has_upstream_context"), Some("true"));
        // Which carrier brought the context, and what the body was.
        let (carrier, envelope) = match fan_out {
            FanOut::Sns {
                raw_message_delivery: false,
            } => ("sns_message_attributes", "sns"),
            _ => ("message_attributes", "none"),
        };
        assert_eq!(
            process.attribute("trace.upstream_carrier"),
            Some(carrier),
            "{}",
            delivery.label
        );
        assert_eq!(
            process.attribute("webhook.envelope"),
            Some(envelope),
            "{}",
            delivery.label
        );
        if envelope == "sns" {
            assert_eq!(
                process.attribute("aws.sns.topic.arn"),
                stack.provisioned.topic_arn.as_deref()
            );
            assert_eq!(
                process.attribute("messaging.message.conversation_id"),
                Some(message_id)
            );
        }
        let write = spans
            .iter()
            .find(|span| span.name == "DynamoDB.TransactWriteItems" && span.is_child_of(process))
            .expect("the DynamoDB write under process-webhook");
        assert_eq!(write.kind, SpanKind::Client);
        assert_eq!(write.attribute("db.system.name"), Some("aws.dynamodb"));
    }
    let traces: HashSet<&str> = accepted
        .iter()
        .map(|delivery| {
            producer_spans(&spans, delivery.message_id.as_deref().unwrap())[0]
                .trace_id
                .as_str()
        })
        .collect();
    assert_eq!(traces.len(), accepted.len(), "each webhook has its own trace");

    // Several of those events shared a worker invocation, and still none was misattributed.
    // The queue's message ids (with fan-out, not the ones the API answered with).
    let accepted_ids: HashSet<&str> = accepted
        .iter()
        .flat_map(|delivery| processed_spans(&spans, delivery.message_id.as_deref().unwrap()))
        .filter_map(|process| process.attribute("messaging.message.id"))
        .collect();
    let invocations = stack.mapping_log().invocations();
    assert!(
        invocations.iter().any(|invocation| {
            invocation
                .message_ids
                .iter()
                .filter(|id| accepted_ids.contains(id.as_str()))
                .count()
                >= 2
        }),
        "a batch held several accepted events: {invocations:?}"
    );
    let redelivery = processed_spans(&spans, run.stripe_retry.message_id.as_deref().unwrap())[0];
    assert_eq!(redelivery.attribute("webhook.duplicate"), Some("true"));

    // The legacy producer's message: a new root, processed all the same.
    let legacy = spans_for(&spans, "process-webhook", &run.legacy.message_id);
    assert_eq!(legacy.len(), 1);
    assert!(legacy[0].is_root());
    assert_eq!(legacy[0].attribute("trace.has_upstream_context"), Some("false"));
    assert_eq!(legacy[0].attribute("trace.upstream_carrier"), Some("none"));

    // The event an EventBridge rule put on the queue: processed from the envelope's detail, as a
    // new root (EventBridge passes no trace header for partner events).
    let eventbridge = spans_for(&spans, "process-webhook", &run.eventbridge.message_id);
    assert_eq!(eventbridge.len(), 1);
    assert!(eventbridge[0].is_root());
    assert_eq!(eventbridge[0].attribute("webhook.envelope"), Some("eventbridge"));
    assert_eq!(
        eventbridge[0].attribute("webhook.event_id"),
        run.eventbridge.event_id.as_deref()
    );

    // The poison message: an ERROR span per attempt, then the DLQ.
    let poison = spans_for(&spans, "process-webhook", &run.poison.message_id);
    assert_eq!(poison.len(), stack.settings.max_receive_count as usize);
    for attempt in &poison {
        assert!(matches!(attempt.status, SpanStatus::Error(_)));
        assert_eq!(attempt.attribute("error.type"), Some("malformed_json"));
        assert!(attempt.events.iter().any(|event| event == "exception"));
    }
    let dead_lettered = sqs
        .receive_message()
        .queue_url(&stack.provisioned.dlq_url)
        .max_number_of_messages(10)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .expect("receive from the DLQ")
        .messages
        .unwrap_or_default();
    assert_eq!(dead_lettered.len(), 1);
    assert_eq!(
        dead_lettered[0].message_id.as_deref(),
        Some(run.poison.message_id.as_str())
    );

    // The forged webhook: 401 and nothing queued.
    assert_eq!(run.forged.status, 401);
    assert_eq!(run.forged.error_code.as_deref(), Some("signature_mismatch"));
    let sends = spans.iter().filter(|span| is_producer(span)).count();
    assert_eq!(sends, accepted.len(), "only accepted webhooks were sent on");
    // The API function's span (API Gateway's own segment says 401 too).
    let refused: Vec<&SpanRecord> = spans
        .iter()
        .filter(|span| {
            span.service == "webhook-api" && span.attribute("http.response.status_code") == Some("401")
        })
        .collect();
    assert_eq!(refused.len(), 1);
    assert!(
        !spans
            .iter()
            .any(|span| span.trace_id == refused[0].trace_id && is_producer(span))
    );

    // SNS delivered every notification: nothing is waiting in the subscription's DLQ.
    if let Some(undeliverable) = &stack.provisioned.undeliverable_url {
        let waiting = sqs
            .receive_message()
            .queue_url(undeliverable)
            .send()
            .await
            .expect("receive from the undeliverable queue")
            .messages
            .unwrap_or_default();
        assert!(waiting.is_empty(), "undeliverable notifications: {waiting:?}");
    }

    // Every export reached the sink and decoded: no span was lost on the way.
    assert_eq!(stack.rejected_exports(), Vec::<String>::new());
    if transport == TelemetryTransport::XrayUdp {
        assert_eq!(
            stack.dropped_span_datagrams(),
            Some(0),
            "the kernel dropped span datagrams"
        );
        // Application Signals: every span names its service and operation, and the SQS and
        // DynamoDB calls name their remote service and resource.
        // The functions' spans: API Gateway's own segments are not the functions' to annotate.
        for span in spans
            .iter()
            .filter(|span| matches!(span.service.as_str(), "webhook-api" | "webhook-worker"))
        {
            let function = match span.service.as_str() {
                "webhook-api" => &stack.settings.names.api_function,
                _ => &stack.settings.names.worker_function,
            };
            assert_eq!(
                span.attribute("aws.local.operation"),
                Some(format!("{function}/FunctionHandler").as_str()),
                "{}",
                span.name
            );
        }
        let write = spans
            .iter()
            .find(|span| span.name == "DynamoDB.TransactWriteItems")
            .unwrap();
        assert_eq!(write.attribute("aws.remote.service"), Some("AWS::DynamoDB"));
        assert_eq!(
            write.attribute("aws.remote.resource.identifier"),
            Some(stack.provisioned.table_name.as_str())
        );
        let send = spans.iter().find(|span| is_producer(span)).unwrap();
        let (service, resource) = match fan_out {
            FanOut::None => ("AWS::SQS", &stack.settings.names.queue),
            FanOut::Sns { .. } => ("AWS::SNS", &stack.settings.names.topic),
        };
        assert_eq!(send.attribute("aws.remote.service"), Some(service));
        assert_eq!(
            send.attribute("aws.remote.resource.identifier"),
            Some(resource.as_str())
        );
    }

    // The demo's own report agrees.
    let report = scenario::report(&mut stack, &run).await;
    let failed: HashMap<&str, &str> = report
        .checks
        .iter()
        .filter(|check| !check.passed)
        .map(|check| (check.name.as_str(), check.detail.as_str()))
        .collect();
    assert!(failed.is_empty(), "demo checks failed: {failed:?}");

    // Nothing is left running.
    stack.shutdown().await;
    for pid in pids {
        assert!(!is_alive(pid), "process {pid} outlived the stack");
    }
}
