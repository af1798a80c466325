//! `make trace ENV=...` against AWS's answers: the record, the DLQ and the log groups in moto
//! (DynamoDB, SQS and CloudWatch Logs as in AWS), X-Ray from recorded answers (segments in
//! X-Ray's own store), and the console link and queries printed.

// Integration tests: a failed expectation is a failed test, not a crash on input.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::{Duration, SystemTime};

use aws_sdk_sqs::types::MessageAttributeValue;
use local_pipeline::provision::{Provisioned, provision};
use moto_server::MotoServer;
use moto_server::{Recorded, RecordedApi};
use operator::environment::{Environment, Location};
use operator::render;
use operator::story::{Verdict, gather};
use terraform_config::pipeline::PipelineSettings;
use trace_reader::source::TraceSource;
use webhook_worker::effect::Effect;
use webhook_worker::store::EventRecord;
use webhook_worker::store::EventStore;
use webhook_worker::store::dynamodb::DynamoDbStore;

const TRACE: &str = "1-6b072030-a2b7091c360c3217ec38674e";
const TRACE_W3C: &str = "6b072030a2b7091c360c3217ec38674e";

/// A worker segment and its DynamoDB subsegment, as `BatchGetTraces` returns them.
fn batch_get_traces() -> Recorded {
    let worker = format!(
        r#"{{"id":"b1","trace_id":"{TRACE}","parent_id":"c9","name":"webhook-worker","start_time":105.0,"end_time":105.2,"annotations":{{"webhook_event_id":"evt_stored"}},"metadata":{{"default":{{"messaging.operation.type":"process","webhook.event_id":"evt_stored","webhook.outcome":"applied"}}}},"subsegments":[{{"id":"b2","name":"DynamoDB","namespace":"aws","start_time":105.01,"end_time":105.15,"aws":{{"operation":"TransactWriteItems"}}}}]}}"#
    );
    let document = serde_json::to_string(&worker).unwrap();
    Recorded::ok(format!(
        r#"{{"Traces":[{{"Id":"{TRACE}","Duration":0.2,"Segments":[{{"Id":"b1","Document":{document}}}]}}],"UnprocessedTraceIds":[]}}"#
    ))
}

async fn aws(summaries: &str) -> (MotoServer, Provisioned, RecordedApi, Environment) {
    let moto = MotoServer::start();
    let sdk = moto.sdk_config().await;
    let settings =
        PipelineSettings::load(&local_pipeline::workspace_root().join("terraform"), "dev").unwrap();
    let provisioned = provision(&sdk, &settings, 30).await.unwrap();
    let xray = RecordedApi::start([
        (
            "/GetTraceSegmentDestination",
            vec![Recorded::ok(r#"{"Destination":"XRay","Status":"ACTIVE"}"#)],
        ),
        ("/TraceSummaries", vec![Recorded::ok(summaries.to_owned())]),
        ("/Traces", vec![batch_get_traces()]),
    ])
    .await
    .unwrap();
    let environment = Environment {
        location: Location::Aws {
            environment: "dev".to_owned(),
        },
        traces: TraceSource::new(&moto_server::sdk_config_for(&xray.endpoint()).await),
        sdk,
        region: "eu-west-1".to_owned(),
        table: provisioned.table_name.clone(),
        queue_url: provisioned.queue_url.clone(),
        dlq_url: provisioned.dlq_url.clone(),
        log_groups: [&settings.names.api_function, &settings.names.worker_function]
            .map(|function| local_pipeline::lambda_service::log_group(function))
            .to_vec(),
        notifier_failures_url: None,
    };
    (moto, provisioned, xray, environment)
}

fn an_hour_ago() -> SystemTime {
    SystemTime::now() - Duration::from_secs(3600)
}

#[tokio::test]
async fn a_stored_event_is_told_with_its_record_its_x_ray_trace_and_the_links() {
    let summaries = format!(r#"{{"TraceSummaries":[{{"Id":"{TRACE}"}}],"ApproximateTime":1}}"#);
    let (_moto, _provisioned, xray, environment) = aws(&summaries).await;
    let store = DynamoDbStore::new(environment.dynamodb(), environment.table.clone());
    let record = EventRecord {
        event_id: "evt_stored".to_owned(),
        event_type: "charge.dispute.created".to_owned(),
        created: 1_767_225_600,
        livemode: false,
        received_at_ms: Some(1_767_225_600_000),
        processed_at_ms: 1_767_225_605_000,
        trace_id: Some(TRACE_W3C.to_owned()),
        trace_context: Default::default(),
        receive_count: 1,
        expires_at: 1_999_999_999,
    };
    store
        .record(
            &record,
            &Effect::Ignored {
                reason: "event type not handled",
            },
        )
        .await
        .unwrap();

    let story = gather(&environment, "evt_stored", an_hour_ago()).await.unwrap();
    assert_eq!(story.verdict(), Verdict::Processed("ignored".to_owned()));
    assert_eq!(story.verdict().exit_code(), 0);
    assert_eq!(story.traces.len(), 1, "the record's trace");
    let text = render::story(&story, &environment);
    for expected in [
        "evt_stored in dev: processed (ignored)",
        "outcome     ignored (event type not handled)",
        "trace       1-6b072030-a2b7091c360c3217ec38674e",
        "DynamoDB.TransactWriteItems",
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#xray:traces/1-6b072030-a2b7091c360c3217ec38674e",
        "log group aws/spans",
        r#"filter @message like "evt_stored""#,
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert!(
        !xray
            .received()
            .iter()
            .any(|request| request.operation == "/TraceSummaries"),
        "the record named the trace: no search by event id"
    );
}

#[tokio::test]
async fn an_unknown_event_is_not_found_and_a_dead_lettered_one_is_found_in_the_dlq() {
    let (_moto, provisioned, xray, environment) = aws(r#"{"TraceSummaries":[]}"#).await;
    let unknown = gather(&environment, "evt_unknown", an_hour_ago()).await.unwrap();
    assert_eq!(unknown.verdict(), Verdict::NotFound);
    assert_eq!(unknown.verdict().exit_code(), 1);
    // Nothing named a trace: the last resort, which says how little it sees.
    let search = xray
        .received()
        .into_iter()
        .find(|request| request.operation == "/TraceSummaries")
        .expect("traces were searched by event id");
    let search: serde_json::Value = serde_json::from_str(&search.body).unwrap();
    assert_eq!(
        search["FilterExpression"],
        r#"annotation.webhook_event_id = "evt_unknown""#
    );
    let text = render::story(&unknown, &environment);
    assert!(
        text.contains("found 0") && text.contains("1% by default"),
        "{text}"
    );

    let sqs = environment.sqs();
    sqs.send_message()
        .queue_url(&provisioned.dlq_url)
        .message_body(r#"{"id":"evt_dead","object":"event"}"#)
        .message_attributes(
            "X-Amzn-Trace-Id",
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(format!("Root={TRACE};Parent=53995c3f42cd8ad8;Sampled=1"))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let dead = gather(&environment, "evt_dead", an_hour_ago()).await.unwrap();
    assert_eq!(dead.verdict(), Verdict::DeadLettered);
    assert_eq!(dead.verdict().exit_code(), 2);
    let message = dead.dead_letter.clone().expect("the DLQ message");
    assert_eq!(
        message.trace_id.as_deref(),
        Some(TRACE_W3C),
        "its producer's trace"
    );
    let text = render::story(&dead, &environment);
    assert!(
        text.contains("last seen   in the DLQ webhooks-dev-events-dlq"),
        "{text}"
    );

    // Reading the DLQ left the message there, visible.
    let again = gather(&environment, "evt_dead", an_hour_ago()).await.unwrap();
    assert_eq!(again.verdict(), Verdict::DeadLettered);
}

#[tokio::test]
async fn a_payment_failure_tells_its_notification_pending_then_sent() {
    use webhook_notifier::store::dynamodb::DynamoDbNotifications;
    use webhook_notifier::store::{Mark, NotificationStore};

    let (_moto, _provisioned, _xray, environment) = aws(r#"{"TraceSummaries":[]}"#).await;
    let store = DynamoDbStore::new(environment.dynamodb(), environment.table.clone());
    let record = EventRecord {
        event_id: "evt_failed".to_owned(),
        event_type: "invoice.payment_failed".to_owned(),
        created: 1_767_225_600,
        livemode: false,
        received_at_ms: Some(1_767_225_600_000),
        processed_at_ms: 1_767_225_605_000,
        trace_id: Some(TRACE_W3C.to_owned()),
        trace_context: Default::default(),
        receive_count: 1,
        expires_at: 1_999_999_999,
    };
    let effect = Effect::PaymentFailed {
        customer_id: "cus_1".to_owned(),
        reason: None,
        email: Some("jo@example.com".to_owned()),
    };
    store.record(&record, &effect).await.unwrap();

    let pending = gather(&environment, "evt_failed", an_hour_ago()).await.unwrap();
    let text = render::story(&pending, &environment);
    assert!(
        text.contains("notified    not yet: pending; the notifier has not picked it up"),
        "{text}"
    );

    let notifications = DynamoDbNotifications::new(environment.dynamodb(), environment.table.clone());
    let mark = Mark::Sent {
        message_id: "0100019a-ses-1".to_owned(),
        at_ms: 1_767_225_606_000,
    };
    notifications.mark("evt_failed", &mark).await.unwrap();
    let sent = gather(&environment, "evt_failed", an_hour_ago()).await.unwrap();
    assert_eq!(sent.verdict(), Verdict::Processed("applied".to_owned()));
    let text = render::story(&sent, &environment);
    assert!(
        text.contains(
            "notified    customer notified at 2026-01-01T00:00:06Z (SES message id 0100019a-ses-1)"
        ),
        "{text}"
    );
}
