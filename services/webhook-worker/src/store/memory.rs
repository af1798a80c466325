//! An in-memory store with the same contract as DynamoDB, for unit tests and benchmarks:
//! idempotent per event id, status changes ordered by `created`, and optional injected latency
//! and failures to exercise the batch loop.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::{EventRecord, EventStore, RecordOutcome, StoreError, StoreErrorKind};
use crate::effect::{Effect, PAST_DUE};

/// The state a [`MemoryStore`] holds.
#[derive(Debug, Default, Clone)]
pub struct MemoryState {
    /// Every record by event id, with how it was stored.
    pub records: HashMap<String, (EventRecord, RecordOutcome)>,
    /// Customer id -> (status, `created` of the event that set it).
    pub subscriptions: HashMap<String, (String, i64)>,
    /// (customer id, event id) of pending payment-failure notifications.
    pub notifications: Vec<(String, String)>,
}

#[derive(Debug, Default)]
/// An in-memory [`EventStore`] for tests and benchmarks, with DynamoDB's idempotency.
pub struct MemoryStore {
    state: Mutex<MemoryState>,
    latency: Duration,
    failing_events: HashSet<String>,
    failures_left: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every call waits `latency` first, like a network round trip.
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Writes of these events always fail (throttled).
    pub fn failing_for(mut self, event_ids: &[&str]) -> Self {
        self.failing_events = event_ids.iter().map(|id| (*id).to_owned()).collect();
        self
    }

    /// The next `count` writes fail (unavailable), then writes succeed.
    pub fn failing_next(self, count: usize) -> Self {
        self.failures_left.store(count, Ordering::Relaxed);
        self
    }

    /// The most writes that were ever in progress at once.
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(Ordering::Relaxed)
    }

    /// A copy of everything stored so far.
    pub fn state(&self) -> MemoryState {
        self.state.lock().map(|state| state.clone()).unwrap_or_default()
    }

    fn write(&self, record: &EventRecord, effect: &Effect) -> Result<RecordOutcome, StoreError> {
        if self.failing_events.contains(&record.event_id) {
            return Err(StoreError {
                kind: StoreErrorKind::Throttled,
                detail: format!("injected failure for {}", record.event_id),
            });
        }
        let injected = self
            .failures_left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| left.checked_sub(1));
        if injected.is_ok() {
            return Err(StoreError {
                kind: StoreErrorKind::Unavailable,
                detail: "injected failure".to_owned(),
            });
        }
        let mut state = self.state.lock().map_err(|_| StoreError {
            kind: StoreErrorKind::Unavailable,
            detail: "memory store poisoned".to_owned(),
        })?;
        if state.records.contains_key(&record.event_id) {
            return Ok(RecordOutcome::Duplicate);
        }
        let status = match effect {
            Effect::PaymentFailed { customer_id, .. } => Some((customer_id, PAST_DUE)),
            Effect::SubscriptionStatus {
                customer_id, status, ..
            } => Some((customer_id, status.as_str())),
            Effect::Ignored { .. } => None,
        };
        let superseded = status.is_some_and(|(customer_id, _)| {
            state
                .subscriptions
                .get(customer_id)
                .is_some_and(|(_, created)| *created > record.created)
        });
        let outcome = if superseded {
            RecordOutcome::Superseded
        } else {
            if let Some((customer_id, status)) = status {
                state
                    .subscriptions
                    .insert(customer_id.clone(), (status.to_owned(), record.created));
            }
            if let Effect::PaymentFailed { customer_id, .. } = effect {
                state
                    .notifications
                    .push((customer_id.clone(), record.event_id.clone()));
            }
            RecordOutcome::Stored
        };
        state
            .records
            .insert(record.event_id.clone(), (record.clone(), outcome));
        Ok(outcome)
    }
}

impl EventStore for MemoryStore {
    async fn record(&self, record: &EventRecord, effect: &Effect) -> Result<RecordOutcome, StoreError> {
        let in_flight = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.max_in_flight.fetch_max(in_flight, Ordering::Relaxed);
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        let result = self.write(record, effect);
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        result
    }
}
