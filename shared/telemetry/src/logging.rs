//! JSON log lines that lead to their trace and back. Each line carries `trace_id` (W3C and X-Ray
//! forms), `span_id`, `sampled` (whether the trace was recorded: an unsampled event has its lines
//! and no trace), the Lambda `request_id`, the ids of the event it is about
//! ([`CARRIED_SPAN_FIELDS`], from the enclosing spans) and the line's own fields.
//!
//! Only those span fields are carried: the worker writes one line per message, and in Lambda
//! each line is also CloudWatch ingestion. The rest of a span's fields are in the trace the line
//! leads to. The layer formats straight into a reused buffer (`make bench` measures it).

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::sync::OnceLock;

use opentelemetry::trace::{SpanContext, TraceContextExt};
use tracing::dispatcher::WeakDispatch;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Dispatch, Event, Metadata, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::{Context as LayerContext, Layer};
use tracing_subscriber::registry::LookupSpan;

use crate::attributes::{FAAS_INVOCATION_ID, MESSAGING_MESSAGE_ID, WEBHOOK_EVENT_ID, WEBHOOK_TYPE};

/// The span fields a line carries: what leads to the trace and names the event.
/// `faas.invocation_id` is written as `request_id`, the name Lambda's own lines use.
pub(crate) const CARRIED_SPAN_FIELDS: [&str; 4] = [
    FAAS_INVOCATION_ID,
    WEBHOOK_EVENT_ID,
    WEBHOOK_TYPE,
    MESSAGING_MESSAGE_ID,
];

/// Writes one JSON object per line for each event the filter lets through.
///
/// Span callbacks are unfiltered, so a line keeps its trace ids and event id even when the log
/// level hides the spans' own level. The trace ids are read when a span is first entered: the
/// event callback runs inside the dispatcher, where `tracing` hides the current dispatcher to
/// prevent re-entrance, and entering happens after the span's parent is set.
pub(crate) struct JsonLogLayer {
    writer: BoxMakeWriter,
    events: Targets,
    dispatch: OnceLock<WeakDispatch>,
}

impl JsonLogLayer {
    pub(crate) fn new(writer: BoxMakeWriter, events: Targets) -> Self {
        Self {
            writer,
            events,
            dispatch: OnceLock::new(),
        }
    }

    fn wants(&self, metadata: &Metadata<'_>) -> bool {
        metadata.is_span() || self.events.would_enable(metadata.target(), metadata.level())
    }
}

/// What a span contributes to the lines logged inside it, kept in its extensions.
#[derive(Default)]
struct LogScope {
    trace: Option<SpanContext>,
    carried: Vec<(&'static str, String)>,
}

impl LogScope {
    fn set(&mut self, name: &'static str, value: String) {
        match self.carried.iter_mut().find(|(key, _)| *key == name) {
            Some(entry) => entry.1 = value,
            None => self.carried.push((name, value)),
        }
    }
}

impl Visit for LogScope {
    fn record_str(&mut self, field: &Field, value: &str) {
        if CARRIED_SPAN_FIELDS.contains(&field.name()) {
            self.set(field.name(), value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if CARRIED_SPAN_FIELDS.contains(&field.name()) {
            self.set(field.name(), format!("{value:?}"));
        }
    }
}

impl<S> Layer<S> for JsonLogLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_register_dispatch(&self, dispatch: &Dispatch) {
        let _ = self.dispatch.set(dispatch.downgrade());
    }

    // Events the log filter rejects are disabled at their callsite, once; spans are left to the
    // span layer's own filter.
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if self.wants(metadata) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>, _: LayerContext<'_, S>) -> bool {
        self.wants(metadata)
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: LayerContext<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut scope = LogScope::default();
        attrs.record(&mut scope);
        span.extensions_mut().insert(scope);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: LayerContext<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        if let Some(scope) = span.extensions_mut().get_mut::<LogScope>() {
            values.record(scope);
        }
    }

    fn on_enter(&self, id: &Id, ctx: LayerContext<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        if span
            .extensions()
            .get::<LogScope>()
            .is_none_or(|scope| scope.trace.is_some())
        {
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
        if span_context.is_valid()
            && let Some(scope) = span.extensions_mut().get_mut::<LogScope>()
        {
            scope.trace = Some(span_context.clone());
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: LayerContext<'_, S>) {
        let metadata = event.metadata();
        LINE.with_borrow_mut(|line| {
            line.clear();
            format_line(line, event, &ctx);
            // A lost log line must not fail the invocation; stdout has nowhere to report it.
            let _ = self.writer.make_writer_for(metadata).write_all(line.as_bytes());
        });
    }
}

thread_local! {
    /// One line's text, reused so formatting does not allocate per line.
    static LINE: RefCell<String> = RefCell::new(String::with_capacity(512));
}

fn format_line<S>(line: &mut String, event: &Event<'_>, ctx: &LayerContext<'_, S>)
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let metadata = event.metadata();
    let mut own = EventFields::default();
    event.record(&mut own);

    line.push_str("{\"timestamp\":\"");
    let _ = SystemTime.format_time(&mut Writer::new(&mut *line));
    line.push_str("\",\"level\":\"");
    line.push_str(metadata.level().as_str());
    line.push_str("\",\"target\":");
    push_json_str(line, metadata.target());
    line.push_str(",\"message\":");
    push_json_str(line, &own.message);

    let mut trace = None;
    let mut carried: [Option<String>; CARRIED_SPAN_FIELDS.len()] = Default::default();
    if let Some(scope) = ctx.event_scope(event) {
        // Innermost first: the nearest span's trace ids and values win.
        for span in scope {
            let extensions = span.extensions();
            let Some(log_scope) = extensions.get::<LogScope>() else {
                continue;
            };
            if trace.is_none() {
                trace = log_scope.trace.clone();
            }
            for (name, value) in &log_scope.carried {
                if let Some(slot) = CARRIED_SPAN_FIELDS.iter().position(|carried| carried == name)
                    && carried[slot].is_none()
                {
                    carried[slot] = Some(value.clone());
                }
            }
        }
    }
    for (name, value) in CARRIED_SPAN_FIELDS.iter().zip(&carried) {
        let Some(value) = value else { continue };
        if *name == FAAS_INVOCATION_ID {
            line.push_str(",\"request_id\":");
            push_json_str(line, value);
        }
    }
    if let Some(span_context) = trace {
        let trace_id = span_context.trace_id();
        let _ = write!(line, ",\"trace_id\":\"{trace_id}\",\"xray_trace_id\":\"");
        push_xray_trace_id(line, &trace_id.to_string());
        let _ = write!(
            line,
            "\",\"span_id\":\"{}\",\"sampled\":{}",
            span_context.span_id(),
            span_context.is_sampled()
        );
    }
    for (name, value) in CARRIED_SPAN_FIELDS.iter().zip(&carried) {
        let Some(value) = value else { continue };
        if *name != FAAS_INVOCATION_ID && !own.names.contains(name) {
            line.push(',');
            push_json_str(line, name);
            line.push(':');
            push_json_str(line, value);
        }
    }
    line.push_str(&own.fields);
    line.push_str("}\n");
}

/// Appends `1-{8 hex}-{24 hex}`, the form X-Ray's console searches by.
fn push_xray_trace_id(out: &mut String, w3c_trace_id: &str) {
    match (w3c_trace_id.get(..8), w3c_trace_id.get(8..)) {
        (Some(epoch), Some(unique)) => {
            out.push_str("1-");
            out.push_str(epoch);
            out.push('-');
            out.push_str(unique);
        }
        _ => out.push_str(w3c_trace_id),
    }
}

/// Appends `value` as a JSON string.
fn push_json_str(out: &mut String, value: &str) {
    out.push('"');
    let mut start = 0;
    for (index, byte) in value.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&value[start..index]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{byte:04x}");
        } else {
            out.push_str(escape);
        }
        start = index + 1;
    }
    out.push_str(&value[start..]);
    out.push('"');
}

/// The event's own fields, already formatted as `,"name":value` pairs, and its message.
#[derive(Default)]
struct EventFields {
    message: String,
    fields: String,
    names: Vec<&'static str>,
}

impl EventFields {
    fn key(&mut self, field: &Field) {
        self.names.push(field.name());
        self.fields.push(',');
        push_json_str(&mut self.fields, field.name());
        self.fields.push(':');
    }
}

impl Visit for EventFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            value.clone_into(&mut self.message);
        } else {
            self.key(field);
            push_json_str(&mut self.fields, value);
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.key(field);
        let _ = write!(self.fields, "{value}");
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.key(field);
        let _ = write!(self.fields, "{value}");
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.key(field);
        let _ = write!(self.fields, "{value}");
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.key(field);
        if value.is_finite() {
            let _ = write!(self.fields, "{value}");
        } else {
            // JSON has no NaN or infinity.
            push_json_str(&mut self.fields, &value.to_string());
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.key(field);
        push_json_str(&mut self.fields, &value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.message.clear();
            let _ = write!(self.message, "{value:?}");
        } else {
            self.key(field);
            push_json_str(&mut self.fields, &format!("{value:?}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xray_form_splits_the_epoch_from_the_unique_part() {
        let mut id = String::new();
        push_xray_trace_id(&mut id, "5759e988bd862e3fe1be46a994272793");
        assert_eq!(id, "1-5759e988-bd862e3fe1be46a994272793");
    }

    #[test]
    fn strings_are_escaped_as_json_reads_them_back() {
        let text = "quote \" slash \\ newline \n tab \t bell \u{7} é ✓";
        let mut out = String::new();
        push_json_str(&mut out, text);
        let parsed: String = serde_json::from_str(&out).expect("valid JSON string");
        assert_eq!(parsed, text);
    }
}
