//! The SQS event source mapping, emulated with Lambda's semantics: long-poll the queue, gather a
//! batch until it is full or the batching window closes, invoke the worker with a real
//! `SqsEvent` (message attributes and `AWSTraceHeader` included), then delete exactly the
//! messages not listed in `batchItemFailures`. Failed messages reappear after the visibility
//! timeout, so the queue's redrive policy moves repeat failures to the DLQ; a failed invocation
//! leaves the whole batch.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage, SqsMessageAttribute};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use tokio::sync::watch;

use crate::lambda_service::LambdaService;
use tokio::time::Instant;

/// SQS returns at most 10 messages per receive and deletes at most 10 per batch call.
const SQS_PAGE: usize = 10;

/// How the mapping polls and batches.
#[derive(Debug, Clone)]
pub struct MappingConfig {
    /// The queue's URL.
    pub queue_url: String,
    /// The queue's ARN, as the SQS event carries it.
    pub queue_arn: String,
    /// The region, as the SQS event carries it.
    pub region: String,
    /// The largest batch.
    pub batch_size: usize,
    /// How long a batch may gather.
    pub batching_window: Duration,
    /// The worker, where Lambda runs it.
    pub lambda: Arc<LambdaService>,
    /// The function invoked.
    pub function: String,
}

/// One worker invocation, as the mapping saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvocationRecord {
    /// The messages of the batch.
    pub message_ids: Vec<String>,
    /// Listed in `batchItemFailures`, or every message when the invocation failed.
    pub failed_ids: Vec<String>,
    /// Whether the invocation failed as a whole (no partial response).
    pub invocation_failed: bool,
}

/// Invocations so far, shared with whoever watches the mapping.
#[derive(Debug, Clone, Default)]
pub struct MappingLog(Arc<Mutex<Vec<InvocationRecord>>>);

impl MappingLog {
    /// Every invocation so far.
    pub fn invocations(&self) -> Vec<InvocationRecord> {
        self.0.lock().map(|log| log.clone()).unwrap_or_default()
    }

    fn push(&self, record: InvocationRecord) {
        if let Ok(mut log) = self.0.lock() {
            log.push(record);
        }
    }
}

/// A running mapping; stops when [`EventSourceMapping::stop`] is called or it is dropped.
#[derive(Debug)]
pub struct EventSourceMapping {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    log: MappingLog,
}

impl EventSourceMapping {
    /// Starts polling the queue with `sqs`.
    pub fn start(sqs: aws_sdk_sqs::Client, config: MappingConfig) -> Self {
        let (stop, stopped) = watch::channel(false);
        let log = MappingLog::default();
        let poller = Poller {
            sqs,
            config,
            log: log.clone(),
        };
        let task = tokio::spawn(poller.run(stopped));
        Self { stop, task, log }
    }

    /// What it has invoked so far.
    pub fn log(&self) -> MappingLog {
        self.log.clone()
    }

    /// Stops polling; an invocation in flight completes first.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

struct Poller {
    sqs: aws_sdk_sqs::Client,
    config: MappingConfig,
    log: MappingLog,
}

impl Poller {
    async fn run(self, mut stopped: watch::Receiver<bool>) {
        loop {
            let batch = tokio::select! {
                batch = self.gather_batch() => batch,
                _ = stopped.changed() => return,
            };
            match batch {
                Ok(batch) if batch.is_empty() => {}
                Ok(batch) => self.deliver(batch).await,
                Err(error) => {
                    eprintln!("event source mapping: receive failed: {error}");
                    // The emulator may be shutting down; wait before polling again.
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = stopped.changed() => return,
                    }
                }
            }
            if *stopped.borrow() {
                return;
            }
        }
    }

    /// Long-polls until a batch is full or the batching window, opened by the first message,
    /// closes. Returns an empty batch after one idle poll so the stop signal is seen.
    async fn gather_batch(&self) -> Result<Vec<Message>, String> {
        let mut batch: Vec<Message> = Vec::new();
        let mut window_closes: Option<Instant> = None;
        loop {
            let wait_seconds = match window_closes {
                None => 1,
                Some(closes) => match closes.checked_duration_since(Instant::now()) {
                    Some(left) if left >= Duration::from_secs(1) => 1,
                    Some(_) => 0,
                    None => return Ok(batch),
                },
            };
            let wanted = (self.config.batch_size - batch.len()).min(SQS_PAGE);
            let received = self
                .sqs
                .receive_message()
                .queue_url(&self.config.queue_url)
                .max_number_of_messages(wanted as i32)
                .wait_time_seconds(wait_seconds)
                .message_attribute_names("All")
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .send()
                .await
                .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
            batch.extend(received.messages.unwrap_or_default());
            if batch.is_empty() {
                return Ok(batch);
            }
            let closes = *window_closes.get_or_insert_with(|| Instant::now() + self.config.batching_window);
            if batch.len() >= self.config.batch_size || Instant::now() >= closes {
                return Ok(batch);
            }
        }
    }

    async fn deliver(&self, batch: Vec<Message>) {
        let event = self.sqs_event(&batch);
        let message_ids: Vec<String> = batch.iter().filter_map(|m| m.message_id.clone()).collect();
        let failed: Option<HashSet<String>> = match self.invoke(&event).await {
            Ok(response) => Some(
                response
                    .batch_item_failures
                    .into_iter()
                    .map(|failure| failure.item_identifier)
                    .collect(),
            ),
            Err(error) => {
                eprintln!(
                    "event source mapping: worker invocation failed, the batch stays on the queue: {error}"
                );
                None
            }
        };
        let invocation_failed = failed.is_none();
        let failed = failed.unwrap_or_else(|| message_ids.iter().cloned().collect());
        let done: Vec<&Message> = batch
            .iter()
            .filter(|message| message.message_id.as_ref().is_some_and(|id| !failed.contains(id)))
            .collect();
        for page in done.chunks(SQS_PAGE) {
            let entries: Vec<DeleteMessageBatchRequestEntry> = page
                .iter()
                .enumerate()
                .filter_map(|(index, message)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(index.to_string())
                        .set_receipt_handle(message.receipt_handle.clone())
                        .build()
                        .ok()
                })
                .collect();
            let deleted = self
                .sqs
                .delete_message_batch()
                .queue_url(&self.config.queue_url)
                .set_entries(Some(entries))
                .send()
                .await;
            if let Err(error) = deleted {
                eprintln!(
                    "event source mapping: delete failed, messages will be redelivered: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(error)
                );
            }
        }
        let mut failed_ids: Vec<String> = failed.into_iter().collect();
        failed_ids.sort();
        self.log.push(InvocationRecord {
            message_ids,
            failed_ids,
            invocation_failed,
        });
    }

    /// Invokes the worker as Lambda's mapping does: under a new sampled trace of its own (the
    /// messages carry their producers' contexts); a timeout, a crash or a function error fails
    /// the whole batch.
    async fn invoke(&self, event: &SqsEvent) -> Result<SqsBatchResponse, String> {
        let body = serde_json::to_vec(event).map_err(|e| e.to_string())?;
        let header = crate::api_gateway::new_sampled_trace_header();
        let answer = self
            .config
            .lambda
            .invoke(&self.config.function, body, &header)
            .await
            .map_err(|error| error.to_string())?;
        serde_json::from_slice(&answer)
            .map_err(|e| format!("not a batch response ({e}): {}", String::from_utf8_lossy(&answer)))
    }

    /// The event Lambda would deliver for these messages.
    fn sqs_event(&self, batch: &[Message]) -> SqsEvent {
        let mut event = SqsEvent::default();
        event.records = batch.iter().map(|message| self.sqs_message(message)).collect();
        event
    }

    fn sqs_message(&self, message: &Message) -> SqsMessage {
        let mut record = SqsMessage::default();
        record.message_id = message.message_id.clone();
        record.receipt_handle = message.receipt_handle.clone();
        record.body = message.body.clone();
        record.md5_of_body = message.md5_of_body.clone();
        record.md5_of_message_attributes = message.md5_of_message_attributes.clone();
        record.attributes = message
            .attributes
            .iter()
            .flatten()
            .map(|(name, value)| (name.as_str().to_owned(), value.clone()))
            .collect();
        record.message_attributes = message
            .message_attributes
            .iter()
            .flatten()
            .map(|(name, value)| {
                let mut attribute = SqsMessageAttribute::default();
                attribute.data_type = Some(value.data_type().to_owned());
                attribute.string_value = value.string_value().map(str::to_owned);
                attribute.string_list_values = value.string_list_values().to_vec();
                (name.clone(), attribute)
            })
            .collect::<HashMap<_, _>>();
        record.event_source = Some("aws:sqs".to_owned());
        record.event_source_arn = Some(self.config.queue_arn.clone());
        record.aws_region = Some(self.config.region.clone());
        record
    }
}
