//! Marking a span failed, the same way everywhere: status ERROR, `error.type`, and an
//! `exception` event, so error rates never read zero while work fails.

use opentelemetry::KeyValue;
use opentelemetry::trace::Status;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::attributes::{ERROR_TYPE, EXCEPTION_EVENT, EXCEPTION_MESSAGE, EXCEPTION_TYPE};

/// Records `error` on `span`. `error_type` is a short, stable, low-cardinality name
/// (`invalid_event`, `dynamodb_throttled`) that dashboards can group by.
pub fn record_error(span: &tracing::Span, error_type: &'static str, error: &dyn std::error::Error) {
    let message = error.to_string();
    span.set_attribute(ERROR_TYPE, error_type);
    span.add_event(
        EXCEPTION_EVENT,
        vec![
            KeyValue::new(EXCEPTION_TYPE, error_type),
            KeyValue::new(EXCEPTION_MESSAGE, message.clone()),
        ],
    );
    span.set_status(Status::error(message));
}
