//! The webhook intake: one request in, one response out, no Lambda types. The checks run from
//! cheapest to dearest and the signature before any parsing: route, content type, size,
//! signature, event validation, then the queue. `202` only once the queue has the message.

use shared_telemetry::attributes as attr;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use webhook_event::{EventError, StripeEvent};

use crate::config::Limits;
use crate::error::{ApiError, ApiResponse};
use crate::sink::EventSink;
use stripe_signature::{SignatureError, SignatureHeader, SigningSecrets};

/// The only route.
pub const WEBHOOK_PATH: &str = "/webhooks/stripe";

/// An HTTP request as the intake needs it.
#[derive(Debug, Clone, Copy)]
pub struct IncomingRequest<'a> {
    /// The HTTP method.
    pub method: &'a str,
    /// The path without any API Gateway stage prefix.
    pub path: &'a str,
    /// The `Content-Type` header, if any.
    pub content_type: Option<&'a str>,
    /// The raw `Stripe-Signature` header; never logged.
    pub signature: Option<&'a str>,
    /// The raw body, as signed.
    pub body: &'a [u8],
}

/// Verifies, validates and queues webhooks.
#[derive(Debug)]
pub struct WebhookIntake<Q> {
    queue: Q,
    secrets: SigningSecrets,
    limits: Limits,
}

impl<Q: EventSink> WebhookIntake<Q> {
    /// An intake sending accepted events to `queue`, verifying with `secrets`.
    pub fn new(queue: Q, secrets: SigningSecrets, limits: Limits) -> Self {
        Self {
            queue,
            secrets,
            limits,
        }
    }

    /// Handles one request at time `now` (Unix seconds). Records the outcome on the current
    /// span: `webhook.*` once known, `error.type` for refusals, status ERROR only when the
    /// failure is ours (5xx), as the HTTP semantic conventions ask.
    ///
    /// Every request leaves one log line with its `outcome`, sampled or not: `queued` (with the
    /// message id), `refused` (the code says why) or `unavailable` (the queue's cause), and the
    /// event id once the event parsed.
    pub async fn handle(&self, request: IncomingRequest<'_>, now: i64) -> ApiResponse {
        let mut event_id = None;
        match self.accept(request, now, &mut event_id).await {
            Ok((event, message_id)) => {
                tracing::info!(
                    webhook.event_id = event.id().as_str(),
                    message_id,
                    outcome = "queued",
                    "webhook queued"
                );
                ApiResponse::accepted(event.id().as_str(), &message_id)
            }
            Err(error) => self.refuse(&error, event_id.as_deref()),
        }
    }

    /// The response to a refused request, recorded on the current span (`error.type`; status
    /// ERROR only when the failure is ours) and in one log line with the reason and, when it
    /// parsed, the event's id. For a queue that is unavailable, the line names the cause
    /// (connection, throttling, access), never the secret or the signature.
    pub fn refuse(&self, error: &ApiError, event_id: Option<&str>) -> ApiResponse {
        let span = tracing::Span::current();
        let code = error.code();
        span.set_attribute(attr::ERROR_TYPE, code);
        match error {
            ApiError::QueueUnavailable(cause) => {
                shared_telemetry::record_error(&span, code, cause);
                tracing::error!(
                    webhook.event_id = event_id,
                    outcome = "unavailable",
                    code,
                    cause = cause.failure.as_str(),
                    error = %cause,
                    "webhook not queued; the sender will retry"
                );
            }
            _ if error.status() >= 500 => {
                shared_telemetry::record_error(&span, code, error);
                tracing::error!(
                    webhook.event_id = event_id,
                    outcome = "unavailable",
                    code,
                    %error,
                    "webhook not queued; the sender will retry"
                );
            }
            _ => tracing::warn!(
                webhook.event_id = event_id,
                outcome = "refused",
                code,
                %error,
                "webhook refused"
            ),
        }
        ApiResponse::from(error)
    }

    /// Checks and queues the request; `event_id` is set as soon as the event parses, so a
    /// refusal after that names it.
    async fn accept(
        &self,
        request: IncomingRequest<'_>,
        now: i64,
        event_id: &mut Option<String>,
    ) -> Result<(StripeEvent, String), ApiError> {
        route(request.method, request.path)?;
        if !request.content_type.is_some_and(is_json) {
            return Err(ApiError::UnsupportedMediaType);
        }
        if request.body.len() > self.limits.max_body_bytes {
            return Err(ApiError::PayloadTooLarge {
                limit: self.limits.max_body_bytes,
            });
        }
        let header = SignatureHeader::parse(request.signature.ok_or(SignatureError::Missing)?)?;
        stripe_signature::verify(
            &header,
            request.body,
            &self.secrets,
            now,
            self.limits.tolerance_secs,
        )?;

        let event = StripeEvent::parse(request.body)?;
        *event_id = Some(event.id().as_str().to_owned());
        let span = tracing::Span::current();
        span.set_attribute(attr::WEBHOOK_EVENT_ID, event.id().as_str().to_owned());
        shared_telemetry::index_event_id(&span);
        span.set_attribute(attr::WEBHOOK_TYPE, event.event_type().to_owned());
        let body = sqs_text(request.body)?;
        let message_id = self
            .queue
            .send(&event, body)
            .await
            .map_err(ApiError::QueueUnavailable)?;
        Ok((event, message_id))
    }
}

fn route(method: &str, path: &str) -> Result<(), ApiError> {
    let path = match path.trim_end_matches('/') {
        "" => "/",
        trimmed => trimmed,
    };
    match (method, path) {
        ("POST", WEBHOOK_PATH) => Ok(()),
        (_, WEBHOOK_PATH) => Err(ApiError::MethodNotAllowed),
        _ => Err(ApiError::NotFound),
    }
}

/// `application/json`, with or without parameters such as `charset=utf-8`.
fn is_json(content_type: &str) -> bool {
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    media_type.eq_ignore_ascii_case("application/json")
}

/// The body as SQS message text. A parsed JSON body is UTF-8 and has no raw control characters;
/// what SQS still refuses are the noncharacters U+FFFE and U+FFFF.
fn sqs_text(body: &[u8]) -> Result<&str, EventError> {
    let text = std::str::from_utf8(body).map_err(|error| EventError::Malformed(error.to_string()))?;
    if text.contains(['\u{FFFE}', '\u{FFFF}']) {
        return Err(EventError::Invalid(
            "the body contains U+FFFE or U+FFFF, which SQS cannot carry; escape them as \\ufffe / \\uffff"
                .to_owned(),
        ));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_only_post_to_the_webhook_path() {
        assert!(route("POST", "/webhooks/stripe").is_ok());
        assert!(route("POST", "/webhooks/stripe/").is_ok());
        assert!(matches!(
            route("GET", "/webhooks/stripe"),
            Err(ApiError::MethodNotAllowed)
        ));
        assert!(matches!(route("POST", "/webhooks"), Err(ApiError::NotFound)));
        assert!(matches!(route("POST", "/"), Err(ApiError::NotFound)));
        assert!(matches!(
            route("POST", "/WEBHOOKS/STRIPE"),
            Err(ApiError::NotFound)
        ));
    }

    #[test]
    fn json_content_types_are_recognised() {
        assert!(is_json("application/json"));
        assert!(is_json("Application/JSON; charset=utf-8"));
        assert!(!is_json("text/plain"));
        assert!(!is_json("application/jsonx"));
        assert!(!is_json("application/x-www-form-urlencoded"));
    }

    #[test]
    fn noncharacters_sqs_refuses_are_caught() {
        assert!(sqs_text("{\"a\":\"\u{FFFF}\"}".as_bytes()).is_err());
        assert!(sqs_text("{\"a\":\"\u{FFFD}\"}".as_bytes()).is_ok());
    }
}
