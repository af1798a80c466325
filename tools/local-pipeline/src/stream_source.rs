//! The DynamoDB stream event source mapping, emulated with Lambda's semantics for streams: read
//! each shard in order from the trim horizon (`GetShardIterator`, `GetRecords`, four polls a
//! second as Lambda's), drop what the filter criteria do not pass, invoke the function with a
//! real stream event (`eventSourceARN` included), and checkpoint: after a partial batch response
//! Lambda resumes from the failed record's sequence number; after a function error it bisects
//! the batch (`bisect_batch_on_function_error`) and retries; a batch that exhausts
//! `maximum_retry_attempts`, or records older than `maximum_record_age_in_seconds`, go to the
//! on-failure destination as Lambda's invocation record (`DDBStreamBatchInfo`) and the shard
//! moves on.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::streams::DynamoDbEventResponse;
use aws_sdk_dynamodbstreams::types::{AttributeValue, Record, ShardIteratorType};
use base64::Engine as _;
use serde_json::{Map, Value, json};
use tokio::sync::watch;

use crate::lambda_service::LambdaService;

/// Lambda polls each shard four times a second.
const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// How the mapping reads, filters, batches and retries (Terraform's `aws_lambda_event_source_mapping.notifier`).
#[derive(Debug, Clone)]
pub struct StreamMappingConfig {
    /// The table's stream.
    pub stream_arn: String,
    /// The region, as the records carry it.
    pub region: String,
    /// The largest batch.
    pub batch_size: usize,
    /// The filter criteria's pattern.
    pub filter: FilterPattern,
    /// Retries of a failing batch before it goes to the destination.
    pub maximum_retry_attempts: u32,
    /// Records older than this go to the destination unprocessed; none: no limit.
    pub maximum_record_age: Option<Duration>,
    /// The on-failure destination (an SQS queue's URL).
    pub on_failure_queue_url: String,
    /// Where Lambda runs the function.
    pub lambda: Arc<LambdaService>,
    /// The function invoked.
    pub function: String,
    /// The function's ARN, as the destination's record names it.
    pub function_arn: String,
}

/// A filter pattern of Lambda's filter criteria, for the operators the project's filter uses:
/// exact values and `prefix`. Any other operator is refused when the mapping starts, never
/// silently passed.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterPattern(Value);

impl FilterPattern {
    /// The pattern, checked for operators this emulation evaluates.
    pub fn new(pattern: Value) -> Result<Self, String> {
        check_operators(&pattern)?;
        Ok(Self(pattern))
    }

    /// Whether `record` (as Lambda delivers it) passes.
    pub fn matches(&self, record: &Value) -> bool {
        matches_pattern(&self.0, record)
    }
}

fn check_operators(pattern: &Value) -> Result<(), String> {
    match pattern {
        Value::Object(fields) => fields.values().try_for_each(check_operators),
        Value::Array(values) => values.iter().try_for_each(|value| match value {
            Value::Object(operator) => match operator.keys().map(String::as_str).collect::<Vec<_>>()[..] {
                ["prefix"] if operator["prefix"].is_string() => Ok(()),
                _ => Err(format!(
                    "filter operator {value} is not one the local mapping evaluates"
                )),
            },
            _ => Ok(()),
        }),
        other => Err(format!(
            "a filter pattern's leaves are lists of values, not {other}"
        )),
    }
}

fn matches_pattern(pattern: &Value, value: &Value) -> bool {
    match pattern {
        Value::Object(fields) => fields
            .iter()
            .all(|(key, sub)| value.get(key).is_some_and(|field| matches_pattern(sub, field))),
        Value::Array(allowed) => allowed.iter().any(|allowed| match allowed {
            Value::Object(operator) => match (operator.get("prefix"), value) {
                (Some(Value::String(prefix)), Value::String(text)) => text.starts_with(prefix.as_str()),
                _ => false,
            },
            exact => exact == value,
        }),
        _ => false,
    }
}

/// One invocation, as the mapping saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInvocation {
    /// The batch's sequence numbers.
    pub sequence_numbers: Vec<String>,
    /// The checkpoint the response named, if it named one.
    pub failed_from: Option<String>,
    /// Whether the invocation failed as a whole (error, timeout, crash, or an unusable answer).
    pub invocation_failed: bool,
}

/// What was sent to the on-failure destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationRecord {
    /// `RetryAttemptsExhausted` or `RecordAgeExceeded`.
    pub condition: String,
    /// The batch's sequence numbers.
    pub sequence_numbers: Vec<String>,
}

#[derive(Debug, Default)]
struct LogState {
    invocations: Vec<StreamInvocation>,
    /// Each record as first delivered, by sequence number.
    delivered: std::collections::BTreeMap<String, Value>,
    destination: Vec<DestinationRecord>,
    filtered_out: usize,
}

/// What the mapping has done so far, shared with whoever watches it.
#[derive(Debug, Clone, Default)]
pub struct StreamMappingLog(Arc<Mutex<LogState>>);

impl StreamMappingLog {
    /// Every invocation so far.
    pub fn invocations(&self) -> Vec<StreamInvocation> {
        self.0
            .lock()
            .map(|log| log.invocations.clone())
            .unwrap_or_default()
    }

    /// Every batch sent to the on-failure destination.
    pub fn sent_to_destination(&self) -> Vec<DestinationRecord> {
        self.0
            .lock()
            .map(|log| log.destination.clone())
            .unwrap_or_default()
    }

    /// The record with `sequence_number`, as the mapping delivered it.
    pub fn delivered(&self, sequence_number: &str) -> Option<Value> {
        self.0.lock().ok()?.delivered.get(sequence_number).cloned()
    }

    /// Records the filter criteria dropped.
    pub fn filtered_out(&self) -> usize {
        self.0.lock().map(|log| log.filtered_out).unwrap_or_default()
    }

    fn with(&self, change: impl FnOnce(&mut LogState)) {
        if let Ok(mut log) = self.0.lock() {
            change(&mut log);
        }
    }
}

/// A running stream mapping; stops when [`StreamEventSourceMapping::stop`] is called.
#[derive(Debug)]
pub struct StreamEventSourceMapping {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    log: StreamMappingLog,
}

impl StreamEventSourceMapping {
    /// Starts reading the stream with `streams`; the destination is written with `sqs`.
    pub fn start(
        streams: aws_sdk_dynamodbstreams::Client,
        sqs: aws_sdk_sqs::Client,
        config: StreamMappingConfig,
    ) -> Self {
        let (stop, stopped) = watch::channel(false);
        let log = StreamMappingLog::default();
        let reader = StreamReader {
            streams,
            sqs,
            config,
            log: log.clone(),
        };
        let task = tokio::spawn(reader.run(stopped));
        Self { stop, task, log }
    }

    /// What it has done so far.
    pub fn log(&self) -> StreamMappingLog {
        self.log.clone()
    }

    /// Stops reading; an invocation in flight completes first.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// One shard's position: its iterator, the records read but not yet checkpointed past, and the
/// retries of the batch at its head.
struct Shard {
    id: String,
    iterator: Option<String>,
    pending: VecDeque<Value>,
    attempts: u32,
    /// After a function error, the bisected batch's size.
    batch_limit: Option<usize>,
}

struct StreamReader {
    streams: aws_sdk_dynamodbstreams::Client,
    sqs: aws_sdk_sqs::Client,
    config: StreamMappingConfig,
    log: StreamMappingLog,
}

impl StreamReader {
    async fn run(self, mut stopped: watch::Receiver<bool>) {
        let mut shards: Vec<Shard> = Vec::new();
        loop {
            if *stopped.borrow() {
                return;
            }
            if let Err(error) = self.discover(&mut shards).await {
                eprintln!("stream event source mapping: {error}");
            }
            let mut busy = false;
            for shard in &mut shards {
                busy |= self.step(shard).await;
            }
            if !busy {
                tokio::select! {
                    _ = tokio::time::sleep(POLL_INTERVAL) => {}
                    _ = stopped.changed() => return,
                }
            }
        }
    }

    /// Adds the stream's shards not seen yet, each from its trim horizon.
    async fn discover(&self, shards: &mut Vec<Shard>) -> Result<(), String> {
        let described = self
            .streams
            .describe_stream()
            .stream_arn(&self.config.stream_arn)
            .send()
            .await
            .map_err(|e| aws_sdk_dynamodbstreams::error::DisplayErrorContext(e).to_string())?;
        let found = described
            .stream_description
            .map(|description| description.shards.unwrap_or_default())
            .unwrap_or_default();
        for shard in found {
            let Some(id) = shard.shard_id else { continue };
            if shards.iter().any(|known| known.id == id) {
                continue;
            }
            let iterator = self
                .streams
                .get_shard_iterator()
                .stream_arn(&self.config.stream_arn)
                .shard_id(&id)
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await
                .map_err(|e| aws_sdk_dynamodbstreams::error::DisplayErrorContext(e).to_string())?
                .shard_iterator;
            shards.push(Shard {
                id,
                iterator,
                pending: VecDeque::new(),
                attempts: 0,
                batch_limit: None,
            });
        }
        Ok(())
    }

    /// Reads, then runs one batch of `shard`; whether there was anything to do.
    async fn step(&self, shard: &mut Shard) -> bool {
        self.read(shard).await;
        self.expire_old_records(shard).await;
        if shard.pending.is_empty() {
            return false;
        }
        let size = shard
            .batch_limit
            .unwrap_or(self.config.batch_size)
            .min(self.config.batch_size)
            .min(shard.pending.len());
        let batch: Vec<Value> = shard.pending.iter().take(size).cloned().collect();
        let sequence_numbers: Vec<String> = batch.iter().map(sequence_number).collect();
        let outcome = self.invoke(&batch).await;
        let (failed_from, invocation_failed) = match &outcome {
            Ok(None) => (None, false),
            Ok(Some(sequence)) => (Some(sequence.clone()), false),
            Err(error) => {
                eprintln!("stream event source mapping: invocation failed, the batch is retried: {error}");
                (None, true)
            }
        };
        self.log.with(|log| {
            for record in &batch {
                log.delivered
                    .entry(sequence_number(record))
                    .or_insert_with(|| record.clone());
            }
            log.invocations.push(StreamInvocation {
                sequence_numbers: sequence_numbers.clone(),
                failed_from: failed_from.clone(),
                invocation_failed,
            })
        });
        match outcome {
            Ok(None) => {
                shard.pending.drain(..size);
                shard.attempts = 0;
                shard.batch_limit = None;
            }
            Ok(Some(sequence)) => {
                // Lambda checkpoints before the failed record and retries from it.
                let done = sequence_numbers
                    .iter()
                    .position(|number| *number == sequence)
                    .unwrap_or_default();
                shard.pending.drain(..done);
                self.retry_or_give_up(shard, size - done).await;
            }
            Err(_) if size > 1 => {
                // Bisecting does not count against the retries.
                shard.batch_limit = Some(size / 2);
            }
            Err(_) => self.retry_or_give_up(shard, size).await,
        }
        true
    }

    /// Counts a retry of the `size` records at the shard's head; past the limit they go to the
    /// destination and the shard moves on.
    async fn retry_or_give_up(&self, shard: &mut Shard, size: usize) {
        shard.attempts += 1;
        if shard.attempts <= self.config.maximum_retry_attempts {
            let backoff = Duration::from_millis(100 * 2_u64.pow(shard.attempts.min(4)));
            tokio::time::sleep(backoff).await;
            return;
        }
        let batch: Vec<Value> = shard.pending.drain(..size.min(shard.pending.len())).collect();
        self.send_to_destination(&shard.id, &batch, "RetryAttemptsExhausted", shard.attempts)
            .await;
        shard.attempts = 0;
        shard.batch_limit = None;
    }

    /// Records at the head older than the maximum age go to the destination unprocessed.
    async fn expire_old_records(&self, shard: &mut Shard) {
        let Some(maximum) = self.config.maximum_record_age else {
            return;
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        let expired = shard
            .pending
            .iter()
            .take_while(|record| now - created_at(record) > maximum.as_secs_f64())
            .count();
        if expired > 0 {
            let batch: Vec<Value> = shard.pending.drain(..expired).collect();
            self.send_to_destination(&shard.id, &batch, "RecordAgeExceeded", 0)
                .await;
            shard.attempts = 0;
            shard.batch_limit = None;
        }
    }

    /// Tops the shard's pending records up to a batch, dropping what the filter does not pass.
    async fn read(&self, shard: &mut Shard) {
        if shard.pending.len() >= self.config.batch_size {
            return;
        }
        let Some(iterator) = shard.iterator.clone() else {
            return;
        };
        let answer = self
            .streams
            .get_records()
            .shard_iterator(iterator)
            .limit(i32::try_from(self.config.batch_size).unwrap_or(i32::MAX))
            .send()
            .await;
        let output = match answer {
            Ok(output) => output,
            Err(error) => {
                eprintln!(
                    "stream event source mapping: GetRecords failed: {}",
                    aws_sdk_dynamodbstreams::error::DisplayErrorContext(error)
                );
                return;
            }
        };
        shard.iterator = output.next_shard_iterator;
        for record in output.records.unwrap_or_default() {
            let record = self.lambda_record(&record);
            if self.config.filter.matches(&record) {
                shard.pending.push_back(record);
            } else {
                self.log.with(|log| log.filtered_out += 1);
            }
        }
    }

    /// Invokes the function under a new sampled trace of Lambda's own (the records carry their
    /// producers' contexts in their images); the failed sequence number the answer names.
    async fn invoke(&self, batch: &[Value]) -> Result<Option<String>, String> {
        let body = serde_json::to_vec(&json!({ "Records": batch })).map_err(|e| e.to_string())?;
        let header = crate::api_gateway::new_sampled_trace_header();
        let answer = self
            .config
            .lambda
            .invoke(&self.config.function, body, &header)
            .await
            .map_err(|error| error.to_string())?;
        let response: DynamoDbEventResponse = serde_json::from_slice(&answer)
            .map_err(|e| format!("not a batch response ({e}): {}", String::from_utf8_lossy(&answer)))?;
        let Some(failure) = response.batch_item_failures.first() else {
            return Ok(None);
        };
        // An identifier that names no record of the batch fails the whole batch, as in Lambda.
        match &failure.item_identifier {
            Some(sequence) if batch.iter().any(|record| sequence_number(record) == *sequence) => {
                // The lowest failed sequence number is the checkpoint.
                let lowest = response
                    .batch_item_failures
                    .iter()
                    .filter_map(|failure| failure.item_identifier.clone())
                    .min_by(|a, b| sequence_order(a, b));
                Ok(lowest)
            }
            other => Err(format!(
                "batchItemFailures names {other:?}, no record of the batch"
            )),
        }
    }

    /// Lambda's invocation record for a batch it gives up on, sent to the destination queue.
    async fn send_to_destination(&self, shard_id: &str, batch: &[Value], condition: &str, invokes: u32) {
        let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
            return;
        };
        let arrival = |record: &Value| {
            jiff::Timestamp::from_millisecond((created_at(record) * 1000.0) as i64)
                .map(|time| time.to_string())
                .unwrap_or_default()
        };
        let body = json!({
            "requestContext": {
                "requestId": crate::api_gateway::random_hex(16),
                "functionArn": self.config.function_arn,
                "condition": condition,
                "approximateInvokeCount": invokes,
            },
            "version": "1.0",
            "timestamp": jiff::Timestamp::now().to_string(),
            "DDBStreamBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": sequence_number(first),
                "endSequenceNumber": sequence_number(last),
                "approximateArrivalOfFirstRecord": arrival(first),
                "approximateArrivalOfLastRecord": arrival(last),
                "batchSize": batch.len(),
                "streamArn": self.config.stream_arn,
            },
        });
        let sent = self
            .sqs
            .send_message()
            .queue_url(&self.config.on_failure_queue_url)
            .message_body(body.to_string())
            .send()
            .await;
        if let Err(error) = sent {
            eprintln!(
                "stream event source mapping: the on-failure destination refused the record: {}",
                aws_sdk_sqs::error::DisplayErrorContext(error)
            );
        }
        self.log.with(|log| {
            log.destination.push(DestinationRecord {
                condition: condition.to_owned(),
                sequence_numbers: batch.iter().map(sequence_number).collect(),
            })
        });
    }

    /// The record as Lambda delivers it: the stream record with the stream's ARN.
    fn lambda_record(&self, record: &Record) -> Value {
        let mut change = Map::new();
        if let Some(stream_record) = &record.dynamodb {
            if let Some(created) = stream_record.approximate_creation_date_time {
                change.insert(
                    "ApproximateCreationDateTime".to_owned(),
                    json!(created.as_secs_f64()),
                );
            }
            let images = [
                ("Keys", &stream_record.keys),
                ("NewImage", &stream_record.new_image),
                ("OldImage", &stream_record.old_image),
            ];
            for (name, image) in images {
                if let Some(image) = image {
                    change.insert(name.to_owned(), item_json(image));
                }
            }
            change.insert("SequenceNumber".to_owned(), json!(stream_record.sequence_number));
            change.insert(
                "SizeBytes".to_owned(),
                json!(stream_record.size_bytes.unwrap_or_default()),
            );
            if let Some(view) = &stream_record.stream_view_type {
                change.insert("StreamViewType".to_owned(), json!(view.as_str()));
            }
        }
        json!({
            "eventID": record.event_id,
            "eventName": record.event_name.as_ref().map(|name| name.as_str()),
            "eventVersion": record.event_version,
            "eventSource": record.event_source,
            "awsRegion": self.config.region,
            "dynamodb": change,
            "eventSourceARN": self.config.stream_arn,
        })
    }
}

fn item_json(item: &std::collections::HashMap<String, AttributeValue>) -> Value {
    Value::Object(
        item.iter()
            .map(|(name, value)| (name.clone(), attribute_json(value)))
            .collect(),
    )
}

/// An attribute in DynamoDB's JSON (`{"S": ...}`), as a stream event carries it.
fn attribute_json(value: &AttributeValue) -> Value {
    let base64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    match value {
        AttributeValue::S(text) => json!({ "S": text }),
        AttributeValue::N(number) => json!({ "N": number }),
        AttributeValue::B(blob) => json!({ "B": base64(blob.as_ref()) }),
        AttributeValue::Bool(flag) => json!({ "BOOL": flag }),
        AttributeValue::Null(flag) => json!({ "NULL": flag }),
        AttributeValue::M(map) => json!({ "M": item_json(map) }),
        AttributeValue::L(list) => json!({ "L": list.iter().map(attribute_json).collect::<Vec<_>>() }),
        AttributeValue::Ss(texts) => json!({ "SS": texts }),
        AttributeValue::Ns(numbers) => json!({ "NS": numbers }),
        AttributeValue::Bs(blobs) => {
            json!({ "BS": blobs.iter().map(|blob| base64(blob.as_ref())).collect::<Vec<_>>() })
        }
        _ => json!({ "NULL": true }),
    }
}

fn sequence_number(record: &Value) -> String {
    record["dynamodb"]["SequenceNumber"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Sequence numbers are decimal strings of growing length: compare them as numbers.
fn sequence_order(a: &str, b: &str) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn created_at(record: &Value) -> f64 {
    record["dynamodb"]["ApproximateCreationDateTime"]
        .as_f64()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter() -> FilterPattern {
        FilterPattern::new(json!({
            "eventName": ["INSERT"],
            "dynamodb": {"NewImage": {
                "pk": {"S": [{"prefix": "NOTIFICATION#"}]},
                "status": {"S": ["pending"]},
            }}
        }))
        .unwrap()
    }

    fn record(event_name: &str, pk: &str, status: &str) -> Value {
        json!({
            "eventName": event_name,
            "dynamodb": {"NewImage": {"pk": {"S": pk}, "status": {"S": status}}},
        })
    }

    #[test]
    fn the_filter_passes_pending_notification_inserts_only() {
        let filter = filter();
        assert!(filter.matches(&record("INSERT", "NOTIFICATION#evt_1", "pending")));
        assert!(!filter.matches(&record("MODIFY", "NOTIFICATION#evt_1", "pending")));
        assert!(!filter.matches(&record("INSERT", "NOTIFICATION#evt_1", "sent")));
        assert!(!filter.matches(&record("INSERT", "EVENT#evt_1", "pending")));
        assert!(!filter.matches(&json!({"eventName": "INSERT", "dynamodb": {}})));
    }

    #[test]
    fn an_operator_the_emulation_does_not_evaluate_is_refused() {
        let error =
            FilterPattern::new(json!({"dynamodb": {"NewImage": {"n": {"N": [{"numeric": [">", 0]}]}}}}))
                .unwrap_err();
        assert!(error.contains("numeric"), "{error}");
        assert!(FilterPattern::new(json!({"eventName": "INSERT"})).is_err());
    }

    #[test]
    fn attributes_are_written_as_dynamodb_json() {
        let item = std::collections::HashMap::from([
            ("s".to_owned(), AttributeValue::S("x".to_owned())),
            (
                "m".to_owned(),
                AttributeValue::M(std::collections::HashMap::from([(
                    "n".to_owned(),
                    AttributeValue::N("1".to_owned()),
                )])),
            ),
        ]);
        assert_eq!(
            item_json(&item),
            json!({"s": {"S": "x"}, "m": {"M": {"n": {"N": "1"}}}})
        );
    }

    #[test]
    fn sequence_numbers_order_as_numbers() {
        assert_eq!(sequence_order("99", "100"), std::cmp::Ordering::Less);
    }
}
