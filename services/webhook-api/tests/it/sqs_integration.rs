//! The real Lambda handler against SQS on a moto server: a signed event arrives as an API
//! Gateway request and is read back from the queue with the trace context of the exported
//! `send` span; a refused request queues nothing; SQS failing answers 503.

// Integration tests: a failed expectation is a failed test, not a crash on input.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_sqs::types::{Message, MessageSystemAttributeName, QueueAttributeName};
use moto_server::MotoServer;
use opentelemetry::trace::SpanKind;
use serde_json::Value;
use stripe_signature::{SigningSecrets, sign};
use test_support::events::{self, GatewayEvent};
use test_support::spans::SpanDataExt;
use test_telemetry::TestTelemetry;
use tracing::Instrument;
use webhook_api::config::{Limits, QueueUrl};
use webhook_api::intake::WebhookIntake;
use webhook_api::lambda::{GatewayRequest, handle_request};
use webhook_api::queue::SqsQueue;

const SECRET: &str = "whsec_integration_secret";

struct Stack {
    _moto: MotoServer,
    sqs: aws_sdk_sqs::Client,
    telemetry: TestTelemetry,
}

impl Stack {
    async fn start(otel_vars: &[(&str, &str)]) -> Self {
        let moto = MotoServer::start();
        let sqs = aws_sdk_sqs::Client::new(&moto.sdk_config().await);
        Stack {
            _moto: moto,
            sqs,
            telemetry: TestTelemetry::new(otel_vars),
        }
    }

    async fn create_queue(&self, name: &str) -> String {
        let mut request = self.sqs.create_queue().queue_name(name);
        if name.ends_with(".fifo") {
            request = request.attributes(QueueAttributeName::FifoQueue, "true");
        }
        request
            .send()
            .await
            .expect("create queue")
            .queue_url
            .expect("queue url")
    }

    fn intake(&self, queue_url: &str) -> WebhookIntake<SqsQueue> {
        let queue = SqsQueue::new(
            self.sqs.clone(),
            QueueUrl::parse(queue_url).expect("valid queue url"),
            self.telemetry.telemetry.clone(),
        );
        WebhookIntake::new(queue, SigningSecrets::parse(SECRET).unwrap(), Limits::default())
    }

    /// The handler inside an invocation span, as the Lambda runtime layer runs it.
    async fn invoke(&self, intake: &WebhookIntake<SqsQueue>, request: GatewayRequest) -> (u16, Value) {
        let span = tracing::info_span!("invocation", otel.kind = "server");
        let response = handle_request(intake, &request).instrument(span).await;
        let status = response.status();
        let body = serde_json::from_str(response.body()).expect("JSON body");
        (status, body)
    }

    async fn receive_all(&self, queue_url: &str) -> Vec<Message> {
        self.sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .wait_time_seconds(0)
            .send()
            .await
            .expect("receive")
            .messages
            .unwrap_or_default()
    }
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// An API Gateway request (`envelope` is a file in `events/lambda/`) carrying `body`.
fn gateway_request(envelope: &str, body: &[u8], signature: Option<&str>, base64: bool) -> GatewayRequest {
    let event = match envelope {
        "apigw-rest-request" => GatewayEvent::rest(body),
        _ => GatewayEvent::http(body),
    };
    let event = event.header("stripe-signature", signature).base64(base64);
    serde_json::from_str(&event.to_json()).expect("a valid API Gateway event")
}

fn message_attributes(message: &Message) -> HashMap<String, String> {
    message
        .message_attributes()
        .map(|attributes| {
            attributes
                .iter()
                .map(|(name, value)| (name.clone(), value.string_value().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

fn aws_trace_header(message: &Message) -> Option<String> {
    message
        .attributes()
        .and_then(|attributes| attributes.get(&MessageSystemAttributeName::AwsTraceHeader))
        .cloned()
}

#[tokio::test]
async fn a_signed_rest_api_request_is_queued_with_the_send_spans_context() {
    let stack = Stack::start(&[("OTEL_PROPAGATORS", "tracecontext,baggage,xray")]).await;
    let queue_url = stack.create_queue("webhooks").await;
    let intake = stack.intake(&queue_url);
    let body = events::stripe("payment_intent.payment_failed");
    let signature = sign(SECRET, unix_now(), &body);

    let (status, response) = stack
        .invoke(
            &intake,
            gateway_request("apigw-rest-request", &body, Some(&signature), false),
        )
        .await;
    assert_eq!(status, 202, "{response}");

    let messages = stack.receive_all(&queue_url).await;
    assert_eq!(messages.len(), 1);
    let message = &messages[0];
    assert_eq!(
        message.body().unwrap().as_bytes(),
        &body[..],
        "the original JSON is queued"
    );
    assert_eq!(response["message_id"], message.message_id().unwrap());
    assert_eq!(response["event_id"], "evt_3PpFailedPaymentIntent01");

    let send = stack.telemetry.spans.one_named("send webhooks");
    assert_eq!(send.span_kind, SpanKind::Producer);
    assert!(send.is_child_of(&stack.telemetry.spans.one_named("invocation")));
    assert_eq!(send.attr_str("messaging.system").as_deref(), Some("aws_sqs"));
    assert_eq!(
        send.attr_str("messaging.destination.name").as_deref(),
        Some("webhooks")
    );
    assert_eq!(
        send.attr_str("aws.sqs.queue.url").as_deref(),
        Some(queue_url.as_str()),
        "Application Signals names the queue from its URL"
    );
    assert_eq!(
        send.attr_str("messaging.message.id").as_deref(),
        message.message_id()
    );
    assert_eq!(
        send.attr_str("webhook.event_id").as_deref(),
        Some("evt_3PpFailedPaymentIntent01")
    );
    assert!(
        send.attr_str("aws.xray.annotations")
            .is_some_and(|keys| keys.contains("webhook.event_id"))
    );
    assert_eq!(
        send.attr_str("webhook.type").as_deref(),
        Some("payment_intent.payment_failed")
    );

    let attributes = message_attributes(message);
    let expected_traceparent = format!(
        "00-{}-{}-01",
        send.span_context.trace_id(),
        send.span_context.span_id()
    );
    assert_eq!(attributes.get("traceparent"), Some(&expected_traceparent));
    assert_eq!(attributes.get("X-Amzn-Trace-Id"), Some(&send.xray_header()));
    assert_eq!(aws_trace_header(message), Some(send.xray_header()));
}

#[tokio::test]
async fn with_tracecontext_only_the_system_attribute_still_carries_xray() {
    let stack = Stack::start(&[("OTEL_PROPAGATORS", "tracecontext")]).await;
    let queue_url = stack.create_queue("webhooks").await;
    let intake = stack.intake(&queue_url);
    let body = events::stripe("invoice.payment_failed");
    let signature = sign(SECRET, unix_now(), &body);

    let (status, _) = stack
        .invoke(
            &intake,
            gateway_request("apigw-http-request", &body, Some(&signature), false),
        )
        .await;
    assert_eq!(status, 202);
    let message = stack.receive_all(&queue_url).await.remove(0);
    let attributes = message_attributes(&message);
    let mut names: Vec<&String> = attributes.keys().collect();
    names.sort();
    assert_eq!(names, ["traceparent"]);
    let send = stack.telemetry.spans.one_named("send webhooks");
    assert_eq!(aws_trace_header(&message), Some(send.xray_header()));
}

#[tokio::test]
async fn a_base64_encoded_body_from_api_gateway_is_verified_on_the_decoded_bytes() {
    let stack = Stack::start(&[]).await;
    let queue_url = stack.create_queue("webhooks").await;
    let intake = stack.intake(&queue_url);
    let body = events::stripe("customer.subscription.updated");
    let signature = sign(SECRET, unix_now(), &body);
    let (status, _) = stack
        .invoke(
            &intake,
            gateway_request("apigw-rest-request", &body, Some(&signature), true),
        )
        .await;
    assert_eq!(status, 202);
    let message = stack.receive_all(&queue_url).await.remove(0);
    assert_eq!(message.body().unwrap().as_bytes(), &body[..]);
}

#[tokio::test]
async fn a_refused_request_queues_nothing() {
    let stack = Stack::start(&[]).await;
    let queue_url = stack.create_queue("webhooks").await;
    let intake = stack.intake(&queue_url);
    let body = events::stripe("invoice.payment_failed");
    let forged = sign("whsec_not_ours", unix_now(), &body);
    for signature in [None, Some(forged.as_str())] {
        let (status, _) = stack
            .invoke(
                &intake,
                gateway_request("apigw-http-request", &body, signature, false),
            )
            .await;
        assert_eq!(status, 401);
    }
    assert!(stack.receive_all(&queue_url).await.is_empty());
    assert!(
        stack.telemetry.spans.named("send webhooks").is_empty(),
        "no send was attempted"
    );
}

#[tokio::test]
async fn sqs_refusing_the_send_answers_503_and_the_send_span_is_an_error() {
    let stack = Stack::start(&[]).await;
    let existing = stack.create_queue("webhooks").await;
    let missing = existing.replace("/webhooks", "/deleted-queue");
    let intake = stack.intake(&missing);
    let body = events::stripe("invoice.payment_failed");
    let signature = sign(SECRET, unix_now(), &body);
    let (status, response) = stack
        .invoke(
            &intake,
            gateway_request("apigw-http-request", &body, Some(&signature), false),
        )
        .await;
    assert_eq!(
        (status, response["error"]["code"].as_str()),
        (503, Some("queue_unavailable"))
    );
    let send = stack.telemetry.spans.one_named("send deleted-queue");
    assert!(send.is_error() && send.has_event("exception"));
    assert_eq!(send.attr_str("error.type").as_deref(), Some("sqs_send_failed"));
    assert!(stack.receive_all(&existing).await.is_empty());
}

#[tokio::test]
async fn a_fifo_queue_gets_the_customer_as_group_and_the_event_as_deduplication_id() {
    let stack = Stack::start(&[]).await;
    let queue_url = stack.create_queue("webhooks.fifo").await;
    let intake = stack.intake(&queue_url);
    let body = events::stripe("invoice.payment_failed");
    let signature = sign(SECRET, unix_now(), &body);
    let (status, _) = stack
        .invoke(
            &intake,
            gateway_request("apigw-http-request", &body, Some(&signature), false),
        )
        .await;
    assert_eq!(status, 202);
    let message = stack.receive_all(&queue_url).await.remove(0);
    let system = message.attributes().unwrap();
    assert_eq!(
        system
            .get(&MessageSystemAttributeName::MessageGroupId)
            .map(String::as_str),
        Some("cus_QxDemoCustomer02")
    );
    assert_eq!(
        system
            .get(&MessageSystemAttributeName::MessageDeduplicationId)
            .map(String::as_str),
        Some("evt_1PqInvoicePaymentFailed02")
    );
}
