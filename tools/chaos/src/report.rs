//! What a chaos run injected, what the pipeline did about it, and whether every promise held:
//! the counts a run prints and `bench/README.md` keeps.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::schedule::FaultClass;

/// One fault class as the run injected it: counted by the fault proxy, the Lambda emulation or
/// the sender, never assumed from the schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injected {
    /// The class.
    pub class: FaultClass,
    /// How many times it struck (requests refused or held, kills, copies sent, webhooks).
    pub count: u64,
    /// What was counted, and when.
    pub detail: String,
}

/// The whole run in counts.
#[derive(Debug, Clone, Default)]
pub struct ChaosReport {
    /// What the run was: queue type, fan-out.
    pub topology: String,
    /// Distinct webhooks (events) to send.
    pub events: usize,
    /// Distinct events the API accepted (202) at least once.
    pub accepted_events: usize,
    /// Events never accepted within the run's bound.
    pub never_accepted: usize,
    /// 202 answers in all, storm copies included.
    pub accepted_deliveries: usize,
    /// Non-202 answers the sender retried (503 while the queue was down), by status.
    pub refused_answers: BTreeMap<u16, usize>,
    /// Events that needed more than one attempt.
    pub retried_events: usize,
    /// API invocations that ran out of time (API Gateway answered 504).
    pub api_timeouts: u64,
    /// How long sending took.
    pub send_seconds: f64,
    /// How long the pipeline took to drain after.
    pub drain_seconds: f64,
    /// Each fault class, as injected.
    pub injected: Vec<Injected>,
    /// Worker invocations, failed invocations and those that ran out of time.
    pub invocations: u64,
    /// Worker invocations that failed as a whole (killed, timed out).
    pub failed_invocations: u64,
    /// Invocations that ran past the worker's timeout (`Sandbox.Timedout`).
    pub timeouts: u64,
    /// Sandboxes started after the first: cold starts after kills and timeouts.
    pub cold_starts: u64,
    /// Invocations whose batch was full (the mapping's batch size), and that size.
    pub full_batches: (usize, usize),
    /// Messages the worker processed (one log line each), every attempt.
    pub message_attempts: usize,
    /// Attempts that failed (then redelivered).
    pub failed_attempts: usize,
    /// Attempts of a message received before (`receive_count` > 1).
    pub redeliveries: usize,
    /// Messages the worker left unstarted at its deadline, answered for redelivery.
    pub left_at_deadline: usize,
    /// Messages left unstarted behind a failed one of their FIFO group.
    pub left_behind_group: usize,
    /// Messages moved from the DLQ back to the queue, and in how many redrives.
    pub redriven: u64,
    /// Redrives run.
    pub redrives: usize,
    /// Event records in the table.
    pub event_records: usize,
    /// Notification items in the table.
    pub notifications: usize,
    /// Events whose effect was applied more than once.
    pub doubled_effects: usize,
    /// Deliveries the worker marked as duplicates of a stored event.
    pub duplicates_marked: usize,
    /// Messages left on the queue at the end.
    pub left_on_queue: u64,
    /// Messages left in the DLQ at the end.
    pub left_in_dlq: u64,
    /// Events with a sampled trace.
    pub sampled_events: usize,
    /// `process-webhook` spans of sampled events, every attempt.
    pub message_spans: usize,
    /// Of those, spans outside their producer's trace.
    pub disconnected_spans: usize,
    /// Of those, spans in the trace of a request whose API sandbox timed out after sending, so
    /// its send span was never exported (the sender's retry is then a duplicate).
    pub spans_under_lost_sends: usize,
    /// Sampled events with no stored (applied or duplicate) span in their producer's trace.
    pub events_without_connected_span: usize,
    /// Sampled events whose every storing invocation was killed or timed out before it
    /// exported its spans (their log lines still tell the story).
    pub events_lost_with_sandbox: usize,
    /// Span datagrams the kernel dropped before the trace sink read them (`None`: not known).
    pub dropped_span_datagrams: Option<u64>,
    /// Events looked up with the operator's story, and how many the run holds.
    pub looked_up: usize,
    /// Looked-up events not found as processed: their ids (the first few) and verdicts.
    pub not_found: Vec<String>,
    /// Looked-up events not found as processed, in all.
    pub not_found_count: usize,
    /// How long the lookups took.
    pub lookup_seconds: f64,
    /// Lines saying a function process panicked.
    pub panics: usize,
    /// `process-webhook` spans in ERROR, by `error.type` (`none` when it has none).
    pub error_spans: BTreeMap<String, usize>,
    /// Whether the run hit its deadline.
    pub timed_out: bool,
}

impl ChaosReport {
    /// Every promise kept: every check [`render`](Self::render) prints has a ✔.
    pub fn passed(&self) -> bool {
        self.checks().iter().all(|(ok, _)| *ok)
    }

    /// `process-webhook` ERROR spans without an `error.type`.
    pub fn untyped_error_spans(&self) -> usize {
        self.error_spans.get("none").copied().unwrap_or_default()
    }

    /// The report as printed.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let check = |ok: bool| if ok { "✔" } else { "✘" };
        let per_second = |count: usize, seconds: f64| match seconds > 0.0 {
            true => count as f64 / seconds,
            false => 0.0,
        };
        let _ = writeln!(
            out,
            "\nChaos: {} signed webhooks through the local pipeline ({})",
            self.events, self.topology
        );
        let _ = writeln!(
            out,
            "  sent in {:.1} s ({:.1} events/s accepted); everything stored {:.1} s later ({:.1} events/s end to end)",
            self.send_seconds,
            per_second(self.accepted_events, self.send_seconds),
            self.drain_seconds,
            per_second(self.event_records, self.send_seconds + self.drain_seconds),
        );
        let _ = writeln!(out, "  injected:");
        for injected in &self.injected {
            let _ = writeln!(
                out,
                "    {:<14} {:>6}  {}",
                injected.class.name(),
                injected.count,
                injected.detail
            );
        }
        let refused: usize = self.refused_answers.values().sum();
        let _ = writeln!(out, "  survived:");
        let _ = writeln!(
            out,
            "    sender: {} accepted deliveries for {} events; {} refused answers ({}) retried with backoff; {} events needed a retry; {} API invocations timed out",
            self.accepted_deliveries,
            self.accepted_events,
            refused,
            self.refused_answers
                .iter()
                .map(|(status, count)| format!("{count} x {status}"))
                .collect::<Vec<_>>()
                .join(", "),
            self.retried_events,
            self.api_timeouts
        );
        let _ = writeln!(
            out,
            "    worker: {} invocations ({} with a full batch of {}), {} failed whole ({} timed out), {} cold starts after kills and timeouts",
            self.invocations,
            self.full_batches.0,
            self.full_batches.1,
            self.failed_invocations,
            self.timeouts,
            self.cold_starts
        );
        let _ = writeln!(
            out,
            "    messages: {} attempts, {} failed, {} redeliveries, {} left at the deadline, {} left behind their FIFO group, {} marked duplicate",
            self.message_attempts,
            self.failed_attempts,
            self.redeliveries,
            self.left_at_deadline,
            self.left_behind_group,
            self.duplicates_marked
        );
        let _ = writeln!(
            out,
            "    DLQ: {} dead-lettered messages redriven in {} redrive(s)",
            self.redriven, self.redrives
        );
        let _ = writeln!(
            out,
            "    failed attempts' spans by error.type: {}",
            match self.error_spans.is_empty() {
                true => "none".to_owned(),
                false => self
                    .error_spans
                    .iter()
                    .map(|(kind, count)| format!("{kind} {count}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            }
        );
        for (ok, text) in self.checks() {
            let _ = writeln!(out, "  {} {text}", check(ok));
        }
        out
    }

    /// Each promise: kept or not, and what was counted.
    fn checks(&self) -> Vec<(bool, String)> {
        let not_injected: Vec<&str> = self
            .injected
            .iter()
            .filter(|injected| injected.count == 0)
            .map(|injected| injected.class.name())
            .collect();
        vec![
            (
                not_injected.is_empty(),
                match not_injected.is_empty() {
                    true => format!("every scheduled fault class struck ({})", self.injected.len()),
                    false => format!("never struck: {}", not_injected.join(", ")),
                },
            ),
            (
                self.never_accepted == 0 && self.accepted_events == self.events,
                format!(
                    "{} of {} events accepted (202), {} never",
                    self.accepted_events, self.events, self.never_accepted
                ),
            ),
            (
                self.event_records == self.events && self.notifications == self.events,
                format!(
                    "stored exactly once: {} event records and {} notifications for {} events",
                    self.event_records, self.notifications, self.events
                ),
            ),
            (
                self.doubled_effects == 0,
                format!(
                    "{} doubled effects; {} redeliveries marked duplicate",
                    self.doubled_effects, self.duplicates_marked
                ),
            ),
            (
                self.left_in_dlq == 0,
                format!("{} in the DLQ after the redrive", self.left_in_dlq),
            ),
            (
                self.left_on_queue == 0,
                format!("{} left on the queue", self.left_on_queue),
            ),
            (
                self.disconnected_spans == 0 && self.events_without_connected_span == 0,
                format!(
                    "{} of {} process-webhook spans of {} sampled events in their producer's trace ({} under the send span of an API invocation that timed out and was never exported); {} sampled events without a stored attempt there ({} more whose storing invocations died before exporting){}",
                    self.message_spans - self.disconnected_spans.min(self.message_spans),
                    self.message_spans,
                    self.sampled_events,
                    self.spans_under_lost_sends,
                    self.events_without_connected_span,
                    self.events_lost_with_sandbox,
                    match self.dropped_span_datagrams {
                        Some(0) | None => String::new(),
                        Some(dropped) => format!("; the kernel dropped {dropped} span datagrams"),
                    }
                ),
            ),
            (
                self.not_found_count == 0 && self.looked_up > 0,
                match self.not_found.is_empty() {
                    true => format!(
                        "{} of {} events looked up with the operator's story in {:.0} s: each found processed",
                        self.looked_up, self.events, self.lookup_seconds
                    ),
                    false => format!(
                        "{} of {} looked-up events not found processed: {}",
                        self.not_found_count,
                        self.looked_up,
                        self.not_found.join("; ")
                    ),
                },
            ),
            (self.panics == 0, format!("{} function panics", self.panics)),
            (
                self.untyped_error_spans() == 0,
                format!(
                    "{} ERROR spans of failed attempts, {} without error.type",
                    self.error_spans.values().sum::<usize>(),
                    self.untyped_error_spans()
                ),
            ),
            (
                !self.timed_out,
                match self.timed_out {
                    true => "the run hit its deadline".to_owned(),
                    false => "finished within its deadline".to_owned(),
                },
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept() -> ChaosReport {
        ChaosReport {
            topology: "standard queue".to_owned(),
            events: 100,
            accepted_events: 100,
            event_records: 100,
            notifications: 100,
            sampled_events: 90,
            message_spans: 120,
            looked_up: 100,
            injected: FaultClass::ALL
                .into_iter()
                .map(|class| Injected {
                    class,
                    count: 1,
                    detail: String::new(),
                })
                .collect(),
            error_spans: BTreeMap::from([("store_unavailable".to_owned(), 3)]),
            ..ChaosReport::default()
        }
    }

    #[test]
    fn a_run_that_kept_every_promise_passes() {
        let report = kept();
        assert!(report.passed(), "{}", report.render());
        assert!(!report.render().contains('✘'));
    }

    #[test]
    fn any_promise_broken_fails_the_run_and_is_marked() {
        type Breaking = fn(&mut ChaosReport);
        let broken: [(&str, Breaking); 13] = [
            ("a fault that never struck", |r| r.injected[3].count = 0),
            ("never accepted", |r| r.never_accepted = 1),
            ("a lost event", |r| r.event_records = 99),
            ("a doubled notification", |r| r.notifications = 101),
            ("a doubled effect", |r| r.doubled_effects = 1),
            ("left in the DLQ", |r| r.left_in_dlq = 1),
            ("left on the queue", |r| r.left_on_queue = 1),
            ("a disconnected span", |r| r.disconnected_spans = 1),
            ("an event without its stored span", |r| {
                r.events_without_connected_span = 1
            }),
            ("an event not found", |r| {
                r.not_found_count = 1;
                r.not_found = vec!["evt_x: not found".to_owned()];
            }),
            ("a panic", |r| r.panics = 1),
            ("an untyped error span", |r| {
                r.error_spans.insert("none".to_owned(), 1);
            }),
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
