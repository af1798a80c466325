//! Making a span findable by the event it handles. X-Ray filter expressions see annotations
//! only, and a span attribute is an annotation only when `aws.xray.annotations` names it; so
//! every span that carries `webhook.event_id` names it there, and
//! `annotation.webhook_event_id = "evt_..."` finds its trace (`make trace`).

use opentelemetry::{Array, StringValue, Value};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::attributes::{AWS_XRAY_ANNOTATIONS, WEBHOOK_EVENT_ID};

/// The X-Ray annotation key of `webhook.event_id`.
pub const EVENT_ID_ANNOTATION: &str = "webhook_event_id";

/// Marks `span`'s `webhook.event_id` for indexing as an X-Ray annotation.
pub fn index_event_id(span: &tracing::Span) {
    span.set_attribute(
        AWS_XRAY_ANNOTATIONS,
        Value::Array(Array::String(vec![StringValue::from(WEBHOOK_EVENT_ID)])),
    );
}

/// The X-Ray filter expression that finds the traces of `event_id`.
pub fn event_id_filter(event_id: &str) -> String {
    // The id is quoted; a quote or backslash in it cannot end the string early.
    let escaped = event_id.replace('\\', "\\\\").replace('"', "\\\"");
    format!("annotation.{EVENT_ID_ANNOTATION} = \"{escaped}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_names_the_annotation_and_quotes_the_id() {
        assert_eq!(
            event_id_filter("evt_1"),
            r#"annotation.webhook_event_id = "evt_1""#
        );
        assert_eq!(
            event_id_filter(r#"evt_"x\"#),
            r#"annotation.webhook_event_id = "evt_\"x\\""#
        );
    }
}
