//! The X-Ray trace header (`X-Amzn-Trace-Id`, SQS's `AWSTraceHeader`, Lambda's
//! `Lambda-Runtime-Trace-Id`), validated strictly before it is trusted.
//!
//! The X-Ray propagator zero-pads a short `Parent` and accepts a `Root` of the wrong shape, which
//! would give a span a parent that never existed. Here a header counts only with
//! `Root=1-<8 hex>-<24 hex>`, `Parent=<16 hex>` and, if present, `Sampled=0|1|?`; other fields
//! (`Lineage=`, `Self=`) are allowed. Anything else is no context at all.

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator, text_map_propagator::FieldIter};
use opentelemetry::trace::{SpanContext, TraceContextExt};
use opentelemetry_aws::trace::XrayPropagator;
use opentelemetry_aws::trace::xray_propagator::span_context_from_str;

const HEADER: &str = "x-amzn-trace-id";

/// Whether `header` has the exact shape of an X-Ray trace header with a parent.
pub(crate) fn is_well_formed(header: &str) -> bool {
    let mut root = false;
    let mut parent = false;
    for field in header.split(';').map(str::trim) {
        let Some((key, value)) = field.split_once('=') else {
            return false;
        };
        let fine = match key {
            "Root" if !root => {
                root = true;
                root_is_well_formed(value)
            }
            "Parent" if !parent => {
                parent = true;
                value.len() == 16 && is_hex(value)
            }
            "Sampled" => matches!(value, "0" | "1" | "?"),
            "Root" | "Parent" => false,
            other => !other.is_empty(),
        };
        if !fine {
            return false;
        }
    }
    root && parent
}

/// Whether `value` is an X-Ray trace id: `1-<8 hex digits>-<24 hex digits>`.
pub fn root_is_well_formed(value: &str) -> bool {
    let mut parts = value.split('-');
    matches!(
        (parts.next(), parts.next(), parts.next(), parts.next()),
        (Some("1"), Some(epoch), Some(unique), None)
            if epoch.len() == 8 && is_hex(epoch) && unique.len() == 24 && is_hex(unique)
    )
}

fn is_hex(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The span context of a well-formed header; `None` for anything else.
pub(crate) fn span_context(header: &str) -> Option<SpanContext> {
    if !is_well_formed(header) {
        return None;
    }
    // The propagator's parser takes no spaces around the fields.
    let compact: Vec<&str> = header.split(';').map(str::trim).collect();
    span_context_from_str(&compact.join(";")).filter(SpanContext::is_valid)
}

/// The X-Ray propagator, extracting only from well-formed headers.
#[derive(Debug, Default)]
pub(crate) struct StrictXrayPropagator {
    xray: XrayPropagator,
}

impl StrictXrayPropagator {
    /// The X-Ray propagator behind a strict check of the header's shape.
    pub(crate) fn new() -> Self {
        Self::default()
    }
}

impl TextMapPropagator for StrictXrayPropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        self.xray.inject_context(cx, injector);
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        match extractor.get(HEADER).and_then(span_context) {
            Some(span_context) => cx.with_remote_span_context(span_context),
            None => cx.clone(),
        }
    }

    fn fields(&self) -> FieldIter<'_> {
        self.xray.fields()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

    #[test]
    fn well_formed_headers_are_trusted_with_any_extra_fields() {
        assert!(span_context(GOOD).is_some());
        assert!(span_context(&format!("{GOOD};Lineage=a87bd80c:1|68fd508a:5")).is_some());
        assert!(
            span_context("Root=1-5759e988-bd862e3fe1be46a994272793; Parent=53995c3f42cd8ad8; Sampled=?")
                .is_some()
        );
        assert!(span_context("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8").is_some());
    }

    #[test]
    fn anything_else_is_no_context() {
        for bad in [
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad;Sampled=1",
            "Root=1-5759e988-bd862e3fe1be46a99427279;Parent=53995c3f42cd8ad8;Sampled=1",
            "Root=2-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
            "Root=1-5759e98-8bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
            "Root=1-5759e988-bd862e3fe1be46a994272793-00;Parent=53995c3f42cd8ad8",
            "Root=1-5759e988-bd862e3fe1be46a99427279x;Parent=53995c3f42cd8ad8",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=yes",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
            "Parent=53995c3f42cd8ad8;Sampled=1",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Root=1-5759e988-bd862e3fe1be46a994272794;Parent=53995c3f42cd8ad8",
            "Root=1-5759e988-bd862e3fe1be46a994272793;garbage;Parent=53995c3f42cd8ad8",
            "",
        ] {
            assert!(span_context(bad).is_none(), "{bad}");
        }
    }
}
