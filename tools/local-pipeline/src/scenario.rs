//! The scripted demo: signed webhooks in two batches, a forged one, a redelivered one, a message
//! from a legacy producer without trace context, a Stripe event as an EventBridge rule delivers
//! it and a poison message, then checks on what the emulator holds, which spans arrived, what the
//! traces read back through X-Ray's API hold, what the log lines say, and what `make trace` tells
//! of every accepted event, sampled or not. The report's checks decide the demo's exit code. With
//! SNS fan-out the producer span is `publish <topic>` instead of `send <queue>`; everything else
//! holds the same.

use serde_json::Value;
use std::fmt::Write as _;

use std::time::{Duration, SystemTime};

use crate::probe::{
    Delivery, DirectMessage, LogStage, StackView, all_stored, dlq_depth, event_record, log_lines,
    notification_count, notification_status, post, queue_depth, send_direct, subscription_status, wait_for,
};
use crate::stack::{LocalStack, StackError, TelemetryTransport};
use event_table::StoredEventRecord;
use terraform_config::pipeline::FanOut;
use trace_reader::pipeline::{is_producer, missing_parts};
use trace_reader::source::TraceSource;
use trace_reader::span::{SpanKind, SpanRecord, SpanStatus};
use trace_reader::waterfall::{render_trace, xray_trace_id};

/// What the scenario did, one field per delivery.
#[derive(Debug, Clone)]
pub struct ScenarioRun {
    /// First batch: `payment_intent.payment_failed`, which marks its customer and notifies them.
    pub payment_failed: Delivery,
    /// First batch: `invoice.payment_failed`.
    pub invoice_failed: Delivery,
    /// Signed with the wrong secret: refused with 401.
    pub forged: Delivery,
    /// Second batch: `customer.subscription.updated`.
    pub subscription_updated: Delivery,
    /// Second batch: an event type the worker records and ignores.
    pub unknown_type: Delivery,
    /// Second batch: Stripe's retry of `payment_failed`, which must have no second effect.
    pub stripe_retry: Delivery,
    /// Sent straight to SQS without trace context, as an older producer would.
    pub legacy: DirectMessage,
    /// A Stripe event in an EventBridge envelope, as a rule on Stripe's partner event bus puts it
    /// on the queue: no trace context (EventBridge traces no partner events).
    pub eventbridge: DirectMessage,
    /// A truncated body that can never be processed.
    pub poison: DirectMessage,
}

impl ScenarioRun {
    /// The signed deliveries, in the order they were posted.
    pub fn signed(&self) -> [&Delivery; 5] {
        [
            &self.payment_failed,
            &self.invoice_failed,
            &self.subscription_updated,
            &self.unknown_type,
            &self.stripe_retry,
        ]
    }

    /// The deliveries the API accepted.
    pub fn accepted(&self) -> Vec<&Delivery> {
        self.signed()
            .into_iter()
            .filter(|delivery| delivery.status == 202)
            .collect()
    }
}

/// Runs the script against a started stack and waits until the pipeline has drained.
pub async fn run(stack: &mut LocalStack) -> Result<ScenarioRun, StackError> {
    let client = Client {
        http: reqwest::Client::new(),
        secret: stack.provisioned.signing_secret.clone(),
    };
    let payment_failed = client
        .post(stack, "payment failed", "payment_intent.payment_failed")
        .await?;
    let invoice_failed = client
        .post(stack, "invoice payment failed", "invoice.payment_failed")
        .await?;
    let forged = client.post_forged(stack, "forged signature").await?;
    let first_batch = [payment_failed.event_id.clone(), invoice_failed.event_id.clone()];
    wait_for(stack, "the first batch to be stored", |stack| {
        let ids = first_batch.clone();
        async move { all_stored(&stack, &ids).await }
    })
    .await?;

    let subscription_updated = client
        .post(stack, "subscription updated", "customer.subscription.updated")
        .await?;
    let unknown_type = client
        .post(stack, "unknown event type", "charge.dispute.created")
        .await?;
    let stripe_retry = client
        .post(stack, "Stripe retry (duplicate)", "payment_intent.payment_failed")
        .await?;
    let legacy = send_direct(stack, "legacy producer, no trace context", legacy_event()?).await?;
    let eventbridge = send_direct(stack, "EventBridge (Stripe partner bus)", eventbridge_event()?).await?;
    let poison = send_direct(stack, "poison message", br#"{"id": "evt_truncated"#.to_vec()).await?;

    let run = ScenarioRun {
        payment_failed,
        invoice_failed,
        forged,
        subscription_updated,
        unknown_type,
        stripe_retry,
        legacy,
        eventbridge,
        poison,
    };
    wait_until_drained(stack, &run).await?;
    Ok(run)
}

/// Posts signed sample events to the API.
struct Client {
    http: reqwest::Client,
    secret: String,
}

impl Client {
    async fn post(&self, stack: &LocalStack, label: &str, event_type: &str) -> Result<Delivery, StackError> {
        post(stack, &self.http, label, sample(event_type)?, &self.secret).await
    }

    /// A valid event signed with a secret that is not the endpoint's.
    async fn post_forged(&self, stack: &LocalStack, label: &str) -> Result<Delivery, StackError> {
        let event = sample("customer.subscription.updated")?;
        post(stack, &self.http, label, event, "whsec_someone_else").await
    }
}

/// Until every event is stored, the poison message dead-lettered and every span in.
async fn wait_until_drained(stack: &mut LocalStack, run: &ScenarioRun) -> Result<(), StackError> {
    let mut expected_ids: Vec<String> = run.accepted().iter().map(|d| d.event_id.clone()).collect();
    expected_ids.extend(run.legacy.event_id.clone());
    expected_ids.extend(run.eventbridge.event_id.clone());
    wait_for(
        stack,
        "every event to be stored and the poison message dead-lettered",
        |stack| {
            let ids = expected_ids.clone();
            async move {
                all_stored(&stack, &ids).await
                    && dlq_depth(&stack).await >= 1
                    && queue_depth(&stack).await == 0
            }
        },
    )
    .await?;
    if stack.settings.notifier.is_some() {
        let payment_failures = [
            run.payment_failed.event_id.clone(),
            run.invoice_failed.event_id.clone(),
        ];
        wait_for(
            stack,
            "each payment failure's notification to leave pending",
            |stack| {
                let ids = payment_failures.clone();
                async move {
                    for id in &ids {
                        let status = notification_status(&stack, id).await;
                        if status
                            .as_deref()
                            .is_none_or(|status| status == event_table::notification::PENDING)
                        {
                            return false;
                        }
                    }
                    true
                }
            },
        )
        .await?;
    }
    let awaited = run.clone();
    wait_for(stack, "the spans of every message", |stack| {
        let run = awaited.clone();
        async move { spans_complete(&stack.spans(), &run, stack.settings.max_receive_count) }
    })
    .await
}

fn sample(event_type: &str) -> Result<Vec<u8>, StackError> {
    let path = crate::workspace_root()
        .join("events/stripe")
        .join(format!("{event_type}.json"));
    std::fs::read(&path).map_err(|error| StackError::Scenario(format!("{}: {error}", path.display())))
}

/// A valid event as an older producer would send it: straight to SQS, no trace context.
fn legacy_event() -> Result<Vec<u8>, StackError> {
    let mut event: Value = serde_json::from_slice(&sample("invoice.payment_failed")?)
        .map_err(|error| StackError::Scenario(error.to_string()))?;
    event["id"] = Value::from("evt_1LegacyProducer0005");
    event["data"]["object"]["customer"] = Value::from("cus_LegacyCustomer05");
    serde_json::to_vec(&event).map_err(|error| StackError::Scenario(error.to_string()))
}

/// A Stripe event as EventBridge delivers it from Stripe's partner event source: the envelope,
/// the event as its `detail`.
fn eventbridge_event() -> Result<Vec<u8>, StackError> {
    let mut event: Value = serde_json::from_slice(&sample("customer.subscription.updated")?)
        .map_err(|error| StackError::Scenario(error.to_string()))?;
    event["id"] = Value::from("evt_1EventBridgeDelivery06");
    event["data"]["object"]["customer"] = Value::from("cus_EventBridge00006");
    let envelope = serde_json::json!({
        "version": "0",
        "id": "4b5c6d7e-8f90-4a1b-8c2d-3e4f5a6b7c8d",
        "detail-type": event["type"],
        "source": "aws.partner/stripe.com/ed_test_61LocalStack",
        "account": "000000000000",
        "time": "2026-12-02T05:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": event,
    });
    serde_json::to_vec(&envelope).map_err(|error| StackError::Scenario(error.to_string()))
}

/// The producer span of the message the API answered with `message_id`: `send <queue>`, or
/// `publish <topic>` with fan-out (the id is then SNS's).
pub fn producer_spans<'a>(spans: &'a [SpanRecord], message_id: &str) -> Vec<&'a SpanRecord> {
    spans
        .iter()
        .filter(|span| is_producer(span) && span.attribute("messaging.message.id") == Some(message_id))
        .collect()
}

/// The process-webhook spans of the message the API answered with `message_id`: the children of
/// its producer span (with fan-out, the queue's message id is not the one the API saw), and any
/// span with that message id.
pub fn processed_spans<'a>(spans: &'a [SpanRecord], message_id: &str) -> Vec<&'a SpanRecord> {
    let producers = producer_spans(spans, message_id);
    spans
        .iter()
        .filter(|span| span.name == "process-webhook")
        .filter(|span| {
            producers.iter().any(|producer| span.is_child_of(producer))
                || span.attribute("messaging.message.id") == Some(message_id)
        })
        .collect()
}

fn with_message_id<'a>(spans: &'a [SpanRecord], name: &str, message_id: &str) -> Vec<&'a SpanRecord> {
    spans
        .iter()
        .filter(|span| {
            (span.name == name || span.name.starts_with(name))
                && span.attribute("messaging.message.id") == Some(message_id)
        })
        .collect()
}

fn spans_complete(spans: &[SpanRecord], run: &ScenarioRun, max_receive_count: u32) -> bool {
    // An unsampled request may leave no spans at all (OTLP exports sampled spans only).
    let accepted_complete = run
        .accepted()
        .iter()
        .filter(|delivery| delivery.sampled != Some(false))
        .all(|delivery| {
            let Some(message_id) = delivery.message_id.as_deref() else {
                return false;
            };
            let processed = processed_spans(spans, message_id);
            !producer_spans(spans, message_id).is_empty()
                && !processed.is_empty()
                && processed
                    .iter()
                    .all(|process| spans.iter().any(|span| span.is_child_of(process)))
        });
    let forged_seen = run.forged.sampled == Some(false)
        || spans.iter().any(|span| {
            span.service == "webhook-api"
                && span.attribute("http.response.status_code") == Some(&run.forged.status.to_string())
        });
    accepted_complete
        && forged_seen
        && !with_message_id(spans, "process-webhook", &run.legacy.message_id).is_empty()
        && !with_message_id(spans, "process-webhook", &run.eventbridge.message_id).is_empty()
        && with_message_id(spans, "process-webhook", &run.poison.message_id).len()
            >= max_receive_count as usize
}

/// One line of the summary table.
#[derive(Debug, Clone)]
pub struct ReportRow {
    /// What the scenario sent.
    pub what: String,
    /// The event's id.
    pub event: String,
    /// The HTTP status, or `-` for a message put straight on the queue.
    pub http: String,
    /// Its trace id.
    pub trace_id: Option<String>,
    /// Whether its trace is connected, not sampled, or a new root.
    pub connected: String,
    /// What the pipeline did with it.
    pub outcome: String,
}

/// One verified promise.
#[derive(Debug, Clone)]
pub struct Check {
    /// What is checked.
    pub name: String,
    /// Whether it held.
    pub passed: bool,
    /// The evidence.
    pub detail: String,
}

/// One waterfall to show: a trace read back through X-Ray's API, or the note that the request
/// was not sampled.
#[derive(Debug, Clone)]
pub struct Waterfall {
    /// The event it shows.
    pub title: String,
    /// Its trace id.
    pub trace_id: String,
    /// Whether the trace was sampled.
    pub sampled: bool,
}

/// What the demo prints, and whether every check passed.
#[derive(Debug, Clone)]
pub struct DemoReport {
    /// One row per delivery.
    pub rows: Vec<ReportRow>,
    /// Every check.
    pub checks: Vec<Check>,
    /// One waterfall per delivery.
    pub waterfalls: Vec<Waterfall>,
    /// The waterfalls' spans, as X-Ray's API returns them (what `make trace` shows).
    pub read: Vec<SpanRecord>,
}

impl DemoReport {
    /// Whether every check held.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|check| check.passed)
    }

    /// The waterfalls, the summary table and the checks.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for waterfall in &self.waterfalls {
            match waterfall.sampled {
                true => out.push_str(&render_trace(&waterfall.title, &waterfall.trace_id, &self.read)),
                false => {
                    let _ = writeln!(
                        out,
                        "── {} ── trace {} ──\n   not sampled: no trace recorded (the sampling rule left this request out); `make trace` tells its story from the log lines",
                        waterfall.title,
                        xray_trace_id(&waterfall.trace_id)
                    );
                }
            }
            out.push('\n');
        }
        let headers = ["what", "event", "HTTP", "trace id", "connected?", "outcome"];
        let cells: Vec<[String; 6]> = self
            .rows
            .iter()
            .map(|row| {
                [
                    row.what.clone(),
                    row.event.clone(),
                    row.http.clone(),
                    row.trace_id
                        .as_deref()
                        .map(xray_trace_id)
                        .unwrap_or_else(|| "-".to_owned()),
                    row.connected.clone(),
                    row.outcome.clone(),
                ]
            })
            .collect();
        let widths: Vec<usize> = (0..headers.len())
            .map(|column| {
                cells
                    .iter()
                    .map(|row| row[column].chars().count())
                    .chain([headers[column].len()])
                    .max()
                    .unwrap_or_default()
            })
            .collect();
        let line = |values: &[String]| {
            let padded: Vec<String> = values
                .iter()
                .zip(&widths)
                .map(|(value, width)| format!("{value:<width$}"))
                .collect();
            format!("  {}\n", padded.join("  ").trim_end())
        };
        out.push_str(&line(&headers.map(str::to_owned)));
        out.push_str(&line(
            &widths.iter().map(|width| "─".repeat(*width)).collect::<Vec<_>>(),
        ));
        for row in &cells {
            out.push_str(&line(row));
        }
        out.push('\n');
        for check in &self.checks {
            let mark = if check.passed { "✔" } else { "✘" };
            let _ = writeln!(out, "  {mark} {} — {}", check.name, check.detail);
        }
        out
    }
}

/// Builds the report from what the emulator holds, which spans arrived, the traces X-Ray's API
/// returns, the log lines, and what `make trace` says of each accepted event.
pub async fn report(stack: &mut LocalStack, run: &ScenarioRun) -> DemoReport {
    let view = StackView::of(stack);
    let mut report = ReportBuilder {
        spans: view.spans(),
        view,
        source: TraceSource::new(&stack.aws_sdk().await),
        read: Vec::new(),
        rows: Vec::new(),
        checks: Vec::new(),
        waterfalls: Vec::new(),
    };
    report.signed_deliveries(stack, run).await;
    report.redelivery(stack, run).await;
    report.customers_notified(stack, run).await;
    report.forged(stack, run).await;
    report.legacy(run).await;
    report.eventbridge(run).await;
    report.poison(run).await;
    report.queue_drained().await;
    report.exports_intact();
    report.stories(stack, run).await;
    report.finish().await
}

/// The report so far: one step per kind of delivery, each adding its checks, rows and waterfalls.
struct ReportBuilder {
    view: StackView,
    /// Every span the sink received, sampled or not, as the functions sent them.
    spans: Vec<SpanRecord>,
    /// X-Ray's API on the stack's AWS endpoint, as `make trace` reads it.
    source: TraceSource,
    read: Vec<SpanRecord>,
    rows: Vec<ReportRow>,
    checks: Vec<Check>,
    waterfalls: Vec<Waterfall>,
}

impl ReportBuilder {
    fn check(&mut self, name: impl Into<String>, passed: bool, detail: impl Into<String>) {
        self.checks.push(Check {
            name: name.into(),
            passed,
            detail: detail.into(),
        });
    }

    /// A waterfall of the trace `trace_id`, read later through X-Ray's API.
    fn waterfall(&mut self, title: String, trace_id: Option<&str>, sampled: bool) {
        if let Some(trace_id) = trace_id {
            self.waterfalls.push(Waterfall {
                title,
                trace_id: trace_id.to_owned(),
                sampled,
            });
        }
    }

    /// The trace `trace_id` as X-Ray's API returns it (a trace retrieval, with Transaction
    /// Search), recorded in the last ten minutes; none when it cannot be read.
    async fn read_trace(&self, trace_id: &str) -> Vec<SpanRecord> {
        let now = SystemTime::now();
        self.source
            .trace(trace_id, now - Duration::from_secs(600), now)
            .await
            .unwrap_or_default()
    }

    /// The process-webhook spans of the message the API answered with `message_id`.
    fn processed(&self, message_id: &str) -> Vec<SpanRecord> {
        processed_spans(&self.spans, message_id)
            .into_iter()
            .cloned()
            .collect()
    }

    /// The process-webhook spans of a message sent straight to the queue.
    fn processed_direct(&self, message_id: &str) -> Vec<SpanRecord> {
        with_message_id(&self.spans, "process-webhook", message_id)
            .into_iter()
            .cloned()
            .collect()
    }

    async fn signed_deliveries(&mut self, stack: &LocalStack, run: &ScenarioRun) {
        let mut all_connected = true;
        let mut stored_once = true;
        let (mut sampled, mut unsampled) = (0, 0);
        for delivery in run.signed() {
            let record = event_record(&self.view, &delivery.event_id).await;
            stored_once &= record.is_some();
            let is_sampled = delivery.sampled == Some(true);
            let connected = match (delivery.status, is_sampled, delivery.trace_id.as_deref()) {
                (202, true, Some(trace_id)) => {
                    sampled += 1;
                    // What `make trace` and `make smoke` check: every part, API Gateway on.
                    let read = self.read_trace(trace_id).await;
                    let connected = !read.is_empty() && missing_parts(&read, true).is_empty();
                    self.read.extend(read);
                    all_connected &= connected;
                    if connected { "yes" } else { "NO" }
                }
                (202, _, _) => {
                    unsampled += 1;
                    "not sampled"
                }
                _ => {
                    all_connected = false;
                    "NO"
                }
            };
            let outcome = match self.was_duplicate(stack, delivery).await {
                true => "duplicate: no second effect".to_owned(),
                false => describe_record(&self.view, record.as_ref()).await,
            };
            self.waterfall(
                format!("{} · {}", delivery.label, delivery.event_id),
                delivery.trace_id.as_deref(),
                is_sampled,
            );
            self.rows.push(ReportRow {
                what: delivery.label.clone(),
                event: delivery.event_id.clone(),
                http: delivery.status.to_string(),
                trace_id: delivery.trace_id.clone(),
                connected: connected.to_owned(),
                outcome,
            });
        }
        let accepted = run.accepted().len();
        self.check(
            "every accepted event is stored",
            stored_once && accepted == run.signed().len(),
            format!("{accepted} deliveries answered 202, each has its event record"),
        );
        self.check(
            "one trace per sampled webhook, from API Gateway to the DynamoDB write",
            all_connected,
            format!(
                "{sampled} sampled, each read back through X-Ray's API ({}) with every part; {unsampled} not sampled by the rule",
                self.source.describe().await
            ),
        );
    }

    /// Whether the worker logged this delivery's message as a duplicate.
    async fn was_duplicate(&self, stack: &LocalStack, delivery: &Delivery) -> bool {
        let Some(message_id) = delivery.message_id.as_deref() else {
            return false;
        };
        let spans = self.processed(message_id);
        if !spans.is_empty() {
            return spans
                .iter()
                .any(|span| span.attribute("webhook.outcome") == Some("duplicate"));
        }
        // No span (not sampled): the worker's log line for the message says.
        log_lines(stack, LogStage::Worker, &delivery.event_id)
            .await
            .iter()
            .any(|line| line["outcome"] == "duplicate")
    }

    async fn redelivery(&mut self, stack: &LocalStack, run: &ScenarioRun) {
        let customer = run.payment_failed.customer.clone().unwrap_or_default();
        let notifications = notification_count(&self.view, &customer).await;
        // The log lines are the record whether or not either delivery was sampled.
        let outcomes: Vec<String> = log_lines(stack, LogStage::Worker, &run.payment_failed.event_id)
            .await
            .iter()
            .filter_map(|line| line["outcome"].as_str().map(str::to_owned))
            .collect();
        let applied = outcomes.iter().filter(|outcome| *outcome == "applied").count();
        let duplicates = outcomes.iter().filter(|outcome| *outcome == "duplicate").count();
        self.check(
            "a redelivered event has one effect",
            applied == 1 && duplicates >= 1 && notifications == 1,
            format!(
                "the worker logged it applied {applied} time(s) and a duplicate {duplicates} time(s); {customer} has {notifications} notification(s)"
            ),
        );
    }

    /// The third hop: each payment failure's customer is emailed once, through the table's
    /// stream, in the trace of the request that brought the webhook (when it was sampled).
    async fn customers_notified(&mut self, stack: &LocalStack, run: &ScenarioRun) {
        if stack.settings.notifier.is_none() {
            return;
        }
        let mut sent = Vec::new();
        let mut all_sent_once = true;
        for delivery in [&run.payment_failed, &run.invoice_failed] {
            let status = notification_status(&self.view, &delivery.event_id)
                .await
                .unwrap_or_else(|| "missing".to_owned());
            // The notifier's log lines count the emails, sampled or not.
            let emails = log_lines(stack, LogStage::Notifier, &delivery.event_id)
                .await
                .iter()
                .filter(|line| line["outcome"] == "sent")
                .count();
            all_sent_once &= status == event_table::notification::SENT && emails == 1;
            sent.push(format!("{} {status} ({emails} email)", delivery.event_id));
        }
        self.check(
            "customer notified, once",
            all_sent_once,
            format!(
                "through the table's stream and SES: {}; Stripe's retry of the first sent nothing more",
                sent.join(", ")
            ),
        );
        let mut in_trace = 0;
        let mut sampled = 0;
        for delivery in [&run.payment_failed, &run.invoice_failed] {
            let (Some(trace_id), Some(true)) = (delivery.trace_id.as_deref(), delivery.sampled) else {
                continue;
            };
            sampled += 1;
            let read = self.read_trace(trace_id).await;
            // X-Ray names a segment by its service; the span's attributes say what it did.
            let notified = read
                .iter()
                .any(|span| span.attribute("webhook.notification.outcome") == Some("sent"))
                && read.iter().any(|span| span.name == "SES.SendEmail");
            in_trace += usize::from(notified);
        }
        self.check(
            "the notification in the payment failure's trace",
            in_trace == sampled,
            format!(
                "{in_trace} of {sampled} sampled payment failures show send-notification and its SES call in their trace, read back through X-Ray's API"
            ),
        );
    }

    async fn forged(&mut self, stack: &LocalStack, run: &ScenarioRun) {
        let forged = &run.forged;
        // The API's log lines count what it queued and refused, sampled or not.
        let api_lines = log_lines(stack, LogStage::Api, "outcome").await;
        let count = |outcome: &str| api_lines.iter().filter(|line| line["outcome"] == outcome).count();
        let (queued, refused) = (count("queued"), count("refused"));
        let accepted = run.accepted().len();
        self.check(
            "a forged webhook is refused and queues nothing",
            forged.status == 401 && queued == accepted && refused == 1,
            format!(
                "HTTP {} {}; the API logged {queued} queued for {accepted} accepted webhooks and {refused} refused",
                forged.status,
                forged.error_code.as_deref().unwrap_or_default(),
            ),
        );
        self.waterfall(
            format!("{} · {}", forged.label, forged.event_id),
            forged.trace_id.as_deref(),
            forged.sampled == Some(true),
        );
        self.rows.push(ReportRow {
            what: forged.label.clone(),
            event: forged.event_id.clone(),
            http: forged.status.to_string(),
            trace_id: forged.trace_id.clone(),
            connected: "n/a".to_owned(),
            outcome: format!(
                "refused ({}); nothing queued",
                forged.error_code.as_deref().unwrap_or("?")
            ),
        });
    }

    async fn legacy(&mut self, run: &ScenarioRun) {
        let legacy = &run.legacy;
        let spans = self.processed_direct(&legacy.message_id);
        let record = match &legacy.event_id {
            Some(id) => event_record(&self.view, id).await,
            None => None,
        };
        let new_root = spans
            .iter()
            .all(|span| span.is_root() && span.attribute("trace.has_upstream_context") == Some("false"));
        self.check(
            "a message without trace context is still processed, as a new root",
            !spans.is_empty() && new_root && record.is_some(),
            "process-webhook is a root span with trace.has_upstream_context=false; the event is stored",
        );
        let event_id = legacy.event_id.clone().unwrap_or_default();
        self.waterfall(
            format!("{} · {event_id}", legacy.label),
            spans.first().map(|span| span.trace_id.as_str()),
            true,
        );
        let outcome = describe_record(&self.view, record.as_ref()).await;
        self.rows.push(ReportRow {
            what: legacy.label.clone(),
            event: event_id,
            http: "-".to_owned(),
            trace_id: spans.first().map(|span| span.trace_id.clone()),
            connected: "new root".to_owned(),
            outcome,
        });
    }

    async fn eventbridge(&mut self, run: &ScenarioRun) {
        let delivered = &run.eventbridge;
        let spans = self.processed_direct(&delivered.message_id);
        let record = match &delivered.event_id {
            Some(id) => event_record(&self.view, id).await,
            None => None,
        };
        let from_detail = spans.iter().all(|span| {
            span.attribute("webhook.envelope") == Some("eventbridge")
                && span.attribute("webhook.event_id") == delivered.event_id.as_deref()
                && span.is_root()
        });
        self.check(
            "an event delivered by EventBridge is processed from its detail",
            !spans.is_empty() && from_detail && record.is_some(),
            "process-webhook has webhook.envelope=eventbridge and the detail's event id, as a new root (partner events carry no trace header); the event is stored",
        );
        let event_id = delivered.event_id.clone().unwrap_or_default();
        self.waterfall(
            format!("{} · {event_id}", delivered.label),
            spans.first().map(|span| span.trace_id.as_str()),
            true,
        );
        let outcome = describe_record(&self.view, record.as_ref()).await;
        self.rows.push(ReportRow {
            what: delivered.label.clone(),
            event: event_id,
            http: "-".to_owned(),
            trace_id: spans.first().map(|span| span.trace_id.clone()),
            connected: "new root".to_owned(),
            outcome,
        });
    }

    async fn poison(&mut self, run: &ScenarioRun) {
        let poison = &run.poison;
        let spans = self.processed_direct(&poison.message_id);
        let dead_lettered = dlq_depth(&self.view).await;
        let all_errors = spans
            .iter()
            .all(|span| matches!(span.status, SpanStatus::Error(_)));
        let attempts = spans.len();
        self.check(
            "a poison message fails alone, visibly, and ends in the DLQ",
            dead_lettered == 1 && all_errors && attempts >= self.view.settings.max_receive_count as usize,
            format!(
                "{attempts} ERROR spans ({}), {dead_lettered} message(s) in {}",
                spans
                    .first()
                    .and_then(|span| span.attribute("error.type"))
                    .unwrap_or("?"),
                self.view.settings.names.dlq
            ),
        );
        self.waterfall(
            format!("{} (first of {attempts} attempts)", poison.label),
            spans.first().map(|span| span.trace_id.as_str()),
            true,
        );
        self.rows.push(ReportRow {
            what: poison.label.clone(),
            event: "-".to_owned(),
            http: "-".to_owned(),
            trace_id: spans.first().map(|span| span.trace_id.clone()),
            connected: "new root".to_owned(),
            outcome: format!("dead-lettered after {attempts} failed attempts"),
        });
    }

    async fn queue_drained(&mut self) {
        let remaining = queue_depth(&self.view).await;
        let detail = format!(
            "{remaining} message(s) left in {}",
            self.view.settings.names.queue
        );
        self.check("the queue is drained", remaining == 0, detail);
    }

    fn exports_intact(&mut self) {
        let rejected = &self.view.rejected_exports;
        let detail = match rejected.first() {
            None => format!("{} spans received", self.spans.len()),
            Some(first) => format!("{} export(s) refused, first: {first}", rejected.len()),
        };
        let name = format!(
            "every span export arrived intact ({})",
            self.view.transport.as_str()
        );
        self.check(name, rejected.is_empty(), detail);
        if self.view.transport == TelemetryTransport::XrayUdp {
            let fan_out = self.view.settings.fan_out != FanOut::None;
            self.checks.push(application_signals_check(&self.spans, fan_out));
        }
    }

    /// What `make trace` tells of every accepted event: the real `operator` binary against this
    /// stack's AWS endpoint, as a developer runs it after `make up`. Sampled or not, each is found
    /// processed; the unsampled ones are labelled.
    async fn stories(&mut self, stack: &mut LocalStack, run: &ScenarioRun) {
        let operator = stack.options.bin_dir.join("operator");
        let state = stack.options.log_dir.join("up");
        let up = crate::up::UpDir { dir: state };
        if let Err(error) = up.write(&crate::up::state_of(stack)) {
            self.check(
                "make trace tells every accepted event's story",
                false,
                error.to_string(),
            );
            return;
        }
        let mut ids: Vec<(&str, bool)> = Vec::new();
        for delivery in run.accepted() {
            let unsampled = delivery.sampled == Some(false);
            match ids.iter_mut().find(|(id, _)| *id == delivery.event_id) {
                Some(entry) => entry.1 |= unsampled,
                None => ids.push((&delivery.event_id, unsampled)),
            }
        }
        let mut told = Vec::new();
        let mut problems = Vec::new();
        for (event_id, unsampled) in ids {
            let output = tokio::process::Command::new(&operator)
                .args(["trace", event_id, "--local"])
                .arg(up.state_path())
                .output()
                .await;
            let Ok(output) = output else {
                problems.push(format!(
                    "{} cannot run (build it: cargo build -p operator)",
                    operator.display()
                ));
                break;
            };
            let text = String::from_utf8_lossy(&output.stdout).into_owned();
            let labelled = !unsampled || text.contains("not sampled: no trace recorded");
            match (output.status.code(), labelled) {
                (Some(0), true) => told.push(format!(
                    "{event_id}{}",
                    if unsampled { " (not sampled)" } else { "" }
                )),
                (code, _) => problems.push(format!(
                    "{event_id}: exit {code:?}{}",
                    if labelled {
                        ""
                    } else {
                        ", not labelled not sampled"
                    }
                )),
            }
        }
        let detail = match problems.is_empty() {
            true => format!("make trace exits 0 for each: {}", told.join(", ")),
            false => problems.join("; "),
        };
        self.check(
            "make trace tells every accepted event's story, sampled or not",
            problems.is_empty(),
            detail,
        );
    }

    async fn finish(mut self) -> DemoReport {
        // The direct messages' traces (new roots the worker started) are read back too.
        let unread: Vec<String> = self
            .waterfalls
            .iter()
            .filter(|waterfall| {
                waterfall.sampled && !self.read.iter().any(|span| span.trace_id == waterfall.trace_id)
            })
            .map(|waterfall| waterfall.trace_id.clone())
            .collect();
        for trace_id in unread {
            let read = self.read_trace(&trace_id).await;
            self.read.extend(read);
        }
        DemoReport {
            rows: self.rows,
            checks: self.checks,
            waterfalls: self.waterfalls,
            read: self.read,
        }
    }
}

/// Application Signals' view: both services with their `FunctionHandler` operation, and SQS (or
/// SNS, with fan-out) and DynamoDB as their dependencies.
fn application_signals_check(spans: &[SpanRecord], fan_out: bool) -> Check {
    // The functions' spans; API Gateway's own segments are not theirs to annotate.
    let unannotated = spans
        .iter()
        .filter(|span| matches!(span.service.as_str(), "webhook-api" | "webhook-worker"))
        .filter(|span| span.kind != SpanKind::Internal && span.attribute("aws.local.service").is_none())
        .count();
    let mut edges: Vec<String> = spans
        .iter()
        .filter_map(|span| {
            Some(format!(
                "{} -> {} {}",
                span.attribute("aws.local.service")?,
                span.attribute("aws.remote.service")?,
                span.attribute("aws.remote.operation")?
            ))
        })
        .collect();
    edges.sort();
    edges.dedup();
    let expected = [
        if fan_out {
            "webhook-api -> AWS::SNS Publish"
        } else {
            "webhook-api -> AWS::SQS SendMessage"
        },
        "webhook-worker -> AWS::DynamoDB TransactWriteItems",
        "webhook-worker -> AWS::SQS process",
    ];
    Check {
        name: "Application Signals sees both services and their queue, topic and table dependencies"
            .to_owned(),
        passed: unannotated == 0 && expected.iter().all(|edge| edges.iter().any(|e| e == edge)),
        detail: format!(
            "{unannotated} span(s) without aws.local.service; dependencies: {}",
            edges.join(", ")
        ),
    }
}

/// "applied: cus_1 past_due, customer notified" and the like.
async fn describe_record(view: &StackView, record: Option<&StoredEventRecord>) -> String {
    let Some(record) = record else {
        return "NOT STORED".to_owned();
    };
    let outcome = record.outcome.clone();
    if outcome != event_table::outcome::APPLIED {
        return match &record.ignored_reason {
            Some(reason) => format!("{outcome} ({reason})"),
            None => outcome,
        };
    }
    let Some(customer) = &record.customer_id else {
        return outcome;
    };
    let status = subscription_status(view, customer)
        .await
        .unwrap_or_else(|| "?".to_owned());
    if let Some(notified) = notification_status(view, &record.event_id).await {
        let notified = match notified.as_str() {
            event_table::notification::SENT => "customer notified".to_owned(),
            other => format!("notification {other}"),
        };
        format!("applied: {customer} {status}, {notified}")
    } else {
        format!("applied: {customer} {status}")
    }
}
