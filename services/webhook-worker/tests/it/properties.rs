//! Properties of the worker over arbitrary input: any JSON either decodes as an SQS event or is
//! refused; any batch (valid events, malformed bodies, arbitrary trace attributes) is answered
//! with exactly the messages that could not be processed, never a panic.

// Property tests: a failed expectation is a failed test, not a crash on input.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use proptest::prelude::*;
use serde_json::{Value, json};
use test_support::sqs::{message, with_attribute, with_system_attribute};
use test_telemetry::benchmark_telemetry;
use webhook_event::StripeEvent;
use webhook_worker::batch::{Worker, WorkerSettings};
use webhook_worker::store::memory::MemoryStore;

/// Bodies as they turn up on a queue: valid events of every handled type and others, events
/// with defects, JSON of other shapes, and arbitrary text.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let event_type = prop_oneof![
        Just("payment_intent.payment_failed"),
        Just("invoice.payment_failed"),
        Just("customer.subscription.updated"),
        Just("charge.dispute.created"),
        Just("Not A Type"),
    ];
    let event = (
        "evt_[A-Za-z0-9]{1,12}|ch_[a-z]{3}|",
        event_type,
        prop_oneof![Just(json!(1_700_000_000)), Just(json!(0)), Just(json!("soon"))],
        proptest::option::of("cus_[A-Za-z0-9]{1,8}"),
        proptest::option::of(prop_oneof![Just("active"), Just("past_due"), Just("canceled")]),
    )
        .prop_map(|(id, event_type, created, customer, status)| {
            let mut object = json!({"id": "obj_1"});
            if let Some(customer) = customer {
                object["customer"] = json!(customer);
            }
            if let Some(status) = status {
                object["status"] = json!(status);
            }
            json!({"id": id, "type": event_type, "created": created, "livemode": false, "data": {"object": object}})
                .to_string()
                .into_bytes()
        });
    prop_oneof![
        4 => event,
        1 => proptest::collection::vec(any::<u8>(), 0..64),
        1 => ".{0,64}".prop_map(String::into_bytes),
        1 => Just(b"[]".to_vec()),
    ]
}

fn trace_attribute() -> impl Strategy<Value = Option<(&'static str, String)>> {
    proptest::option::of(prop_oneof![
        "00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]".prop_map(|value| ("traceparent", value)),
        ".{0,40}".prop_map(|value| ("traceparent", value)),
        "Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=[01]"
            .prop_map(|value| ("AWSTraceHeader", value)),
        ".{0,40}".prop_map(|value| ("X-Amzn-Trace-Id", value)),
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn any_batch_is_answered_with_exactly_the_messages_it_could_not_process(
        batch in proptest::collection::vec((body(), trace_attribute()), 1..=10),
    ) {
        let messages: Vec<SqsMessage> = batch
            .iter()
            .enumerate()
            .map(|(index, (body, trace))| {
                // SQS carries text: bytes that are not UTF-8 arrive replaced.
                let message = message(&format!("m-{index}"), body);
                match trace {
                    Some(("AWSTraceHeader", value)) => with_system_attribute(message, "AWSTraceHeader", value),
                    Some((name, value)) => with_attribute(message, name, value),
                    None => message,
                }
            })
            .collect();
        let (telemetry, dispatch) = benchmark_telemetry(&[]);
        let worker = Worker::new(MemoryStore::new(), telemetry, WorkerSettings::default());
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        let deadline = SystemTime::now() + Duration::from_secs(60);
        let outcome = tracing::dispatcher::with_default(&dispatch, || {
            runtime.block_on(worker.run_batch(&messages, deadline))
        });

        let response = outcome.into_response().unwrap();
        let failed: HashSet<String> = response
            .batch_item_failures
            .iter()
            .map(|failure| failure.item_identifier.clone())
            .collect();
        for message in &messages {
            let id = message.message_id.clone().unwrap();
            let valid = StripeEvent::parse(message.body.as_deref().unwrap().as_bytes()).is_ok();
            prop_assert_eq!(failed.contains(&id), !valid, "{}: {:?}", id, message.body);
        }
    }

    #[test]
    fn any_json_decodes_as_an_sqs_event_or_is_refused(
        records in proptest::collection::vec(
            proptest::collection::btree_map(
                "(messageId|receiptHandle|body|attributes|messageAttributes|eventSourceARN|md5OfBody|[a-z]{1,6})",
                prop_oneof![Just(Value::Null), ".{0,20}".prop_map(Value::from), any::<i64>().prop_map(Value::from),
                            Just(json!({"traceparent": {"stringValue": "x", "dataType": "String"}}))],
                0..8,
            ),
            0..4,
        )
    ) {
        let event = json!({"Records": records});
        if let Ok(decoded) = serde_json::from_value::<SqsEvent>(event) {
            prop_assert_eq!(decoded.records.len(), records.len());
        }
    }
}
