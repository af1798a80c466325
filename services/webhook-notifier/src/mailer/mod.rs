//! Sending one notification: the contract and its two implementations (SES in production,
//! memory for tests and benchmarks).

use std::future::Future;

use crate::notification::Notification;

pub mod memory;
pub mod ses;

/// One email, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    /// The recipient.
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
}

impl Email {
    /// The payment-failure email for `notification`, sent to `to`.
    pub fn payment_failed(notification: &Notification, to: String) -> Self {
        let reason = notification
            .reason
            .as_deref()
            .map(|reason| format!(" The bank said: {reason}"))
            .unwrap_or_default();
        Self {
            to,
            subject: "Your payment did not go through".to_owned(),
            text: format!(
                "We could not collect your latest payment.{reason} Your subscription is past due \
                 until the payment succeeds; please update your payment method.\n\nReference: {}\n",
                notification.event_id
            ),
        }
    }
}

/// Why a send failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {detail}")]
pub struct SendError {
    /// What kind of failure it was.
    pub kind: SendErrorKind,
    /// The provider's own words, for logs and spans.
    pub detail: String,
}

/// The kinds of send failure an operator tells apart. Each fails its record: the stream
/// retries it, and records that exhaust their retries go to the on-failure destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendErrorKind {
    /// Throttled (sending rate or quota) after the SDK's retries.
    #[error("SES throttled the send")]
    Throttled,
    /// 5xx, timeout, connection failure.
    #[error("SES was unavailable")]
    Unavailable,
    /// Refused: unverified sender, account paused, invalid address.
    #[error("SES rejected the email")]
    Rejected,
}

impl SendErrorKind {
    /// The `error.type` span attribute.
    pub fn error_type(self) -> &'static str {
        match self {
            SendErrorKind::Throttled => "ses_throttled",
            SendErrorKind::Unavailable => "ses_unavailable",
            SendErrorKind::Rejected => "ses_rejected",
        }
    }
}

/// Sends emails.
pub trait Mailer: Send + Sync {
    /// Sends `email`; the provider's message id.
    fn send(&self, email: &Email) -> impl Future<Output = Result<String, SendError>> + Send;
}
