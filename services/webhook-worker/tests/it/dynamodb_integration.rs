//! The worker against DynamoDB on a moto server: one effect per event however often it is
//! delivered, status changes in event order, an injected DynamoDB failure failing only the
//! affected message, and a CLIENT span per DynamoDB call.

// Integration tests: a failed expectation is a failed test, not a crash on input.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::sqs::{SqsBatchResponse, SqsMessage};
use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use event_table::{PARTITION_KEY, SORT_KEY};
use moto_server::MotoServer;
use opentelemetry::trace::SpanKind;
use opentelemetry::{Array, Value};
use serde_json::json;
use test_support::events;
use test_support::spans::SpanDataExt;
use test_support::sqs::{message, with_attribute, with_system_attribute};
use test_telemetry::TestTelemetry;
use tracing::Instrument;
use webhook_worker::batch::{Worker, WorkerSettings};
use webhook_worker::store::dynamodb::DynamoDbStore;

const TABLE: &str = "webhooks";

/// Fails every DynamoDB request whose body mentions `marker`, before it is sent.
#[derive(Debug)]
struct FailRequestsMentioning(&'static str);

impl Intercept for FailRequestsMentioning {
    fn name(&self) -> &'static str {
        "FailRequestsMentioning"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let body = context.request().body().bytes().unwrap_or_default();
        if String::from_utf8_lossy(body).contains(self.0) {
            return Err("injected DynamoDB failure".into());
        }
        Ok(())
    }
}

struct Stack {
    _moto: MotoServer,
    dynamodb: aws_sdk_dynamodb::Client,
    sdk_config: aws_config::SdkConfig,
    telemetry: TestTelemetry,
}

impl Stack {
    async fn start() -> Self {
        let moto = MotoServer::start();
        let sdk_config = moto.sdk_config().await;
        let dynamodb = aws_sdk_dynamodb::Client::new(&sdk_config);
        dynamodb
            .create_table()
            .table_name(TABLE)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key(PARTITION_KEY, KeyType::Hash))
            .key_schema(key(SORT_KEY, KeyType::Range))
            .attribute_definitions(attribute(PARTITION_KEY))
            .attribute_definitions(attribute(SORT_KEY))
            .send()
            .await
            .expect("create table");
        Stack {
            _moto: moto,
            dynamodb,
            sdk_config,
            telemetry: TestTelemetry::new(&[]),
        }
    }

    fn worker(&self) -> Worker<DynamoDbStore> {
        self.worker_with(self.dynamodb.clone())
    }

    fn worker_with(&self, client: aws_sdk_dynamodb::Client) -> Worker<DynamoDbStore> {
        Worker::new(
            DynamoDbStore::new(client, TABLE),
            self.telemetry.telemetry.clone(),
            WorkerSettings::default(),
        )
    }

    async fn run(&self, worker: &Worker<DynamoDbStore>, messages: &[SqsMessage]) -> SqsBatchResponse {
        let span = tracing::info_span!("invocation", otel.kind = "consumer");
        let deadline = SystemTime::now() + Duration::from_secs(60);
        worker
            .run_batch(messages, deadline)
            .instrument(span)
            .await
            .into_response()
            .expect("every message has an id")
    }

    async fn item(&self, pk: &str, sk: &str) -> Option<HashMap<String, AttributeValue>> {
        self.dynamodb
            .get_item()
            .table_name(TABLE)
            .key(PARTITION_KEY, AttributeValue::S(pk.to_owned()))
            .key(SORT_KEY, AttributeValue::S(sk.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .expect("get item")
            .item
    }

    async fn notifications(&self, customer: &str) -> usize {
        self.dynamodb
            .scan()
            .table_name(TABLE)
            .filter_expression("begins_with(pk, :prefix) AND customer_id = :customer")
            .expression_attribute_values(":prefix", AttributeValue::S("NOTIFICATION#".to_owned()))
            .expression_attribute_values(":customer", AttributeValue::S(customer.to_owned()))
            .send()
            .await
            .expect("scan")
            .count as usize
    }

    async fn status(&self, customer: &str) -> Option<String> {
        let item = self.item(&format!("CUSTOMER#{customer}"), "SUBSCRIPTION").await?;
        item.get("status").and_then(|value| value.as_s().ok()).cloned()
    }
}

fn key(name: &str, key_type: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .unwrap()
}

fn attribute(name: &str) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .unwrap()
}

fn failed_ids(response: &SqsBatchResponse) -> Vec<&str> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect()
}

fn subscription_event(id: &str, customer: &str, status: &str, created: i64) -> Vec<u8> {
    json!({
        "id": id, "type": "customer.subscription.updated", "created": created, "livemode": false,
        "data": {"object": {"id": "sub_1", "object": "subscription", "customer": customer, "status": status}}
    })
    .to_string()
    .into_bytes()
}

fn number(item: &HashMap<String, AttributeValue>, name: &str) -> i64 {
    item[name].as_n().unwrap().parse().unwrap()
}

#[tokio::test]
async fn the_same_event_delivered_twice_has_one_effect() {
    let stack = Stack::start().await;
    let worker = stack.worker();
    let body = events::stripe("invoice.payment_failed");
    let first = stack.run(&worker, &[message("m-1", &body)]).await;
    let again = with_system_attribute(message("m-2", &body), "ApproximateReceiveCount", "2");
    let second = stack.run(&worker, &[again, message("m-3", &body)]).await;
    assert!(failed_ids(&first).is_empty() && failed_ids(&second).is_empty());

    assert_eq!(
        stack.notifications("cus_QxDemoCustomer02").await,
        1,
        "one notification"
    );
    assert_eq!(
        stack.status("cus_QxDemoCustomer02").await.as_deref(),
        Some("past_due")
    );
    let record = stack
        .item("EVENT#evt_1PqInvoicePaymentFailed02", "EVENT")
        .await
        .expect("recorded");
    assert_eq!(
        number(&record, "receive_count"),
        1,
        "the first delivery's record is kept"
    );
    for id in ["m-2", "m-3"] {
        let span = &stack.telemetry.spans.with_attribute("messaging.message.id", id)[0];
        assert_eq!(span.attr_bool("webhook.duplicate"), Some(true), "{id}");
    }
}

#[tokio::test]
async fn a_subscription_update_after_a_payment_failure_is_visible_and_order_is_kept() {
    let stack = Stack::start().await;
    let worker = stack.worker();
    let failure = json!({
        "id": "evt_fail", "type": "payment_intent.payment_failed", "created": 100, "livemode": false,
        "data": {"object": {"id": "pi_1", "customer": "cus_7", "last_payment_error": {"message": "Declined"}}}
    })
    .to_string()
    .into_bytes();
    stack.run(&worker, &[message("m-fail", &failure)]).await;
    assert_eq!(stack.status("cus_7").await.as_deref(), Some("past_due"));

    stack
        .run(
            &worker,
            &[message(
                "m-active",
                &subscription_event("evt_active", "cus_7", "active", 200),
            )],
        )
        .await;
    assert_eq!(stack.status("cus_7").await.as_deref(), Some("active"));

    // An older update delivered late is recorded but changes nothing.
    let response = stack
        .run(
            &worker,
            &[message(
                "m-late",
                &subscription_event("evt_late", "cus_7", "unpaid", 150),
            )],
        )
        .await;
    assert!(failed_ids(&response).is_empty());
    assert_eq!(stack.status("cus_7").await.as_deref(), Some("active"));
    let late = stack.item("EVENT#evt_late", "EVENT").await.expect("recorded");
    assert_eq!(late["outcome"].as_s().unwrap(), "superseded");
    let notification = stack
        .item("NOTIFICATION#evt_fail", "NOTIFICATION")
        .await
        .expect("pending");
    assert_eq!(notification["status"].as_s().unwrap(), "pending");
    assert_eq!(notification["reason"].as_s().unwrap(), "Declined");
    // The outbox item carries its processing span's context, under the messages' names.
    let span = &stack
        .telemetry
        .spans
        .with_attribute("messaging.message.id", "m-fail")[0];
    let context = notification["trace_context"].as_m().expect("a trace context map");
    let traceparent = context["traceparent"].as_s().expect("a W3C traceparent");
    assert_eq!(
        traceparent,
        &format!(
            "00-{}-{}-01",
            span.span_context.trace_id(),
            span.span_context.span_id()
        )
    );
}

#[tokio::test]
async fn an_injected_dynamodb_failure_fails_only_the_affected_message() {
    let stack = Stack::start().await;
    let failing = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&stack.sdk_config)
            .interceptor(FailRequestsMentioning("evt_1PqSubscriptionUpdated03"))
            .build(),
    );
    let batch = [
        message("m-ok-1", &events::stripe("payment_intent.payment_failed")),
        message("m-injected", &events::stripe("customer.subscription.updated")),
        message("m-ok-2", &events::stripe("charge.dispute.created")),
    ];
    let response = stack.run(&stack.worker_with(failing), &batch).await;
    assert_eq!(failed_ids(&response), ["m-injected"]);
    let span = &stack
        .telemetry
        .spans
        .with_attribute("messaging.message.id", "m-injected")[0];
    assert!(span.is_error());
    assert_eq!(
        span.attr_str("error.type").as_deref(),
        Some("dynamodb_unavailable")
    );
    assert!(
        stack
            .item("EVENT#evt_1PqSubscriptionUpdated03", "EVENT")
            .await
            .is_none()
    );
    assert!(
        stack
            .item("EVENT#evt_3PpFailedPaymentIntent01", "EVENT")
            .await
            .is_some()
    );
    assert!(
        stack
            .item("EVENT#evt_1PqDisputeCreated04", "EVENT")
            .await
            .is_some()
    );

    // SQS redelivers the failed message once DynamoDB is back: stored, exactly once.
    let redelivered = stack
        .run(
            &stack.worker(),
            &[message(
                "m-injected",
                &events::stripe("customer.subscription.updated"),
            )],
        )
        .await;
    assert!(failed_ids(&redelivered).is_empty());
    assert_eq!(
        stack.status("cus_QxDemoCustomer03").await.as_deref(),
        Some("active")
    );
}

#[tokio::test]
async fn each_dynamodb_call_is_a_client_span_under_its_message() {
    let stack = Stack::start().await;
    let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let batch = [with_attribute(
        with_system_attribute(
            message("m-1", &events::stripe("payment_intent.payment_failed")),
            "SentTimestamp",
            "1732000000123",
        ),
        "traceparent",
        traceparent,
    )];
    stack.run(&stack.worker(), &batch).await;
    let process = stack.telemetry.spans.one_named("process-webhook");
    let client = stack.telemetry.spans.one_named("DynamoDB.TransactWriteItems");
    assert!(client.is_child_of(&process));
    assert_eq!(client.span_kind, SpanKind::Client);
    assert_eq!(
        client.span_context.trace_id().to_string(),
        "0af7651916cd43dd8448eb211c80319c"
    );
    assert_eq!(client.attr_str("db.system.name").as_deref(), Some("aws.dynamodb"));
    assert_eq!(
        client.attr_str("rpc.method").as_deref(),
        Some("TransactWriteItems")
    );
    assert_eq!(client.attr_str("cloud.region").as_deref(), Some("us-east-1"));
    assert_eq!(
        client.attr("aws.dynamodb.table_names"),
        Some(Value::Array(Array::String(vec![TABLE.into()])))
    );

    let record = stack
        .item("EVENT#evt_3PpFailedPaymentIntent01", "EVENT")
        .await
        .expect("recorded");
    assert_eq!(
        record["trace_id"].as_s().unwrap(),
        "0af7651916cd43dd8448eb211c80319c"
    );
    assert_eq!(number(&record, "received_at_ms"), 1_732_000_000_123);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    let ttl = number(&record, "expires_at") - now;
    assert!(
        (89 * 86_400..=90 * 86_400).contains(&ttl),
        "kept for 90 days: {ttl}"
    );
}
