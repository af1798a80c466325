//! Publishing an accepted event to the SNS topic the worker's queue subscribes to (fan-out): a
//! PRODUCER span `publish <topic>` whose context travels in the notification's message
//! attributes and in the `Publish` request's `X-Amzn-Trace-Id` header, which SNS hands on to
//! each SQS subscription as `AWSTraceHeader`. FIFO topics get group and deduplication ids.

use std::future::Future;

use shared_telemetry::Telemetry;
use shared_telemetry::XRAY_TRACE_HEADER;
use shared_telemetry::attributes as attr;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use webhook_event::StripeEvent;

use crate::config::TopicArn;
use crate::queue::{fifo_ids, settle};
use crate::sink::{EventSink, SendError};

/// The SNS topic of a fan-out deployment.
#[derive(Debug, Clone)]
pub struct SnsTopic {
    client: aws_sdk_sns::Client,
    arn: TopicArn,
    telemetry: Telemetry,
}

impl SnsTopic {
    /// A topic at `arn`, published to with `client`.
    pub fn new(client: aws_sdk_sns::Client, arn: TopicArn, telemetry: Telemetry) -> Self {
        Self {
            client,
            arn,
            telemetry,
        }
    }

    async fn publish(&self, event: &StripeEvent, body: &str) -> Result<String, SendError> {
        let span = tracing::Span::current();
        let trace = self
            .telemetry
            .inject_into_sns(&span.context(), &Default::default());
        let mut request = self
            .client
            .publish()
            .topic_arn(self.arn.as_str())
            .message(body)
            .set_message_attributes(
                (!trace.message_attributes.is_empty()).then_some(trace.message_attributes),
            );
        if self.arn.is_fifo() {
            let (group, deduplication) = fifo_ids(event);
            request = request
                .message_group_id(group)
                .message_deduplication_id(deduplication);
        }
        let sent = match trace.xray_trace_header {
            // Replaces the header the SDK fills from the Lambda segment, which is not this span.
            Some(header) => {
                request
                    .customize()
                    .mutate_request(move |http| {
                        http.headers_mut().insert(XRAY_TRACE_HEADER, header.clone());
                    })
                    .send()
                    .await
            }
            None => request.send().await,
        };
        let sent = sent.map(|output| output.message_id);
        settle(&span, sent, "SNS Publish", self.arn.name(), "sns_publish_failed")
    }
}

impl EventSink for SnsTopic {
    fn send(
        &self,
        event: &StripeEvent,
        body: &str,
    ) -> impl Future<Output = Result<String, SendError>> + Send {
        let topic = self.arn.name();
        let span = tracing::info_span!(
            "publish",
            otel.name = format!("publish {topic}"),
            otel.kind = "producer",
            { attr::MESSAGING_SYSTEM } = attr::MESSAGING_SYSTEM_SNS,
            { attr::MESSAGING_OPERATION_NAME } = attr::MESSAGING_OPERATION_PUBLISH,
            { attr::MESSAGING_OPERATION_TYPE } = attr::MESSAGING_OPERATION_SEND,
            { attr::MESSAGING_DESTINATION_NAME } = topic,
            { attr::AWS_SNS_TOPIC_ARN } = self.arn.as_str(),
            { attr::RPC_SYSTEM } = attr::RPC_SYSTEM_AWS_API,
            { attr::RPC_SERVICE } = "SNS",
            { attr::RPC_METHOD } = "Publish",
            { attr::WEBHOOK_EVENT_ID } = event.id().as_str(),
            { attr::WEBHOOK_TYPE } = event.event_type(),
        );
        shared_telemetry::index_event_id(&span);
        self.publish(event, body).instrument(span)
    }
}
