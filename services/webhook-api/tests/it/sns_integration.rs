//! The intake publishing to an SNS topic on a moto server (fan-out): one topic, two subscribed
//! queues, one with raw message delivery and one without, and each queue's copy leads back to
//! the exported `publish` span, through the SQS message attributes (raw) or the notification
//! envelope's. A FIFO topic gets the group and deduplication ids; the `Publish` request carries
//! the `publish` span as its `X-Amzn-Trace-Id` header, which SNS hands on as `AWSTraceHeader`.

// Integration tests: a failed expectation is a failed test, not a crash on input.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::{SystemTime, UNIX_EPOCH};

use aws_lambda_events::sqs::{SqsMessage, SqsMessageAttribute};
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName, QueueAttributeName};
use moto_server::{MotoServer, sdk_config_for};
use moto_server::{Recorded, RecordedApi};
use opentelemetry::trace::SpanKind;
use shared_telemetry::UpstreamCarrier;
use stripe_signature::{SigningSecrets, sign};
use test_support::events;
use test_support::spans::SpanDataExt;
use test_telemetry::TestTelemetry;
use tracing::Instrument;
use webhook_api::config::{Limits, TopicArn};
use webhook_api::intake::{IncomingRequest, WebhookIntake};
use webhook_api::topic::SnsTopic;
use webhook_event::Envelope;

const SECRET: &str = "whsec_integration_secret";

struct Stack {
    _moto: MotoServer,
    sns: aws_sdk_sns::Client,
    sqs: aws_sdk_sqs::Client,
    telemetry: TestTelemetry,
}

impl Stack {
    async fn start() -> Self {
        let moto = MotoServer::start();
        let sdk = moto.sdk_config().await;
        Stack {
            _moto: moto,
            sns: aws_sdk_sns::Client::new(&sdk),
            sqs: aws_sdk_sqs::Client::new(&sdk),
            telemetry: TestTelemetry::new(&[("OTEL_PROPAGATORS", "tracecontext,baggage,xray")]),
        }
    }

    async fn create_topic(&self, name: &str) -> String {
        let mut request = self.sns.create_topic().name(name);
        if name.ends_with(".fifo") {
            request = request.attributes("FifoTopic", "true");
        }
        request
            .send()
            .await
            .expect("create topic")
            .topic_arn
            .expect("arn")
    }

    /// A queue subscribed to `topic`; its URL.
    async fn subscribed_queue(&self, topic: &str, name: &str, raw: bool) -> String {
        let mut request = self.sqs.create_queue().queue_name(name);
        if name.ends_with(".fifo") {
            request = request.attributes(QueueAttributeName::FifoQueue, "true");
        }
        let url = request
            .send()
            .await
            .expect("create queue")
            .queue_url
            .expect("url");
        let arn = self
            .sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("queue attributes")
            .attributes
            .and_then(|attributes| attributes.get(&QueueAttributeName::QueueArn).cloned())
            .expect("queue arn");
        let mut subscription = self
            .sns
            .subscribe()
            .topic_arn(topic)
            .protocol("sqs")
            .endpoint(arn);
        // moto reads any value, "false" included, as raw delivery: set it only to turn it on.
        if raw {
            subscription = subscription.attributes("RawMessageDelivery", "true");
        }
        subscription.send().await.expect("subscribe");
        url
    }

    fn intake(&self, topic: &str) -> WebhookIntake<SnsTopic> {
        let topic = SnsTopic::new(
            self.sns.clone(),
            TopicArn::parse(topic).expect("a topic ARN"),
            self.telemetry.telemetry.clone(),
        );
        WebhookIntake::new(topic, SigningSecrets::parse(SECRET).unwrap(), Limits::default())
    }

    async fn receive_one(&self, queue_url: &str) -> Message {
        let mut messages = self
            .sqs
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
            .unwrap_or_default();
        assert_eq!(messages.len(), 1, "one copy on {queue_url}");
        messages.remove(0)
    }
}

/// A signed webhook accepted by `intake` inside an invocation span; its 202 body.
async fn accept<Q: webhook_api::sink::EventSink>(
    intake: &WebhookIntake<Q>,
    body: &[u8],
) -> serde_json::Value {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    let signature = sign(SECRET, now, body);
    let request = IncomingRequest {
        method: "POST",
        path: "/webhooks/stripe",
        content_type: Some("application/json"),
        signature: Some(&signature),
        body,
    };
    let span = tracing::info_span!("invocation", otel.kind = "server");
    let response = intake.handle(request, now).instrument(span).await;
    assert_eq!(response.status, 202, "{}", response.body);
    serde_json::from_str(&response.body).unwrap()
}

/// The message as Lambda hands it to the worker.
fn as_delivered(message: &Message) -> SqsMessage {
    let mut delivered = SqsMessage::default();
    delivered.message_id = message.message_id.clone();
    delivered.body = message.body.clone();
    for (name, value) in message.message_attributes().into_iter().flatten() {
        let mut attribute = SqsMessageAttribute::default();
        attribute.data_type = Some(value.data_type().to_owned());
        attribute.string_value = value.string_value().map(str::to_owned);
        delivered.message_attributes.insert(name.clone(), attribute);
    }
    for (name, value) in message.attributes().into_iter().flatten() {
        delivered
            .attributes
            .insert(name.as_str().to_owned(), value.clone());
    }
    delivered
}

#[tokio::test]
async fn both_subscriptions_lead_back_to_the_publish_span_raw_or_enveloped() {
    let stack = Stack::start().await;
    let topic = stack.create_topic("webhooks-events").await;
    let raw_queue = stack.subscribed_queue(&topic, "webhooks-raw", true).await;
    let enveloped_queue = stack.subscribed_queue(&topic, "webhooks-enveloped", false).await;
    let body = events::stripe("payment_intent.payment_failed");
    let response = accept(&stack.intake(&topic), &body).await;

    let publish = stack.telemetry.spans.one_named("publish webhooks-events");
    assert_eq!(publish.span_kind, SpanKind::Producer);
    assert!(publish.is_child_of(&stack.telemetry.spans.one_named("invocation")));
    assert_eq!(publish.attr_str("messaging.system").as_deref(), Some("aws.sns"));
    assert_eq!(
        publish.attr_str("messaging.operation.name").as_deref(),
        Some("publish")
    );
    assert_eq!(
        publish.attr_str("aws.sns.topic.arn").as_deref(),
        Some(topic.as_str())
    );
    assert_eq!(publish.attr_str("rpc.service").as_deref(), Some("SNS"));
    let sns_message_id = publish.attr_str("messaging.message.id").expect("SNS MessageId");
    assert_eq!(response["message_id"], sns_message_id.as_str());

    let raw = as_delivered(&stack.receive_one(&raw_queue).await);
    assert_eq!(
        raw.body.as_deref().unwrap().as_bytes(),
        &body[..],
        "raw delivery: the event itself"
    );
    let envelope = Envelope::open(raw.body.as_deref().unwrap()).unwrap();
    let upstream = stack.telemetry.telemetry.extract_from_sqs(&raw, envelope.sns());
    assert_eq!(upstream.carrier(), UpstreamCarrier::MessageAttributes);
    assert_eq!(upstream.span_context().span_id(), publish.span_context.span_id());
    assert_eq!(
        upstream.span_context().trace_id(),
        publish.span_context.trace_id()
    );

    let enveloped = as_delivered(&stack.receive_one(&enveloped_queue).await);
    assert!(
        enveloped.message_attributes.is_empty(),
        "SNS puts them in the envelope"
    );
    let envelope = Envelope::open(enveloped.body.as_deref().unwrap()).unwrap();
    assert_eq!(
        envelope.payload().as_bytes(),
        &body[..],
        "the event is the envelope's Message"
    );
    let notification = envelope.sns().expect("an SNS notification");
    assert_eq!(notification.topic_arn, topic);
    assert_eq!(notification.message_id, sns_message_id);
    let upstream = stack
        .telemetry
        .telemetry
        .extract_from_sqs(&enveloped, envelope.sns());
    assert_eq!(upstream.carrier(), UpstreamCarrier::SnsMessageAttributes);
    assert_eq!(upstream.span_context().span_id(), publish.span_context.span_id());
}

#[tokio::test]
async fn a_fifo_topic_gets_the_customers_group_and_the_event_id_for_deduplication() {
    let stack = Stack::start().await;
    let topic = stack.create_topic("webhooks-events.fifo").await;
    let queue = stack.subscribed_queue(&topic, "webhooks.fifo", true).await;
    let intake = stack.intake(&topic);
    let body = events::stripe("payment_intent.payment_failed");
    accept(&intake, &body).await;
    // The same event again (Stripe retries): deduplicated, one copy on the queue.
    accept(&intake, &body).await;

    let message = stack.receive_one(&queue).await;
    let group = message
        .attributes()
        .and_then(|attributes| attributes.get(&MessageSystemAttributeName::MessageGroupId))
        .cloned();
    let event: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(group.as_deref(), event["data"]["object"]["customer"].as_str());
}

#[tokio::test]
async fn the_publish_request_carries_the_publish_span_as_its_trace_header() {
    let telemetry = TestTelemetry::new(&[("OTEL_PROPAGATORS", "tracecontext,baggage,xray")]);
    let published = r#"<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>0b2d3c4e-5f60-4a1b-9c2d-3e4f5a6b7c8d</MessageId></PublishResult><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></PublishResponse>"#;
    let sns_api = RecordedApi::start([("/", vec![Recorded::ok(published)])])
        .await
        .unwrap();
    let sns = aws_sdk_sns::Client::new(&sdk_config_for(&sns_api.endpoint()).await);
    let topic = SnsTopic::new(
        sns,
        TopicArn::parse("arn:aws:sns:us-east-1:123456789012:webhooks-events").unwrap(),
        telemetry.telemetry.clone(),
    );
    let intake = WebhookIntake::new(topic, SigningSecrets::parse(SECRET).unwrap(), Limits::default());
    let response = accept(&intake, &events::stripe("payment_intent.payment_failed")).await;
    assert_eq!(response["message_id"], "0b2d3c4e-5f60-4a1b-9c2d-3e4f5a6b7c8d");

    let publish = telemetry.spans.one_named("publish webhooks-events");
    let requests = sns_api.received();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].header("x-amzn-trace-id"),
        Some(publish.xray_header().as_str()),
        "SNS passes this header on to its subscriptions as AWSTraceHeader"
    );
    assert!(requests[0].body.contains("Action=Publish"));
    assert!(requests[0].body.contains("traceparent"), "{}", requests[0].body);
}
