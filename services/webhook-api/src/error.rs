//! Every way a webhook request can be refused, and the one place that maps each to its HTTP
//! status and stable error code.

use webhook_event::EventError;

use crate::sink::SendError;
use stripe_signature::SignatureError;

/// Why a request was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the API Gateway event is malformed: {0}")]
    /// API Gateway's event is not one this function can read (`malformed_envelope`).
    MalformedEnvelope(String),
    #[error("no route for this path; webhooks are accepted at POST /webhooks/stripe")]
    /// Any path but the webhook route (`not_found`).
    NotFound,
    #[error("method not allowed; use POST")]
    /// Any method but POST (`method_not_allowed`).
    MethodNotAllowed,
    #[error("the content type must be application/json")]
    /// A body that is not declared JSON (`unsupported_media_type`).
    UnsupportedMediaType,
    #[error("the body exceeds the limit of {limit} bytes")]
    /// A body over the limit (`payload_too_large`).
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    #[error(transparent)]
    /// The signature does not verify (its own code).
    Signature(#[from] SignatureError),
    #[error(transparent)]
    /// The body is not a valid Stripe event (its own code).
    Event(#[from] EventError),
    /// The cause is for the log; the sender only learns to retry.
    #[error("the event could not be queued; nothing was accepted, retry later")]
    QueueUnavailable(SendError),
}

impl ApiError {
    /// The HTTP status this error answers with.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::MalformedEnvelope(_) => 400,
            ApiError::NotFound => 404,
            ApiError::MethodNotAllowed => 405,
            ApiError::UnsupportedMediaType => 415,
            ApiError::PayloadTooLarge { .. } => 413,
            ApiError::Signature(_) => 401,
            ApiError::Event(_) => 400,
            ApiError::QueueUnavailable(_) => 503,
        }
    }

    /// The stable error code in the response body, logs and spans.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::MalformedEnvelope(_) => "malformed_envelope",
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::Signature(error) => error.code(),
            ApiError::Event(error) => error.code(),
            ApiError::QueueUnavailable(_) => "queue_unavailable",
        }
    }
}

/// An HTTP response as the core produces it, free of any Lambda type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiResponse {
    /// The HTTP status.
    pub status: u16,
    /// Extra headers beside `content-type: application/json`.
    pub headers: Vec<(&'static str, &'static str)>,
    /// The JSON body.
    pub body: String,
}

impl ApiResponse {
    /// `202 {"event_id": ..., "message_id": ...}`: the event is on the queue.
    pub fn accepted(event_id: &str, message_id: &str) -> Self {
        ApiResponse {
            status: 202,
            headers: Vec::new(),
            body: serde_json::json!({ "event_id": event_id, "message_id": message_id }).to_string(),
        }
    }
}

impl From<&ApiError> for ApiResponse {
    fn from(error: &ApiError) -> Self {
        let headers = match error {
            ApiError::MethodNotAllowed => vec![("allow", "POST")],
            _ => Vec::new(),
        };
        ApiResponse {
            status: error.status(),
            headers,
            body: serde_json::json!({ "error": { "code": error.code(), "message": error.to_string() } })
                .to_string(),
        }
    }
}
