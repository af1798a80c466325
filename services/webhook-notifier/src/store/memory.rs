//! Notification items in memory, with DynamoDB's conditional move out of `pending`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use event_table::notification as item;

use super::{Mark, Marked, NotificationStore, StoreError};

/// Event id -> (status, the mark that moved it).
#[derive(Debug, Default)]
pub struct MemoryNotifications {
    items: Mutex<HashMap<String, (String, Option<Mark>)>>,
    failures_left: AtomicUsize,
}

impl MemoryNotifications {
    /// No items.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a pending item for `event_id`, as the worker writes it.
    pub fn with_pending(self, event_id: &str) -> Self {
        if let Ok(mut items) = self.items.lock() {
            items.insert(event_id.to_owned(), (item::PENDING.to_owned(), None));
        }
        self
    }

    /// The next `count` calls fail (unavailable).
    pub fn failing_next(self, count: usize) -> Self {
        self.failures_left.store(count, Ordering::Relaxed);
        self
    }

    /// The item's status and mark.
    pub fn item(&self, event_id: &str) -> Option<(String, Option<Mark>)> {
        self.items.lock().ok()?.get(event_id).cloned()
    }

    fn fail(&self) -> Result<(), StoreError> {
        let failing = self
            .failures_left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| left.checked_sub(1))
            .is_ok();
        match failing {
            true => Err(StoreError {
                error_type: "dynamodb_unavailable",
                detail: "injected failure".to_owned(),
            }),
            false => Ok(()),
        }
    }
}

fn poisoned() -> StoreError {
    StoreError {
        error_type: "dynamodb_unavailable",
        detail: "memory store lock poisoned".to_owned(),
    }
}

impl NotificationStore for MemoryNotifications {
    async fn status(&self, event_id: &str) -> Result<Option<String>, StoreError> {
        self.fail()?;
        let items = self.items.lock().map_err(|_| poisoned())?;
        Ok(items.get(event_id).map(|(status, _)| status.clone()))
    }

    async fn mark(&self, event_id: &str, mark: &Mark) -> Result<Marked, StoreError> {
        self.fail()?;
        let mut items = self.items.lock().map_err(|_| poisoned())?;
        match items.get_mut(event_id) {
            Some((status, moved)) if status == item::PENDING => {
                *status = match mark {
                    Mark::Sent { .. } => item::SENT,
                    Mark::Unsendable { .. } => item::UNSENDABLE,
                }
                .to_owned();
                *moved = Some(mark.clone());
                Ok(Marked::Now)
            }
            _ => Ok(Marked::Before),
        }
    }
}
