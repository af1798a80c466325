//! A mailer that keeps what it sends, for tests and benchmarks; it can be told to fail.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Email, Mailer, SendError, SendErrorKind};

/// Sent emails in memory, with message ids `msg-1`, `msg-2`, ...
#[derive(Debug, Default)]
pub struct MemoryMailer {
    sent: Mutex<Vec<Email>>,
    failures_left: AtomicUsize,
    rejecting: Option<String>,
}

impl MemoryMailer {
    /// A mailer that sends everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next `count` sends fail (unavailable), then sends succeed.
    pub fn failing_next(self, count: usize) -> Self {
        self.failures_left.store(count, Ordering::Relaxed);
        self
    }

    /// Sends to `address` are always rejected.
    pub fn rejecting(mut self, address: &str) -> Self {
        self.rejecting = Some(address.to_owned());
        self
    }

    /// Every email sent, in order.
    pub fn sent(&self) -> Vec<Email> {
        self.sent.lock().map(|sent| sent.clone()).unwrap_or_default()
    }
}

impl Mailer for MemoryMailer {
    async fn send(&self, email: &Email) -> Result<String, SendError> {
        if self.rejecting.as_deref() == Some(email.to.as_str()) {
            return Err(SendError {
                kind: SendErrorKind::Rejected,
                detail: "MessageRejected: the address is on the suppression list".to_owned(),
            });
        }
        let failing = self
            .failures_left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| left.checked_sub(1))
            .is_ok();
        if failing {
            return Err(SendError {
                kind: SendErrorKind::Unavailable,
                detail: "injected failure".to_owned(),
            });
        }
        let mut sent = self.sent.lock().map_err(|_| SendError {
            kind: SendErrorKind::Unavailable,
            detail: "memory mailer lock poisoned".to_owned(),
        })?;
        sent.push(email.clone());
        Ok(format!("msg-{}", sent.len()))
    }
}
