//! Both ways a redrive moves messages: emulated against moto (which has no move task), keeping
//! every attribute; and SQS's move task, against recorded SQS answers.

// Integration tests: a failed expectation is a failed test, not a crash on input.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::Duration;

use aws_sdk_sqs::types::{
    MessageAttributeValue, MessageSystemAttributeName, MessageSystemAttributeNameForSends,
    MessageSystemAttributeValue,
};
use moto_server::MotoServer;
use moto_server::{Recorded, RecordedApi};
use operator::environment::{Environment, Location};
use operator::redrive::{Mover, Pace, Progress, RedriveError, redrive};
use trace_reader::source::TraceSource;

const TRACEPARENT: &str = "00-69559a005a3b1e0c2d4f6a8b9c0d1e2f-7a085853722dc6d2-01";
const XRAY_HEADER: &str = "Root=1-69559a00-5a3b1e0c2d4f6a8b9c0d1e2f;Parent=7a085853722dc6d2;Sampled=1";

fn environment(
    sdk: aws_config::SdkConfig,
    queue_url: &str,
    dlq_url: &str,
    location: Location,
) -> Environment {
    Environment {
        location,
        region: "us-east-1".to_owned(),
        table: "unused".to_owned(),
        queue_url: queue_url.to_owned(),
        dlq_url: dlq_url.to_owned(),
        log_groups: Vec::new(),
        notifier_failures_url: None,
        traces: TraceSource::new(&sdk),
        sdk,
    }
}

fn fast() -> Pace {
    Pace {
        poll_every: Duration::from_millis(10),
        deadline: Duration::from_secs(10),
    }
}

#[tokio::test]
async fn an_emulated_redrive_keeps_the_body_every_attribute_and_the_trace_header() {
    let moto = MotoServer::start();
    let sdk = moto.sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let create = |name: &'static str| {
        let sqs = sqs.clone();
        async move {
            sqs.create_queue()
                .queue_name(name)
                .send()
                .await
                .unwrap()
                .queue_url
                .unwrap()
        }
    };
    let (queue, dlq) = (create("events").await, create("events-dlq").await);
    for index in 0..12 {
        sqs.send_message()
            .queue_url(&dlq)
            .message_body(format!(r#"{{"id":"evt_{index}"}}"#))
            .message_attributes(
                "traceparent",
                MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(TRACEPARENT)
                    .build()
                    .unwrap(),
            )
            .message_attributes(
                "tenant",
                MessageAttributeValue::builder()
                    .data_type("Number")
                    .string_value("42")
                    .build()
                    .unwrap(),
            )
            .message_system_attributes(
                MessageSystemAttributeNameForSends::AwsTraceHeader,
                MessageSystemAttributeValue::builder()
                    .data_type("String")
                    .string_value(XRAY_HEADER)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }

    let mut seen = Vec::new();
    let environment = environment(sdk, &queue, &dlq, Location::Local);
    let moved = redrive(&environment, Mover::Emulated, fast(), |progress| {
        seen.push(progress)
    })
    .await
    .unwrap();
    assert_eq!(moved, 12);
    assert_eq!(
        seen.last(),
        Some(&Progress {
            moved: 12,
            to_move: None
        })
    );

    let mut bodies = Vec::new();
    loop {
        let received = sqs
            .receive_message()
            .queue_url(&queue)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .unwrap()
            .messages
            .unwrap_or_default();
        if received.is_empty() {
            break;
        }
        for message in received {
            let attributes = message.message_attributes.clone().unwrap_or_default();
            assert_eq!(attributes["traceparent"].string_value(), Some(TRACEPARENT));
            assert_eq!(attributes["tenant"].data_type(), "Number");
            assert_eq!(attributes["tenant"].string_value(), Some("42"));
            let system = message.attributes.clone().unwrap_or_default();
            assert_eq!(
                system
                    .get(&MessageSystemAttributeName::AwsTraceHeader)
                    .map(String::as_str),
                Some(XRAY_HEADER)
            );
            bodies.push(message.body.unwrap());
            sqs.delete_message()
                .queue_url(&queue)
                .receipt_handle(message.receipt_handle.unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    bodies.sort();
    let mut expected: Vec<String> = (0..12)
        .map(|index| format!(r#"{{"id":"evt_{index}"}}"#))
        .collect();
    expected.sort();
    assert_eq!(bodies, expected);
    let left = sqs
        .receive_message()
        .queue_url(&dlq)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert!(left.is_empty(), "the DLQ is empty afterwards");
}

fn sqs_answers(tasks: Vec<Recorded>) -> Vec<(&'static str, Vec<Recorded>)> {
    vec![
        (
            "AmazonSQS.GetQueueAttributes",
            vec![Recorded::ok(
                r#"{"Attributes":{"QueueArn":"arn:aws:sqs:eu-west-1:123456789012:webhooks-dev-events-dlq","ApproximateNumberOfMessages":"3"}}"#,
            )],
        ),
        (
            "AmazonSQS.StartMessageMoveTask",
            vec![Recorded::ok(r#"{"TaskHandle":"eyJ0YXNrSWQiOiJ0In0="}"#)],
        ),
        ("AmazonSQS.ListMessageMoveTasks", tasks),
    ]
}

fn task(status: &str, moved: u32, reason: Option<&str>) -> Recorded {
    let reason = reason
        .map(|reason| format!(r#","FailureReason":"{reason}""#))
        .unwrap_or_default();
    Recorded::ok(format!(
        r#"{{"Results":[{{"Status":"{status}","SourceArn":"arn:aws:sqs:eu-west-1:123456789012:webhooks-dev-events-dlq","ApproximateNumberOfMessagesMoved":{moved},"ApproximateNumberOfMessagesToMove":3,"StartedTimestamp":1767225600000{reason}}}]}}"#
    ))
}

async fn aws_environment(api: &RecordedApi) -> Environment {
    let sdk = moto_server::sdk_config_for(&api.endpoint()).await;
    environment(
        sdk,
        "https://sqs.eu-west-1.amazonaws.com/123456789012/webhooks-dev-events",
        "https://sqs.eu-west-1.amazonaws.com/123456789012/webhooks-dev-events-dlq",
        Location::Aws {
            environment: "dev".to_owned(),
        },
    )
}

#[tokio::test]
async fn a_move_task_is_started_from_the_dlq_and_followed_to_its_end() {
    let api = RecordedApi::start(sqs_answers(vec![
        task("RUNNING", 1, None),
        task("RUNNING", 2, None),
        task("COMPLETED", 3, None),
    ]))
    .await
    .unwrap();
    let environment = aws_environment(&api).await;
    assert_eq!(Mover::for_environment(&environment), Mover::MoveTask);
    let mut seen = Vec::new();
    let moved = redrive(&environment, Mover::MoveTask, fast(), |progress| {
        seen.push(progress)
    })
    .await
    .unwrap();
    assert_eq!(moved, 3);
    assert_eq!(
        seen,
        [1, 2, 3].map(|moved| Progress {
            moved,
            to_move: Some(3)
        })
    );
    let start = api
        .received()
        .into_iter()
        .find(|request| request.operation == "AmazonSQS.StartMessageMoveTask")
        .expect("a move task was started");
    let start: serde_json::Value = serde_json::from_str(&start.body).unwrap();
    // From the DLQ, and back to wherever each message came from: no destination.
    assert_eq!(
        start,
        serde_json::json!({"SourceArn": "arn:aws:sqs:eu-west-1:123456789012:webhooks-dev-events-dlq"})
    );
}

#[tokio::test]
async fn a_failed_move_task_is_reported_with_its_reason() {
    let api = RecordedApi::start(sqs_answers(vec![
        task("RUNNING", 1, None),
        task(
            "FAILED",
            1,
            Some("AccessDenied: sqs:SendMessage on the source queue"),
        ),
    ]))
    .await
    .unwrap();
    let error = redrive(&aws_environment(&api).await, Mover::MoveTask, fast(), |_| {})
        .await
        .expect_err("the task failed");
    assert!(
        matches!(error, RedriveError::TaskFailed { moved: 1, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("AccessDenied"), "{error}");
}
