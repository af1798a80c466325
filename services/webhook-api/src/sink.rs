//! Where an accepted event goes, whatever the destination: the [`EventSink`] trait, and why a
//! send failed ([`SendError`], with the [`SendFailure`] kind an operator checks first).

use std::future::Future;

use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use webhook_event::StripeEvent;

/// Why an event was not handed to its destination. The text is for logs and spans; clients only learn "retry".
#[derive(Debug, thiserror::Error)]
#[error("{operation} to {destination} failed ({}): {detail}", .failure.as_str())]
pub struct SendError {
    /// The call that failed: `SQS SendMessage` or `SNS Publish`.
    pub operation: &'static str,
    /// The queue's or topic's name.
    pub destination: String,
    /// What kind of failure it was.
    pub failure: SendFailure,
    /// The service's own words, for logs and spans.
    pub detail: String,
}

/// What kind of failure it was: what an operator checks first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendFailure {
    /// No answer: connection refused or reset, DNS, or a timeout.
    Unreachable,
    /// The service refused for load, even after the SDK's retries.
    Throttled,
    /// The function's role may not send to the queue or publish to the topic (or use its key).
    AccessDenied,
    /// The queue or topic does not exist (code `queue_not_found` for both, as dashboards and
    /// alerts already match it).
    NotFound,
    /// Any other refusal by SQS.
    Rejected,
}

impl SendFailure {
    /// The `cause` code logs and spans carry.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unreachable => "unreachable",
            Self::Throttled => "throttled",
            Self::AccessDenied => "access_denied",
            Self::NotFound => "queue_not_found",
            Self::Rejected => "rejected",
        }
    }

    /// A service error by its code (SQS's, with the query protocol's `AWS.SimpleQueueService.*`,
    /// or SNS's).
    pub fn of_code(code: Option<&str>) -> Self {
        match code.unwrap_or_default() {
            "AccessDenied"
            | "AccessDeniedException"
            | "KmsAccessDenied"
            | "KMS.AccessDeniedException"
            | "AuthorizationError"
            | "KMSAccessDenied" => Self::AccessDenied,
            "RequestThrottled"
            | "ThrottlingException"
            | "Throttling"
            | "KmsThrottled"
            | "Throttled"
            | "KMSThrottling" => Self::Throttled,
            "AWS.SimpleQueueService.NonExistentQueue" | "QueueDoesNotExist" | "NotFound" => Self::NotFound,
            _ => Self::Rejected,
        }
    }

    /// The failure of an AWS SDK call (SQS's or SNS's): no answer, or the service's refusal.
    pub fn of_sdk_error<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> Self {
        match error {
            SdkError::ServiceError(service) => Self::of_code(service.err().code()),
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
                Self::Unreachable
            }
            _ => Self::Rejected,
        }
    }
}

/// Where accepted events go: the worker's queue, or the topic in front of it (the
/// [`ConfiguredSink`](crate::destination::ConfiguredSink) configured); tests use an in-memory double.
pub trait EventSink: Send + Sync {
    /// Sends `body` (the original event JSON) and returns the queue's or topic's message id.
    fn send(&self, event: &StripeEvent, body: &str)
    -> impl Future<Output = Result<String, SendError>> + Send;
}
