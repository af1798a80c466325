//! The one destination a deployment sends accepted events to, chosen at cold start from the
//! configuration: the worker's queue, or the topic it subscribes to.

use webhook_event::StripeEvent;

use crate::queue::SqsQueue;
use crate::sink::{EventSink, SendError};
use crate::topic::SnsTopic;

/// The queue or the topic.
#[derive(Debug, Clone)]
pub enum ConfiguredSink {
    /// SQS directly.
    Queue(SqsQueue),
    /// An SNS topic in front of the queue.
    Topic(SnsTopic),
}

impl EventSink for ConfiguredSink {
    async fn send(&self, event: &StripeEvent, body: &str) -> Result<String, SendError> {
        match self {
            ConfiguredSink::Queue(queue) => queue.send(event, body).await,
            ConfiguredSink::Topic(topic) => topic.send(event, body).await,
        }
    }
}
