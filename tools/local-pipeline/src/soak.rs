//! `local-pipeline soak`: many signed webhooks through the whole local pipeline while a share of
//! DynamoDB requests fail, then the counts that prove the promise: every accepted event stored
//! exactly once, no duplicate effect, nothing dead-lettered, every message span in its
//! producer's trace.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::fault_proxy::{AwsService, Fault, FaultRule};
use crate::probe::{StackView, leftovers, queue_depth, unix_now};
use crate::stack::{LocalStack, StackError};
use trace_reader::span::{SpanRecord, SpanStatus};

/// A progress line every this many webhooks sent, and this often while draining: a long run
/// should show it is alive.
const PROGRESS_EVERY: usize = 1000;
const PROGRESS_INTERVAL: Duration = Duration::from_secs(30);

/// What `make soak` sends, and how.
#[derive(Debug, Clone)]
pub struct SoakOptions {
    /// How many webhooks.
    pub events: usize,
    /// The share of DynamoDB requests that fail (throttled), e.g. 0.05.
    pub dynamodb_failure_rate: f64,
    /// Webhooks in flight at once.
    pub concurrency: usize,
    /// The whole run's bound: sending and draining.
    pub deadline: Duration,
}

impl Default for SoakOptions {
    fn default() -> Self {
        Self {
            events: 10_000,
            dynamodb_failure_rate: 0.05,
            concurrency: 8,
            deadline: Duration::from_secs(45 * 60),
        }
    }
}

/// What the run counted.
#[derive(Debug, Clone, Default)]
pub struct SoakReport {
    /// Webhooks to send.
    pub events: usize,
    /// Webhooks the API accepted.
    pub accepted: usize,
    /// Non-202 answers that were retried (as Stripe would) and then accepted.
    pub retried: usize,
    /// Webhooks never accepted within the run's bound.
    pub never_accepted: usize,
    /// How long sending took.
    pub send_seconds: f64,
    /// How long the queue took to drain after.
    pub drain_seconds: f64,
    /// Event records in the table.
    pub event_records: usize,
    /// Notification items in the table.
    pub notifications: usize,
    /// Messages on the dead-letter queue.
    pub dead_lettered: u64,
    /// Messages left on the event queue.
    pub left_on_queue: u64,
    /// DynamoDB requests the fault proxy failed.
    pub injected_failures: u64,
    /// DynamoDB requests the proxy saw.
    pub dynamodb_requests: u64,
    /// `process-webhook` spans that ended in ERROR (then redelivered).
    pub failed_attempts: usize,
    /// Redeliveries of an already-committed event (its write succeeded, its delete did not).
    pub duplicate_deliveries: usize,
    /// Events whose successful `process-webhook` span is a child of their own `send` span.
    pub connected_traces: usize,
    /// Whether the run hit its deadline.
    pub timed_out: bool,
}

impl SoakReport {
    /// Every promise kept: every row [`render`](Self::render) prints has a ✔.
    pub fn passed(&self) -> bool {
        self.checks().iter().all(|(ok, _)| *ok)
    }

    /// The report as printed.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let check = |ok: bool| if ok { "✔" } else { "✘" };
        let rate = |count: usize, seconds: f64| {
            if seconds > 0.0 {
                count as f64 / seconds
            } else {
                0.0
            }
        };
        let _ = writeln!(
            out,
            "\nSoak: {} signed webhooks through the local pipeline",
            self.events
        );
        let _ = writeln!(
            out,
            "  sent in {:.1} s ({:.0} webhooks/s accepted); drained {:.1} s later ({:.0} events/s end to end)",
            self.send_seconds,
            rate(self.accepted, self.send_seconds),
            self.drain_seconds,
            rate(self.event_records, self.send_seconds + self.drain_seconds),
        );
        let _ = writeln!(
            out,
            "  DynamoDB: {} of {} requests failed by injection ({:.1}%); {} message attempts failed and were redelivered",
            self.injected_failures,
            self.dynamodb_requests,
            if self.dynamodb_requests > 0 {
                100.0 * self.injected_failures as f64 / self.dynamodb_requests as f64
            } else {
                0.0
            },
            self.failed_attempts,
        );
        for (ok, text) in self.checks() {
            let _ = writeln!(out, "  {} {text}", check(ok));
        }
        out
    }

    /// Each promise: kept or not, and what was counted.
    fn checks(&self) -> [(bool, String); 7] {
        [
            (
                self.never_accepted == 0,
                format!(
                    "{} accepted (202), {} after a retry, {} never",
                    self.accepted, self.retried, self.never_accepted
                ),
            ),
            (
                self.event_records == self.events,
                format!("{} event records for {} events", self.event_records, self.events),
            ),
            (
                self.notifications == self.events,
                format!(
                    "{} notifications: {} duplicate effects ({} redeliveries of committed events absorbed)",
                    self.notifications,
                    self.notifications.saturating_sub(self.events),
                    self.duplicate_deliveries
                ),
            ),
            (
                self.dead_lettered == 0,
                format!("{} in the DLQ", self.dead_lettered),
            ),
            (
                self.left_on_queue == 0,
                format!("{} left on the queue", self.left_on_queue),
            ),
            (
                self.connected_traces == self.events,
                format!(
                    "{} of {} process-webhook spans in their producer's trace",
                    self.connected_traces, self.events
                ),
            ),
            (
                !self.timed_out,
                if self.timed_out {
                    "the run hit its deadline".to_owned()
                } else {
                    "finished within its deadline".to_owned()
                },
            ),
        ]
    }
}

/// Runs the soak on a stack started with a fault proxy: send every webhook, wait for the pipeline
/// to drain, then count what the emulator holds.
pub async fn run(stack: &mut LocalStack, options: &SoakOptions) -> Result<SoakReport, StackError> {
    let faults = stack.faults().ok_or_else(|| {
        StackError::Scenario("the soak needs a stack started with the fault proxy".to_owned())
    })?;
    faults.add(
        FaultRule::always(AwsService::DynamoDb, Fault::ThroughputExceeded)
            .rate(options.dynamodb_failure_rate),
    );
    let started = Instant::now();
    let mut report = SoakReport {
        events: options.events,
        ..SoakReport::default()
    };
    send_all(stack, options, started, &mut report).await?;
    drain(stack, options, started, &mut report).await?;
    count_results(stack, &mut report).await?;
    Ok(report)
}

/// Sends every webhook, each retried (as Stripe does) until the API accepts it.
async fn send_all(
    stack: &LocalStack,
    options: &SoakOptions,
    started: Instant,
    report: &mut SoakReport,
) -> Result<(), StackError> {
    let http = reqwest::Client::new();
    let url = stack.webhook_url();
    let secret = Arc::new(stack.provisioned.signing_secret.clone());
    let permits = Arc::new(Semaphore::new(options.concurrency.max(1)));
    let mut sends = tokio::task::JoinSet::new();
    for index in 0..options.events {
        if index > 0 && index % PROGRESS_EVERY == 0 {
            println!("  {index} sent after {:.0} s", started.elapsed().as_secs_f64());
        }
        let permit = Arc::clone(&permits)
            .acquire_owned()
            .await
            .map_err(|error| StackError::Scenario(error.to_string()))?;
        let (http, url, secret) = (http.clone(), url.clone(), Arc::clone(&secret));
        sends.spawn(async move {
            let _permit = permit;
            send_until_accepted(&http, &url, &secret, index).await
        });
    }
    while let Some(outcome) = sends.join_next().await {
        match outcome {
            Ok(Some(retries)) => {
                report.accepted += 1;
                report.retried += usize::from(retries > 0);
            }
            _ => report.never_accepted += 1,
        }
    }
    report.send_seconds = started.elapsed().as_secs_f64();
    Ok(())
}

/// Polls until every accepted event was processed and the queue is empty, or the deadline:
/// progress from the spans (cheap), the verdict from the queue (authoritative).
async fn drain(
    stack: &mut LocalStack,
    options: &SoakOptions,
    started: Instant,
    report: &mut SoakReport,
) -> Result<(), StackError> {
    let drain_started = Instant::now();
    let mut last_progress = Instant::now();
    loop {
        let applied = applied_events(&stack.spans());
        if last_progress.elapsed() >= PROGRESS_INTERVAL {
            println!(
                "  {applied} of {} processed after {:.0} s",
                report.accepted,
                started.elapsed().as_secs_f64()
            );
            last_progress = Instant::now();
        }
        if applied >= report.accepted && queue_depth(&StackView::of(stack)).await == 0 {
            break;
        }
        stack.check_health()?;
        if started.elapsed() > options.deadline {
            report.timed_out = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    report.drain_seconds = drain_started.elapsed().as_secs_f64();
    Ok(())
}

/// What the table, the queues, the fault proxy and the spans hold after the run.
async fn count_results(stack: &LocalStack, report: &mut SoakReport) -> Result<(), StackError> {
    let left = leftovers(&StackView::of(stack)).await?;
    report.event_records = left.event_records;
    report.notifications = left.notifications;
    report.dead_lettered = left.in_dlq;
    report.left_on_queue = left.on_queue;
    if let Some(faults) = stack.faults() {
        report.injected_failures = faults.injected(AwsService::DynamoDb);
        report.dynamodb_requests = report.injected_failures + faults.forwarded(AwsService::DynamoDb);
    }
    let spans = stack.spans();
    report.failed_attempts = spans
        .iter()
        .filter(|span| span.name == "process-webhook" && matches!(span.status, SpanStatus::Error(_)))
        .count();
    report.duplicate_deliveries = spans
        .iter()
        .filter(|span| {
            span.name == "process-webhook" && span.attribute("webhook.outcome") == Some("duplicate")
        })
        .count();
    report.connected_traces = connected_traces(&spans);
    Ok(())
}

/// Posts webhook `index` until it is accepted; the number of retries it took, or `None`.
async fn send_until_accepted(http: &reqwest::Client, url: &str, secret: &str, index: usize) -> Option<usize> {
    let body = crate::probe::payment_failure(&format!("evt_soak{index:06}"), &format!("cus_soak{index:06}"));
    for attempt in 0..5 {
        let signature = stripe_signature::sign(secret, unix_now(), &body);
        let response = http
            .post(url)
            .header("content-type", "application/json")
            .header("stripe-signature", signature)
            .body(body.clone())
            .send()
            .await;
        if response.is_ok_and(|response| response.status().as_u16() == 202) {
            return Some(attempt);
        }
    }
    None
}

/// Distinct events with a successful (`applied`) `process-webhook` span.
fn applied_events(spans: &[SpanRecord]) -> usize {
    spans
        .iter()
        .filter(|span| span.name == "process-webhook" && span.attribute("webhook.outcome") == Some("applied"))
        .filter_map(|span| span.attribute("webhook.event_id"))
        .collect::<HashSet<_>>()
        .len()
}

/// Events whose applied `process-webhook` span is the child of the `send` span of the same
/// message: one trace from the HTTP request to the write.
fn connected_traces(spans: &[SpanRecord]) -> usize {
    let sends: HashMap<&str, &SpanRecord> = spans
        .iter()
        .filter(|span| span.name.starts_with("send "))
        .filter_map(|span| Some((span.attribute("messaging.message.id")?, span)))
        .collect();
    spans
        .iter()
        .filter(|span| span.name == "process-webhook" && span.attribute("webhook.outcome") == Some("applied"))
        .filter(|span| {
            span.attribute("messaging.message.id")
                .and_then(|id| sends.get(id))
                .is_some_and(|send| span.is_child_of(send))
        })
        .filter_map(|span| span.attribute("webhook.event_id"))
        .collect::<HashSet<_>>()
        .len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept() -> SoakReport {
        SoakReport {
            events: 100,
            accepted: 100,
            event_records: 100,
            notifications: 100,
            connected_traces: 100,
            ..SoakReport::default()
        }
    }

    #[test]
    fn a_run_that_kept_every_promise_passes() {
        assert!(kept().passed());
        assert!(!kept().render().contains('✘'));
    }

    #[test]
    fn any_count_off_fails_the_run_and_is_marked() {
        type Breaking = fn(&mut SoakReport);
        let broken: [(&str, Breaking); 7] = [
            ("never accepted", |r| r.never_accepted = 1),
            ("a missing record", |r| r.event_records = 99),
            ("a duplicate effect", |r| r.notifications = 101),
            ("a dead letter", |r| r.dead_lettered = 1),
            ("left on the queue", |r| r.left_on_queue = 1),
            ("a disconnected trace", |r| r.connected_traces = 99),
            ("the deadline", |r| r.timed_out = true),
        ];
        for (what, breaking) in broken {
            let mut report = kept();
            breaking(&mut report);
            assert!(!report.passed(), "{what}");
            assert_eq!(report.render().matches('✘').count(), 1, "{what}");
        }
    }
}
