//! JSON log lines that lead to their trace and back: each line carries `trace_id` (W3C and X-Ray
//! forms), `span_id`, the Lambda `request_id`, and the fields of the spans it was logged in
//! (so `webhook.event_id` appears on every line about that event).

use std::fmt::{self, Write as _};
use std::sync::OnceLock;

use opentelemetry::trace::{SpanContext, TraceContextExt};
use serde_json::{Map, Value};
use tracing::dispatcher::WeakDispatch;
use tracing::field::{Field, Visit};
use tracing::span::Id;
use tracing::{Dispatch, Event, Subscriber};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormattedFields};
use tracing_subscriber::layer::{Context as LayerContext, Layer};
use tracing_subscriber::registry::LookupSpan;

use crate::attributes::FAAS_INVOCATION_ID;

/// Formats one event as one JSON object per line.
#[derive(Debug, Default)]
pub(crate) struct JsonLogFormat;

impl<S> FormatEvent<S, JsonFields> for JsonLogFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let metadata = event.metadata();
        let mut fields = Map::new();
        let mut trace: Option<SpanContext> = None;
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                if let Some(SpanTrace(span_context)) = extensions.get::<SpanTrace>() {
                    trace = Some(span_context.clone());
                }
                let Some(formatted) = extensions.get::<FormattedFields<JsonFields>>() else {
                    continue;
                };
                if let Ok(Value::Object(span_fields)) = serde_json::from_str::<Value>(formatted) {
                    // `otel.*` fields steer the exporter; they mean nothing to a log reader.
                    fields.extend(
                        span_fields
                            .into_iter()
                            .filter(|(key, _)| !key.starts_with("otel.")),
                    );
                }
            }
        }
        let mut message = String::new();
        event.record(&mut EventFields {
            fields: &mut fields,
            message: &mut message,
        });

        let mut timestamp = String::new();
        SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
        let mut line = String::with_capacity(256);
        line.push('{');
        push_entry(&mut line, "timestamp", &Value::String(timestamp));
        push_entry(
            &mut line,
            "level",
            &Value::String(metadata.level().as_str().to_owned()),
        );
        push_entry(&mut line, "target", &Value::String(metadata.target().to_owned()));
        push_entry(&mut line, "message", &Value::String(message));
        if let Some(request_id) = fields.get(FAAS_INVOCATION_ID) {
            push_entry(&mut line, "request_id", request_id);
        }
        if let Some(span_context) = trace {
            let trace_id = span_context.trace_id().to_string();
            push_entry(&mut line, "trace_id", &Value::String(trace_id.clone()));
            push_entry(
                &mut line,
                "xray_trace_id",
                &Value::String(xray_trace_id(&trace_id)),
            );
            push_entry(
                &mut line,
                "span_id",
                &Value::String(span_context.span_id().to_string()),
            );
        }
        for (key, value) in &fields {
            push_entry(&mut line, key, value);
        }
        line.push('}');
        writeln!(writer, "{line}")
    }
}

/// A span's OpenTelemetry span context, kept in its extensions for the log formatter.
struct SpanTrace(SpanContext);

/// Records each span's OpenTelemetry ids when it is first entered.
///
/// The formatter cannot look them up itself: it runs inside the dispatcher's event call, where
/// `tracing` hides the current dispatcher to prevent re-entrance. Entering happens after the
/// span's parent is set, so reading its context here cannot disturb parenting.
#[derive(Debug, Default)]
pub(crate) struct SpanTraceLayer {
    dispatch: OnceLock<WeakDispatch>,
}

impl<S> Layer<S> for SpanTraceLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_register_dispatch(&self, dispatch: &Dispatch) {
        let _ = self.dispatch.set(dispatch.downgrade());
    }

    fn on_enter(&self, id: &Id, ctx: LayerContext<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        if span.extensions().get::<SpanTrace>().is_some() {
            return;
        }
        let Some(dispatch) = self.dispatch.get().and_then(WeakDispatch::upgrade) else {
            return;
        };
        let Some(cx) = tracing_opentelemetry::get_otel_context(id, &dispatch) else {
            return;
        };
        let otel_span = cx.span();
        let span_context = otel_span.span_context();
        if span_context.is_valid() {
            span.extensions_mut().insert(SpanTrace(span_context.clone()));
        }
    }
}

/// `1-{8 hex}-{24 hex}`, the form X-Ray's console searches by.
pub(crate) fn xray_trace_id(w3c_trace_id: &str) -> String {
    match (w3c_trace_id.get(..8), w3c_trace_id.get(8..)) {
        (Some(epoch), Some(unique)) => format!("1-{epoch}-{unique}"),
        _ => w3c_trace_id.to_owned(),
    }
}

fn push_entry(line: &mut String, key: &str, value: &Value) {
    if line.len() > 1 {
        line.push(',');
    }
    // Serializing a string or a JSON value cannot fail.
    let _ = write!(line, "{}:{}", Value::String(key.to_owned()), value);
}

struct EventFields<'a> {
    fields: &'a mut Map<String, Value>,
    message: &'a mut String,
}

impl Visit for EventFields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            value.clone_into(self.message);
        } else {
            self.fields.insert(field.name().to_owned(), Value::from(value));
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.fields.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.fields.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.fields.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.fields.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.fields
            .insert(field.name().to_owned(), Value::from(value.to_string()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            *self.message = format!("{value:?}");
        } else {
            self.fields
                .insert(field.name().to_owned(), Value::from(format!("{value:?}")));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xray_form_splits_the_epoch_from_the_unique_part() {
        assert_eq!(
            xray_trace_id("5759e988bd862e3fe1be46a994272793"),
            "1-5759e988-bd862e3fe1be46a994272793"
        );
    }
}
