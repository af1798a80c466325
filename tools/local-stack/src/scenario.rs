//! The scripted demo: signed webhooks in two batches, a forged one, a redelivered one, a message
//! from a legacy producer without trace context, a Stripe event as an EventBridge rule delivers
//! it and a poison message, then checks on what the emulator holds and which spans arrived. The
//! report's checks decide the demo's exit code. With SNS fan-out the producer span is
//! `publish <topic>` instead of `send <queue>`; everything else holds the same.

use serde_json::Value;
use std::fmt::Write as _;

use crate::probe::{
    Delivery, DirectMessage, StackView, all_stored, dlq_depth, event_record, notification_count, post,
    queue_depth, send_direct, subscription_status, wait_for,
};
use crate::stack::{LocalStack, StackError, TelemetryTransport};
use terraform_config::pipeline::FanOut;
use trace_reader::pipeline::is_producer;
use trace_reader::span::{SpanKind, SpanRecord, SpanStatus};
use trace_reader::waterfall::{render_trace, xray_trace_id};
use webhook_worker::store::keys::{self, StoredEventRecord};

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
    let accepted_complete = run.accepted().iter().all(|delivery| {
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
    let forged_seen = spans
        .iter()
        .any(|span| span.attribute("http.response.status_code") == Some(&run.forged.status.to_string()));
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
    pub what: String,
    pub event: String,
    pub http: String,
    pub trace_id: Option<String>,
    pub connected: String,
    pub outcome: String,
}

/// One verified promise.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

/// What the demo prints, and whether every check passed.
#[derive(Debug, Clone)]
pub struct DemoReport {
    pub rows: Vec<ReportRow>,
    pub checks: Vec<Check>,
    /// (title, trace id) of each waterfall to show.
    pub waterfalls: Vec<(String, String)>,
    pub spans: Vec<SpanRecord>,
}

impl DemoReport {
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|check| check.passed)
    }

    /// The waterfalls, the summary table and the checks.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (title, trace_id) in &self.waterfalls {
            out.push_str(&render_trace(title, trace_id, &self.spans));
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

/// Builds the report from what the emulator holds and which spans arrived.
pub async fn report(stack: &LocalStack, run: &ScenarioRun) -> DemoReport {
    let view = StackView::of(stack);
    let mut report = ReportBuilder {
        spans: view.spans(),
        view,
        rows: Vec::new(),
        checks: Vec::new(),
        waterfalls: Vec::new(),
    };
    report.signed_deliveries(run).await;
    report.redelivery(run).await;
    report.forged(run);
    report.legacy(run).await;
    report.eventbridge(run).await;
    report.poison(run).await;
    report.queue_drained().await;
    report.exports_intact();
    report.finish()
}

/// The report so far: one step per kind of delivery, each adding its checks, rows and waterfalls.
struct ReportBuilder {
    view: StackView,
    spans: Vec<SpanRecord>,
    rows: Vec<ReportRow>,
    checks: Vec<Check>,
    waterfalls: Vec<(String, String)>,
}

impl ReportBuilder {
    fn check(&mut self, name: impl Into<String>, passed: bool, detail: impl Into<String>) {
        self.checks.push(Check {
            name: name.into(),
            passed,
            detail: detail.into(),
        });
    }

    fn waterfall(&mut self, title: String, span: Option<&SpanRecord>) {
        if let Some(span) = span {
            self.waterfalls.push((title, span.trace_id.clone()));
        }
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

    /// Whether the delivery's message spans are children of its send span, each parenting a
    /// DynamoDB call.
    fn connected(&self, send: Option<&SpanRecord>, processed: &[SpanRecord]) -> bool {
        send.is_some_and(|send| {
            !processed.is_empty()
                && processed.iter().all(|process| {
                    process.is_child_of(send)
                        && self
                            .spans
                            .iter()
                            .any(|span| span.name.starts_with("DynamoDB.") && span.is_child_of(process))
                })
        })
    }

    async fn signed_deliveries(&mut self, run: &ScenarioRun) {
        let mut all_connected = true;
        let mut stored_once = true;
        for delivery in run.signed() {
            let message_id = delivery.message_id.clone().unwrap_or_default();
            let send = producer_spans(&self.spans, &message_id).first().copied().cloned();
            let processed = self.processed(&message_id);
            let connected = self.connected(send.as_ref(), &processed);
            all_connected &= delivery.status == 202 && connected;
            let record = event_record(&self.view, &delivery.event_id).await;
            stored_once &= record.is_some();
            let duplicate = processed
                .iter()
                .any(|process| process.attribute("webhook.outcome") == Some("duplicate"));
            let outcome = if duplicate {
                "duplicate: no second effect".to_owned()
            } else {
                describe_record(&self.view, record.as_ref()).await
            };
            self.waterfall(
                format!("{} · {}", delivery.label, delivery.event_id),
                send.as_ref(),
            );
            self.rows.push(ReportRow {
                what: delivery.label.clone(),
                event: delivery.event_id.clone(),
                http: delivery.status.to_string(),
                trace_id: send.map(|send| send.trace_id),
                connected: if connected { "yes" } else { "NO" }.to_owned(),
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
            "one trace per webhook, from the HTTP request to the DynamoDB write",
            all_connected,
            "each process-webhook span is a child of its own send (or publish) span and parents its DynamoDB call",
        );
    }

    async fn redelivery(&mut self, run: &ScenarioRun) {
        let customer = run.payment_failed.customer.clone().unwrap_or_default();
        let notifications = notification_count(&self.view, &customer).await;
        let marked_duplicate = run
            .stripe_retry
            .message_id
            .as_deref()
            .map(|id| self.processed(id))
            .is_some_and(|spans| {
                spans
                    .iter()
                    .any(|span| span.attribute("webhook.duplicate") == Some("true"))
            });
        self.check(
            "a redelivered event has one effect",
            marked_duplicate && notifications == 1,
            format!(
                "the retry was marked webhook.duplicate=true; {customer} has {notifications} notification(s)"
            ),
        );
    }

    fn forged(&mut self, run: &ScenarioRun) {
        let forged = &run.forged;
        let span = self
            .spans
            .iter()
            .find(|span| span.attribute("http.response.status_code") == Some("401"))
            .cloned();
        let sends = self.spans.iter().filter(|span| is_producer(span)).count();
        let accepted = run.accepted().len();
        self.check(
            "a forged webhook is refused and queues nothing",
            forged.status == 401 && sends == accepted,
            format!(
                "HTTP {} {}; {sends} messages sent for {accepted} accepted webhooks",
                forged.status,
                forged.error_code.as_deref().unwrap_or_default(),
            ),
        );
        self.waterfall(format!("{} · {}", forged.label, forged.event_id), span.as_ref());
        self.rows.push(ReportRow {
            what: forged.label.clone(),
            event: forged.event_id.clone(),
            http: forged.status.to_string(),
            trace_id: span.map(|span| span.trace_id),
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
        self.waterfall(format!("{} · {event_id}", legacy.label), spans.first());
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
        self.waterfall(format!("{} · {event_id}", delivered.label), spans.first());
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
            spans.first(),
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

    fn finish(self) -> DemoReport {
        DemoReport {
            rows: self.rows,
            checks: self.checks,
            waterfalls: self.waterfalls,
            spans: self.spans,
        }
    }
}

/// Application Signals' view: both services with their `FunctionHandler` operation, and SQS (or
/// SNS, with fan-out) and DynamoDB as their dependencies.
fn application_signals_check(spans: &[SpanRecord], fan_out: bool) -> Check {
    let unannotated = spans
        .iter()
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

/// "applied: subscription past_due, notification pending" and the like.
async fn describe_record(view: &StackView, record: Option<&StoredEventRecord>) -> String {
    let Some(record) = record else {
        return "NOT STORED".to_owned();
    };
    let outcome = record.outcome.clone();
    if outcome != keys::outcome::APPLIED {
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
    if notification_count(view, customer).await > 0 {
        format!("applied: {customer} {status}, notification pending")
    } else {
        format!("applied: {customer} {status}")
    }
}
