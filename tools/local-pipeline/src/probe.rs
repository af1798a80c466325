//! Driving and inspecting a running stack: webhooks in (signed, as Stripe sends them, or straight
//! onto the queue), and what the emulator holds (event records, notifications, queue and DLQ
//! depths, spans), with polling against a deadline. The demo, the fault tests and the soak use it.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::{AttributeValue, Select};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;
use webhook_event::Envelope;

use crate::stack::{LocalStack, StackError, TelemetryTransport};
use event_table::StoredEventRecord;
use trace_reader::span::SpanRecord;

/// How long to wait for the pipeline to drain before declaring failure.
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(120);
const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// One request to the API.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// What the scenario calls it.
    pub label: String,
    /// The event's id.
    pub event_id: String,
    /// `data.object.customer` of the event sent.
    pub customer: Option<String>,
    /// The HTTP status the API answered.
    pub status: u16,
    /// The queue's message id the API answered with.
    pub message_id: Option<String>,
    /// The error code of a refusal.
    pub error_code: Option<String>,
    /// The trace API Gateway started for the request (32 hex digits), from its answer's
    /// `X-Amzn-Trace-Id`, and whether its sampling rule recorded it.
    pub trace_id: Option<String>,
    /// Whether API Gateway's rule sampled the request.
    pub sampled: Option<bool>,
}

/// One message put straight on the queue, bypassing the API.
#[derive(Debug, Clone)]
pub struct DirectMessage {
    /// What the scenario calls it.
    pub label: String,
    /// The event's id, when the body holds one.
    pub event_id: Option<String>,
    /// SQS's message id.
    pub message_id: String,
}

/// Posts `body` to the API signed with `secret`, as Stripe would.
pub async fn post(
    stack: &LocalStack,
    http: &reqwest::Client,
    label: &str,
    body: Vec<u8>,
    secret: &str,
) -> Result<Delivery, StackError> {
    let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let event_id = event["id"].as_str().unwrap_or_default().to_owned();
    let customer = event["data"]["object"]["customer"].as_str().map(str::to_owned);
    let signature = stripe_signature::sign(secret, unix_now(), &body);
    let response = http
        .post(stack.webhook_url())
        .header("content-type", "application/json; charset=utf-8")
        .header("stripe-signature", signature)
        .body(body)
        .send()
        .await
        .map_err(|error| StackError::Scenario(format!("POST {}: {error}", stack.webhook_url())))?;
    let status = response.status().as_u16();
    let trace_header = response
        .headers()
        .get("x-amzn-trace-id")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let header_field = |name: &str| {
        trace_header
            .split(';')
            .find_map(|part| part.trim().strip_prefix(name))
            .map(str::to_owned)
    };
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    Ok(Delivery {
        label: label.to_owned(),
        event_id,
        customer,
        status,
        message_id: answer["message_id"].as_str().map(str::to_owned),
        error_code: answer["error"]["code"].as_str().map(str::to_owned),
        trace_id: header_field("Root=").map(|root| trace_reader::xray::otel_trace_id(&root)),
        sampled: header_field("Sampled=").map(|flag| flag == "1"),
    })
}

/// A payment failure of `event_id` for its own `customer`, so each event's effect can be counted.
pub fn payment_failure(event_id: &str, customer: &str) -> Vec<u8> {
    serde_json::json!({
        "id": event_id, "object": "event", "type": "payment_intent.payment_failed",
        "created": unix_now(), "livemode": false,
        "data": {"object": {"id": format!("pi_{event_id}"), "object": "payment_intent", "customer": customer,
                             "receipt_email": format!("{customer}@example.com"),
                             "last_payment_error": {"message": "Card declined."}}},
    })
    .to_string()
    .into_bytes()
}

/// Posts [`payment_failure`] to the API, signed with the stack's secret.
pub async fn post_payment_failure(
    stack: &LocalStack,
    event_id: &str,
    customer: &str,
) -> Result<Delivery, StackError> {
    let secret = stack.provisioned.signing_secret.clone();
    post(
        stack,
        &reqwest::Client::new(),
        event_id,
        payment_failure(event_id, customer),
        &secret,
    )
    .await
}

/// Puts `body` straight on the queue, without trace context (a legacy producer).
pub async fn send_direct(
    stack: &LocalStack,
    label: &str,
    body: Vec<u8>,
) -> Result<DirectMessage, StackError> {
    // The event id as the worker reads it: inside an EventBridge or SNS envelope, if any.
    let text = String::from_utf8_lossy(&body);
    let event_id = Envelope::open(&text)
        .ok()
        .and_then(|envelope| serde_json::from_str::<Value>(envelope.payload()).ok())
        .and_then(|event| event["id"].as_str().map(str::to_owned));
    let sent = aws_sdk_sqs::Client::new(&stack.sdk)
        .send_message()
        .queue_url(&stack.provisioned.queue_url)
        .message_body(text.as_ref())
        .send()
        .await
        .map_err(|error| StackError::Scenario(aws_sdk_sqs::error::DisplayErrorContext(error).to_string()))?;
    Ok(DirectMessage {
        label: label.to_owned(),
        event_id,
        message_id: sent.message_id.unwrap_or_default(),
    })
}

/// Polls `ready` until it holds, a process dies (its log tail is the error), or the deadline.
pub async fn wait_for<F, Fut>(stack: &mut LocalStack, what: &str, ready: F) -> Result<(), StackError>
where
    F: Fn(StackView) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if ready(StackView::of(stack)).await {
            return Ok(());
        }
        stack.check_health()?;
        if started.elapsed() > DRAIN_DEADLINE {
            return Err(StackError::Scenario(format!(
                "gave up waiting for {what} after {DRAIN_DEADLINE:?}; logs are in {}",
                stack.options.log_dir.display()
            )));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// What the polling conditions read: clients and names, cheap to clone.
#[derive(Debug, Clone)]
pub struct StackView {
    /// A DynamoDB client.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// An SQS client.
    pub sqs: aws_sdk_sqs::Client,
    /// The event table.
    pub table: String,
    /// The event queue.
    pub queue_url: String,
    /// The dead-letter queue.
    pub dlq_url: String,
    /// The spans received when the view was taken.
    pub spans: Vec<SpanRecord>,
    /// Span exports the sink could not read.
    pub rejected_exports: Vec<String>,
    /// How spans reached the sink.
    pub transport: TelemetryTransport,
    /// The settings the stack was provisioned with.
    pub settings: terraform_config::pipeline::PipelineSettings,
}

impl StackView {
    /// A view of `stack` as it is now.
    pub fn of(stack: &LocalStack) -> Self {
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(&stack.sdk),
            sqs: aws_sdk_sqs::Client::new(&stack.sdk),
            table: stack.provisioned.table_name.clone(),
            queue_url: stack.provisioned.queue_url.clone(),
            dlq_url: stack.provisioned.dlq_url.clone(),
            spans: stack.spans(),
            rejected_exports: stack.rejected_exports(),
            transport: stack.transport,
            settings: stack.settings.clone(),
        }
    }

    /// The spans received so far.
    pub fn spans(&self) -> Vec<SpanRecord> {
        self.spans.clone()
    }
}

/// Whether every event in `event_ids` has its record.
pub async fn all_stored(stack: &StackView, event_ids: &[String]) -> bool {
    for id in event_ids {
        if event_record(stack, id).await.is_none() {
            return false;
        }
    }
    true
}

/// The event's record, if it is stored.
pub async fn event_record(stack: &StackView, event_id: &str) -> Option<StoredEventRecord> {
    let item = stack
        .dynamodb
        .get_item()
        .table_name(&stack.table)
        .set_key(Some(event_table::event_record_key(event_id)))
        .consistent_read(true)
        .send()
        .await
        .ok()?
        .item?;
    StoredEventRecord::from_item(&item)
}

/// The customer's subscription status, if one was recorded.
pub async fn subscription_status(stack: &StackView, customer_id: &str) -> Option<String> {
    let item = stack
        .dynamodb
        .get_item()
        .table_name(&stack.table)
        .set_key(Some(event_table::subscription_key(customer_id)))
        .consistent_read(true)
        .send()
        .await
        .ok()?
        .item?;
    item.get("status").and_then(|value| value.as_s().ok()).cloned()
}

/// The notification item of `event_id`, read strongly consistent.
pub async fn notification(stack: &StackView, event_id: &str) -> Option<HashMap<String, AttributeValue>> {
    stack
        .dynamodb
        .get_item()
        .table_name(&stack.table)
        .set_key(Some(event_table::notification_key(event_id)))
        .consistent_read(true)
        .send()
        .await
        .ok()?
        .item
}

/// The `status` of `event_id`'s notification item (`pending`, `sent`, `unsendable`); none
/// without an item.
pub async fn notification_status(stack: &StackView, event_id: &str) -> Option<String> {
    notification(stack, event_id)
        .await?
        .get(event_table::notification::STATUS)?
        .as_s()
        .ok()
        .cloned()
}

/// How many notifications `customer` has (each in its event's partition: a scan, for tests).
pub async fn notification_count(stack: &StackView, customer: &str) -> usize {
    let mut count = 0_usize;
    let mut start: Option<HashMap<String, AttributeValue>> = None;
    loop {
        let page = stack
            .dynamodb
            .scan()
            .table_name(&stack.table)
            .select(Select::Count)
            .filter_expression("begins_with(#pk, :prefix) AND #customer = :customer")
            .expression_attribute_names("#pk", event_table::PARTITION_KEY)
            .expression_attribute_names("#customer", event_table::notification::CUSTOMER_ID)
            .expression_attribute_values(
                ":prefix",
                AttributeValue::S(event_table::NOTIFICATION_PREFIX.to_owned()),
            )
            .expression_attribute_values(":customer", AttributeValue::S(customer.to_owned()))
            .set_exclusive_start_key(start.take())
            .send()
            .await;
        let Ok(page) = page else {
            return count;
        };
        count += usize::try_from(page.count).unwrap_or_default();
        match page.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return count,
        }
    }
}

async fn approximate(stack: &StackView, url: &str, attributes: &[QueueAttributeName]) -> u64 {
    let Ok(output) = stack
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .set_attribute_names(Some(attributes.to_vec()))
        .send()
        .await
    else {
        return u64::MAX;
    };
    let map = output.attributes.unwrap_or_default();
    attributes
        .iter()
        .map(|name| {
            map.get(name)
                .and_then(|value| value.parse::<u64>().ok())
                .unwrap_or_default()
        })
        .sum()
}

/// Messages visible or in flight on the event queue.
pub async fn queue_depth(stack: &StackView) -> u64 {
    approximate(
        stack,
        &stack.queue_url,
        &[
            QueueAttributeName::ApproximateNumberOfMessages,
            QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
        ],
    )
    .await
}

/// Messages in the DLQ, whether or not someone is looking at them right now.
pub async fn dlq_depth(stack: &StackView) -> u64 {
    approximate(
        stack,
        &stack.dlq_url,
        &[
            QueueAttributeName::ApproximateNumberOfMessages,
            QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
        ],
    )
    .await
}

/// Which function wrote a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStage {
    /// webhook-api.
    Api,
    /// webhook-worker.
    Worker,
    /// webhook-notifier (none without the notifier).
    Notifier,
}

/// The JSON log lines of `stage` that contain `term` (an event id, an outcome), oldest first,
/// from CloudWatch Logs: the record that exists whether or not an event was sampled.
pub async fn log_lines(stack: &LocalStack, stage: LogStage, term: &str) -> Vec<Value> {
    let logs = aws_sdk_cloudwatchlogs::Client::new(&stack.sdk);
    let [api, worker] = stack.log_groups();
    let group = match stage {
        LogStage::Api => api,
        LogStage::Worker => worker,
        LogStage::Notifier => match stack.notifier_log_group() {
            Some(group) => group,
            None => return Vec::new(),
        },
    };
    let mut lines = Vec::new();
    let mut pages = logs
        .filter_log_events()
        .log_group_name(group)
        .filter_pattern(format!("\"{term}\""))
        .into_paginator()
        .send();
    while let Some(Ok(page)) = pages.next().await {
        for event in page.events() {
            if let Ok(line @ Value::Object(_)) = serde_json::from_str(event.message().unwrap_or_default()) {
                lines.push(line);
            }
        }
    }
    lines
}

/// Now, in Unix seconds.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

/// Items whose partition key starts with `pk_prefix` (and sort key with `sk_prefix`).
pub async fn count_items(
    view: &StackView,
    pk_prefix: &str,
    sk_prefix: Option<&str>,
) -> Result<usize, StackError> {
    let mut count = 0_usize;
    let mut start: Option<HashMap<String, AttributeValue>> = None;
    loop {
        let mut scan = view
            .dynamodb
            .scan()
            .table_name(&view.table)
            .select(Select::Count)
            .expression_attribute_names("#pk", event_table::PARTITION_KEY)
            .expression_attribute_values(":pk", AttributeValue::S(pk_prefix.to_owned()))
            .set_exclusive_start_key(start.take());
        scan = match sk_prefix {
            Some(prefix) => scan
                .filter_expression("begins_with(#pk, :pk) AND begins_with(#sk, :sk)")
                .expression_attribute_names("#sk", event_table::SORT_KEY)
                .expression_attribute_values(":sk", AttributeValue::S(prefix.to_owned())),
            None => scan.filter_expression("begins_with(#pk, :pk)"),
        };
        let page = scan.send().await.map_err(|error| {
            StackError::Scenario(aws_sdk_dynamodb::error::DisplayErrorContext(error).to_string())
        })?;
        count += usize::try_from(page.count).unwrap_or_default();
        match page.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return Ok(count),
        }
    }
}

/// What a run leaves behind: the table's event records and notifications, and the messages
/// still on the queue and in the DLQ.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Leftovers {
    /// Event records in the table.
    pub event_records: usize,
    /// Notification items in the table.
    pub notifications: usize,
    /// Messages on the event queue, visible or in flight.
    pub on_queue: u64,
    /// Messages in the DLQ, visible or in flight.
    pub in_dlq: u64,
}

/// Counts what a run leaves behind (see [`Leftovers`]).
pub async fn leftovers(view: &StackView) -> Result<Leftovers, StackError> {
    Ok(Leftovers {
        event_records: count_items(view, event_table::EVENT_PREFIX, None).await?,
        notifications: count_items(view, event_table::NOTIFICATION_PREFIX, None).await?,
        on_queue: queue_depth(view).await,
        in_dlq: dlq_depth(view).await,
    })
}
