//! The scripted demo: signed webhooks in two batches, a forged one, a redelivered one, a message
//! from a legacy producer without trace context and a poison message, then checks on what the
//! emulator holds and which spans arrived. The report's checks decide the demo's exit code.

use serde_json::Value;
use std::fmt::Write as _;

use crate::probe::{
    Delivery, DirectMessage, StackView, all_stored, dlq_depth, event_record, notification_count, post,
    queue_depth, send_direct, subscription_status, wait_for,
};
use crate::stack::{LocalStack, StackError, TelemetryTransport};
use trace_reader::span::{SpanKind, SpanRecord, SpanStatus};
use trace_reader::waterfall::{render_trace, xray_trace_id};
use webhook_worker::store::keys::{self, StoredEventRecord};

/// What the scenario did.
#[derive(Debug, Clone)]
pub struct ScenarioRun {
    pub first: Delivery,
    pub second: Delivery,
    pub forged: Delivery,
    pub third: Delivery,
    pub fourth: Delivery,
    pub redelivery: Delivery,
    pub legacy: DirectMessage,
    pub poison: DirectMessage,
}

impl ScenarioRun {
    pub fn accepted(&self) -> Vec<&Delivery> {
        [
            &self.first,
            &self.second,
            &self.third,
            &self.fourth,
            &self.redelivery,
        ]
        .into_iter()
        .filter(|delivery| delivery.status == 202)
        .collect()
    }
}

/// Runs the script against a started stack and waits until the pipeline has drained.
pub async fn run(stack: &mut LocalStack) -> Result<ScenarioRun, StackError> {
    let http = reqwest::Client::new();
    let secret = stack.provisioned.signing_secret.clone();

    let first = post(
        stack,
        &http,
        "payment failed",
        sample("payment_intent.payment_failed")?,
        &secret,
    )
    .await?;
    let second = post(
        stack,
        &http,
        "invoice payment failed",
        sample("invoice.payment_failed")?,
        &secret,
    )
    .await?;
    let forged = post(
        stack,
        &http,
        "forged signature",
        sample("customer.subscription.updated")?,
        "whsec_someone_else",
    )
    .await?;
    let batch_one = [first.event_id.clone(), second.event_id.clone()];
    wait_for(stack, "the first batch to be stored", |stack| {
        let ids = batch_one.clone();
        async move { all_stored(&stack, &ids).await }
    })
    .await?;

    let third = post(
        stack,
        &http,
        "subscription updated",
        sample("customer.subscription.updated")?,
        &secret,
    )
    .await?;
    let fourth = post(
        stack,
        &http,
        "unknown event type",
        sample("charge.dispute.created")?,
        &secret,
    )
    .await?;
    let redelivery = post(
        stack,
        &http,
        "Stripe retry (duplicate)",
        sample("payment_intent.payment_failed")?,
        &secret,
    )
    .await?;
    let legacy = send_direct(stack, "legacy producer, no trace context", legacy_event()?).await?;
    let poison = send_direct(stack, "poison message", br#"{"id": "evt_truncated"#.to_vec()).await?;

    let run = ScenarioRun {
        first,
        second,
        forged,
        third,
        fourth,
        redelivery,
        legacy,
        poison,
    };
    let mut expected_ids: Vec<String> = run.accepted().iter().map(|d| d.event_id.clone()).collect();
    expected_ids.extend(run.legacy.event_id.clone());
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
    .await?;
    Ok(run)
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
        let processed = with_message_id(spans, "process-webhook", message_id);
        !with_message_id(spans, "send ", message_id).is_empty()
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
    let spans = view.spans();
    let mut rows = Vec::new();
    let mut checks = Vec::new();
    let mut waterfalls = Vec::new();

    let mut all_connected = true;
    let mut stored_once = true;
    for delivery in [&run.first, &run.second, &run.third, &run.fourth, &run.redelivery] {
        let message_id = delivery.message_id.clone().unwrap_or_default();
        let send = with_message_id(&spans, "send ", &message_id)
            .first()
            .copied()
            .cloned();
        let processed = with_message_id(&spans, "process-webhook", &message_id);
        let connected = send.as_ref().is_some_and(|send| {
            !processed.is_empty()
                && processed.iter().all(|process| {
                    process.is_child_of(send)
                        && spans
                            .iter()
                            .any(|span| span.name.starts_with("DynamoDB.") && span.is_child_of(process))
                })
        });
        all_connected &= delivery.status == 202 && connected;
        let record = event_record(&view, &delivery.event_id).await;
        stored_once &= record.is_some();
        let duplicate = processed
            .iter()
            .any(|process| process.attribute("webhook.outcome") == Some("duplicate"));
        let outcome = if duplicate {
            "duplicate: no second effect".to_owned()
        } else {
            describe_record(&view, record.as_ref()).await
        };
        if let Some(send) = &send {
            waterfalls.push((
                format!("{} · {}", delivery.label, delivery.event_id),
                send.trace_id.clone(),
            ));
        }
        rows.push(ReportRow {
            what: delivery.label.clone(),
            event: delivery.event_id.clone(),
            http: delivery.status.to_string(),
            trace_id: send.map(|send| send.trace_id),
            connected: if connected { "yes" } else { "NO" }.to_owned(),
            outcome,
        });
    }
    checks.push(Check {
        name: "every accepted event is stored".to_owned(),
        passed: stored_once && run.accepted().len() == 5,
        detail: format!(
            "{} deliveries answered 202, each has its event record",
            run.accepted().len()
        ),
    });
    checks.push(Check {
        name: "one trace per webhook, from the HTTP request to the DynamoDB write".to_owned(),
        passed: all_connected,
        detail: "each process-webhook span is a child of its own send span and parents its DynamoDB call"
            .to_owned(),
    });

    let first_customer = run.first.customer.clone().unwrap_or_default();
    let notifications = notification_count(&view, &first_customer).await;
    let redelivery_duplicate = run
        .redelivery
        .message_id
        .as_deref()
        .map(|id| with_message_id(&spans, "process-webhook", id))
        .is_some_and(|spans| {
            spans
                .iter()
                .any(|span| span.attribute("webhook.duplicate") == Some("true"))
        });
    checks.push(Check {
        name: "a redelivered event has one effect".to_owned(),
        passed: redelivery_duplicate && notifications == 1,
        detail: format!("the retry was marked webhook.duplicate=true; {first_customer} has {notifications} notification(s)"),
    });

    let forged_span = spans
        .iter()
        .find(|span| span.attribute("http.response.status_code") == Some("401"))
        .cloned();
    let sends = spans.iter().filter(|span| span.name.starts_with("send ")).count();
    checks.push(Check {
        name: "a forged webhook is refused and queues nothing".to_owned(),
        passed: run.forged.status == 401 && sends == run.accepted().len(),
        detail: format!(
            "HTTP {} {}; {sends} messages sent for {} accepted webhooks",
            run.forged.status,
            run.forged.error_code.as_deref().unwrap_or_default(),
            run.accepted().len()
        ),
    });
    if let Some(span) = &forged_span {
        waterfalls.push((
            format!("{} · {}", run.forged.label, run.forged.event_id),
            span.trace_id.clone(),
        ));
    }
    rows.push(ReportRow {
        what: run.forged.label.clone(),
        event: run.forged.event_id.clone(),
        http: run.forged.status.to_string(),
        trace_id: forged_span.map(|span| span.trace_id),
        connected: "n/a".to_owned(),
        outcome: format!(
            "refused ({}); nothing queued",
            run.forged.error_code.as_deref().unwrap_or("?")
        ),
    });

    let legacy_spans = with_message_id(&spans, "process-webhook", &run.legacy.message_id);
    let legacy_record = match &run.legacy.event_id {
        Some(id) => event_record(&view, id).await,
        None => None,
    };
    let legacy_root = legacy_spans
        .iter()
        .all(|span| span.is_root() && span.attribute("trace.has_upstream_context") == Some("false"));
    checks.push(Check {
        name: "a message without trace context is still processed, as a new root".to_owned(),
        passed: !legacy_spans.is_empty() && legacy_root && legacy_record.is_some(),
        detail: "process-webhook is a root span with trace.has_upstream_context=false; the event is stored"
            .to_owned(),
    });
    if let Some(span) = legacy_spans.first() {
        waterfalls.push((
            format!(
                "{} · {}",
                run.legacy.label,
                run.legacy.event_id.clone().unwrap_or_default()
            ),
            span.trace_id.clone(),
        ));
    }
    rows.push(ReportRow {
        what: run.legacy.label.clone(),
        event: run.legacy.event_id.clone().unwrap_or_default(),
        http: "-".to_owned(),
        trace_id: legacy_spans.first().map(|span| span.trace_id.clone()),
        connected: "new root".to_owned(),
        outcome: describe_record(&view, legacy_record.as_ref()).await,
    });

    let poison_spans = with_message_id(&spans, "process-webhook", &run.poison.message_id);
    let dead_lettered = dlq_depth(&view).await;
    let poison_errors = poison_spans
        .iter()
        .all(|span| matches!(span.status, SpanStatus::Error(_)));
    checks.push(Check {
        name: "a poison message fails alone, visibly, and ends in the DLQ".to_owned(),
        passed: dead_lettered == 1
            && poison_errors
            && poison_spans.len() >= view.settings.max_receive_count as usize,
        detail: format!(
            "{} ERROR spans ({}), {dead_lettered} message(s) in {}",
            poison_spans.len(),
            poison_spans
                .first()
                .and_then(|span| span.attribute("error.type"))
                .unwrap_or("?"),
            view.settings.names.dlq
        ),
    });
    if let Some(span) = poison_spans.first() {
        waterfalls.push((
            format!("{} (first of {} attempts)", run.poison.label, poison_spans.len()),
            span.trace_id.clone(),
        ));
    }
    rows.push(ReportRow {
        what: run.poison.label.clone(),
        event: "-".to_owned(),
        http: "-".to_owned(),
        trace_id: poison_spans.first().map(|span| span.trace_id.clone()),
        connected: "new root".to_owned(),
        outcome: format!("dead-lettered after {} failed attempts", poison_spans.len()),
    });

    let remaining = queue_depth(&view).await;
    checks.push(Check {
        name: "the queue is drained".to_owned(),
        passed: remaining == 0,
        detail: format!("{remaining} message(s) left in {}", view.settings.names.queue),
    });

    checks.push(Check {
        name: format!("every span export arrived intact ({})", view.transport.as_str()),
        passed: view.rejected_exports.is_empty(),
        detail: match view.rejected_exports.first() {
            None => format!("{} spans received", spans.len()),
            Some(first) => format!(
                "{} export(s) refused, first: {first}",
                view.rejected_exports.len()
            ),
        },
    });
    if view.transport == TelemetryTransport::XrayUdp {
        checks.push(application_signals_check(&spans));
    }

    DemoReport {
        rows,
        checks,
        waterfalls,
        spans,
    }
}

/// Application Signals' view: both services with their `FunctionHandler` operation, and SQS and
/// DynamoDB as their dependencies.
fn application_signals_check(spans: &[SpanRecord]) -> Check {
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
        "webhook-api -> AWS::SQS SendMessage",
        "webhook-worker -> AWS::DynamoDB TransactWriteItems",
        "webhook-worker -> AWS::SQS process",
    ];
    Check {
        name: "Application Signals sees both services and their SQS and DynamoDB dependencies".to_owned(),
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
