//! Where a notification's state lives: the contract, DynamoDB's implementation and memory's.
//!
//! The contract: `status` reads the item's state strongly consistent, and `mark` moves it out
//! of `pending` only if it is still pending, so whoever marks first wins and a redelivered
//! record finds it done.

use std::future::Future;

pub mod dynamodb;
pub mod memory;

/// Where a notification ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mark {
    /// SES accepted it.
    Sent {
        /// SES's message id.
        message_id: String,
        /// When (Unix milliseconds).
        at_ms: i64,
    },
    /// Nothing can send it.
    Unsendable {
        /// Why not.
        reason: &'static str,
        /// When it was found so (Unix milliseconds).
        at_ms: i64,
    },
}

/// What marking did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marked {
    /// The item moved out of `pending`.
    Now,
    /// It was no longer pending: another delivery of the record got there first.
    Before,
}

/// Why the store could not answer. Every failure fails its record, which the stream retries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error_type}: {detail}")]
pub struct StoreError {
    /// The `error.type` span attribute (`dynamodb_throttled`, `dynamodb_unavailable`,
    /// `dynamodb_rejected`).
    pub error_type: &'static str,
    /// The store's own words.
    pub detail: String,
}

/// Reads and moves notification items.
pub trait NotificationStore: Send + Sync {
    /// The item's `status` (`None`: no such item), read strongly consistent.
    fn status(&self, event_id: &str) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// Moves the item from `pending` to `mark`, unless it has left `pending` already.
    fn mark(&self, event_id: &str, mark: &Mark) -> impl Future<Output = Result<Marked, StoreError>> + Send;
}
