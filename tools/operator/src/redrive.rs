//! The DLQ's messages back onto their queue.
//!
//! In AWS: SQS `StartMessageMoveTask` from the DLQ to its source queue, polled with
//! `ListMessageMoveTasks` until it ends. moto has no move task, so locally the move is emulated
//! the same way SQS does it: receive, send to the queue with the same body, message attributes
//! and `AWSTraceHeader`, then delete from the DLQ. Either way a redriven message keeps its trace
//! context, so its next attempt joins its producer's trace.

use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{
    Message, MessageSystemAttributeName, MessageSystemAttributeNameForSends, MessageSystemAttributeValue,
    QueueAttributeName,
};

use crate::environment::{Environment, Location};
use crate::{OperatorError, dead_letters};

/// How a redrive moves messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mover {
    /// SQS's own move task (AWS).
    MoveTask,
    /// Receive, send, delete (moto, which has no move task).
    Emulated,
}

impl Mover {
    /// The move task in AWS; receive, send and delete locally (moto has no move task).
    pub fn for_environment(environment: &Environment) -> Self {
        match environment.location {
            Location::Local => Self::Emulated,
            Location::Aws { .. } => Self::MoveTask,
        }
    }
}

/// How long to wait, and how often to look.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// How often the move task is polled.
    pub poll_every: Duration,
    /// How long the redrive waits for it.
    pub deadline: Duration,
}

impl Default for Pace {
    fn default() -> Self {
        Self {
            poll_every: Duration::from_secs(2),
            deadline: Duration::from_secs(30 * 60),
        }
    }
}

/// Progress of a redrive: moved so far, of how many (when SQS says).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Messages moved so far.
    pub moved: u64,
    /// Messages to move, when SQS says.
    pub to_move: Option<u64>,
}

/// Why a redrive stopped short.
#[derive(Debug, thiserror::Error)]
pub enum RedriveError {
    /// The redrive could not start or read the queues.
    #[error(transparent)]
    Operator(#[from] OperatorError),
    /// SQS ended the move task without moving everything.
    #[error("the move task ended {status}: {reason} ({moved} messages moved)")]
    TaskFailed {
        /// The task's final status.
        status: String,
        /// SQS's reason.
        reason: String,
        /// Messages moved before it ended.
        moved: u64,
    },
    /// The move task was still running at the deadline.
    #[error("the move task was still running after {0:?}; it goes on in SQS (see ListMessageMoveTasks)")]
    TimedOut(Duration),
}

/// Moves every message in the environment's DLQ back to its queue, reporting progress; the
/// number moved.
pub async fn redrive(
    environment: &Environment,
    mover: Mover,
    pace: Pace,
    mut progress: impl FnMut(Progress),
) -> Result<u64, RedriveError> {
    let sqs = environment.sqs();
    match mover {
        Mover::MoveTask => move_task(&sqs, &environment.dlq_url, pace, &mut progress).await,
        Mover::Emulated => emulated(&sqs, &environment.dlq_url, &environment.queue_url, &mut progress).await,
    }
}

async fn move_task(
    sqs: &aws_sdk_sqs::Client,
    dlq_url: &str,
    pace: Pace,
    progress: &mut impl FnMut(Progress),
) -> Result<u64, RedriveError> {
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .map_err(|error| OperatorError::aws("SQS", "GetQueueAttributes", error))?;
    let attribute = |name: QueueAttributeName| {
        attributes
            .attributes()
            .and_then(|map| map.get(&name))
            .cloned()
            .unwrap_or_default()
    };
    let dlq_arn = attribute(QueueAttributeName::QueueArn);
    if attribute(QueueAttributeName::ApproximateNumberOfMessages) == "0" {
        return Ok(0);
    }
    // Without a destination, SQS moves each message back to the queue it was dead-lettered from.
    sqs.start_message_move_task()
        .source_arn(&dlq_arn)
        .send()
        .await
        .map_err(|error| OperatorError::aws("SQS", "StartMessageMoveTask", error))?;
    let started = Instant::now();
    loop {
        let tasks = sqs
            .list_message_move_tasks()
            .source_arn(&dlq_arn)
            .max_results(1)
            .send()
            .await
            .map_err(|error| OperatorError::aws("SQS", "ListMessageMoveTasks", error))?;
        if let Some(task) = tasks.results().first() {
            let moved = u64::try_from(task.approximate_number_of_messages_moved()).unwrap_or_default();
            let to_move = task
                .approximate_number_of_messages_to_move()
                .and_then(|count| u64::try_from(count).ok());
            progress(Progress { moved, to_move });
            match task.status().unwrap_or_default() {
                "COMPLETED" => return Ok(moved),
                "RUNNING" | "CANCELLING" => {}
                status => {
                    return Err(RedriveError::TaskFailed {
                        status: status.to_owned(),
                        reason: task.failure_reason().unwrap_or("no reason given").to_owned(),
                        moved,
                    });
                }
            }
        }
        if started.elapsed() > pace.deadline {
            return Err(RedriveError::TimedOut(pace.deadline));
        }
        tokio::time::sleep(pace.poll_every).await;
    }
}

async fn emulated(
    sqs: &aws_sdk_sqs::Client,
    dlq_url: &str,
    queue_url: &str,
    progress: &mut impl FnMut(Progress),
) -> Result<u64, RedriveError> {
    let mut moved = 0;
    loop {
        let messages = dead_letters::receive_page(sqs, dlq_url, 60).await?;
        if messages.is_empty() {
            return Ok(moved);
        }
        for message in &messages {
            send_back(sqs, queue_url, message).await?;
            // Deleted only once the queue has it: a failure here leaves a copy in each, never none.
            if let Some(receipt) = &message.receipt_handle {
                sqs.delete_message()
                    .queue_url(dlq_url)
                    .receipt_handle(receipt)
                    .send()
                    .await
                    .map_err(|error| OperatorError::aws("SQS", "DeleteMessage", error))?;
            }
            moved += 1;
        }
        progress(Progress { moved, to_move: None });
    }
}

/// The message as its producer sent it: body, message attributes, `AWSTraceHeader`, and on a
/// FIFO queue its group and deduplication id.
async fn send_back(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    message: &Message,
) -> Result<(), OperatorError> {
    let system = |name: MessageSystemAttributeName| {
        message
            .attributes
            .as_ref()
            .and_then(|attributes| attributes.get(&name))
            .cloned()
    };
    let mut request = sqs
        .send_message()
        .queue_url(queue_url)
        .message_body(message.body.clone().unwrap_or_default())
        .set_message_attributes(message.message_attributes.clone().filter(|map| !map.is_empty()));
    if let Some(header) = system(MessageSystemAttributeName::AwsTraceHeader) {
        let value = MessageSystemAttributeValue::builder()
            .data_type("String")
            .string_value(header)
            .build()
            .map_err(|error| OperatorError::aws("SQS", "SendMessage", error))?;
        request =
            request.message_system_attributes(MessageSystemAttributeNameForSends::AwsTraceHeader, value);
    }
    if queue_url.ends_with(".fifo") {
        request = request
            .set_message_group_id(system(MessageSystemAttributeName::MessageGroupId))
            .set_message_deduplication_id(system(MessageSystemAttributeName::MessageDeduplicationId));
    }
    request
        .send()
        .await
        .map_err(|error| OperatorError::aws("SQS", "SendMessage", error))?;
    Ok(())
}
