//! The one destination a deployment sends accepted events to, chosen at cold start from the
//! configuration: the worker's queue, or the topic it subscribes to.

use webhook_event::StripeEvent;

use crate::queue::{EventQueue, QueueError, SqsEventQueue};
use crate::topic::SnsEventTopic;

/// The queue or the topic.
#[derive(Debug, Clone)]
pub enum EventDestination {
    Queue(SqsEventQueue),
    Topic(SnsEventTopic),
}

impl EventQueue for EventDestination {
    async fn enqueue(&self, event: &StripeEvent, body: &str) -> Result<String, QueueError> {
        match self {
            EventDestination::Queue(queue) => queue.enqueue(event, body).await,
            EventDestination::Topic(topic) => topic.enqueue(event, body).await,
        }
    }
}
