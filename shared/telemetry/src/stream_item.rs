//! Trace context carried in a DynamoDB item, for the consumers of the table's stream. Stream
//! records carry no message attributes and no `AWSTraceHeader`, so the producer writes its
//! context into the item it commits (the outbox pattern) and the consumer reads it back from the
//! record's new image: the same propagators and names as a queued message's attributes
//! (`X-Amzn-Trace-Id`, `traceparent`, ...), as a map of strings.

use std::collections::BTreeMap;

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;

use crate::sqs::{UpstreamCarrier, UpstreamContext, sqs_attribute_name};

/// `cx`'s propagator entries under their message attribute names; empty for an invalid context.
/// Empty values are dropped, as on a message.
pub(crate) fn inject_into_item(cx: &Context, propagator: &dyn TextMapPropagator) -> BTreeMap<String, String> {
    if !cx.span().span_context().is_valid() {
        return BTreeMap::new();
    }
    let mut carrier: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    propagator.inject_context(cx, &mut carrier);
    carrier
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(key, value)| (sqs_attribute_name(key), value))
        .collect()
}

/// The producer's context from an item's trace context entries (names in any case); an empty
/// context with carrier `None` when they hold no valid one.
pub(crate) fn extract_from_item(
    entries: &BTreeMap<String, String>,
    propagator: &dyn TextMapPropagator,
) -> UpstreamContext {
    // Onto an empty context: the current one holds the invocation span.
    let context = propagator.extract_with_context(&Context::new(), &Entries(entries));
    let carrier = match context.span().span_context().is_valid() {
        true => UpstreamCarrier::StreamItem,
        false => UpstreamCarrier::None,
    };
    UpstreamContext::new(context, carrier)
}

struct Entries<'a>(&'a BTreeMap<String, String>);

impl Extractor for Entries<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(key))
            .map(|(_, value)| value.as_str())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PropagatorKind;
    use crate::propagation::Propagators;
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

    fn propagators(kinds: &[PropagatorKind]) -> Propagators {
        Propagators::new(kinds)
    }

    fn remote(sampled: bool) -> Context {
        let flags = if sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from(0x5759e988bd862e3fe1be46a994272793_u128),
            SpanId::from(0x53995c3f42cd8ad8_u64),
            flags,
            true,
            TraceState::default(),
        ))
    }

    #[test]
    fn an_item_carries_the_same_names_as_a_message() {
        let all = propagators(&[
            PropagatorKind::TraceContext,
            PropagatorKind::Baggage,
            PropagatorKind::Xray,
        ]);
        let entries = inject_into_item(&remote(true), all.messages());
        assert_eq!(
            entries,
            BTreeMap::from([
                (
                    "X-Amzn-Trace-Id".to_owned(),
                    "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".to_owned()
                ),
                (
                    "traceparent".to_owned(),
                    "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01".to_owned()
                ),
            ])
        );
        assert!(inject_into_item(&Context::new(), all.messages()).is_empty());
    }

    #[test]
    fn each_propagator_reads_back_what_it_wrote_with_its_sampling_decision() {
        for kinds in [[PropagatorKind::Xray], [PropagatorKind::TraceContext]] {
            let propagators = propagators(&kinds);
            for sampled in [true, false] {
                let entries = inject_into_item(&remote(sampled), propagators.messages());
                let upstream = extract_from_item(&entries, propagators.messages());
                assert_eq!(upstream.carrier(), UpstreamCarrier::StreamItem);
                assert_eq!(
                    upstream.span_context().span_id(),
                    SpanId::from(0x53995c3f42cd8ad8_u64)
                );
                assert_eq!(upstream.span_context().is_sampled(), sampled, "{kinds:?}");
            }
        }
    }

    #[test]
    fn a_malformed_or_missing_context_is_none() {
        let xray = propagators(&[PropagatorKind::Xray, PropagatorKind::TraceContext]);
        for entries in [
            BTreeMap::new(),
            BTreeMap::from([("X-Amzn-Trace-Id".to_owned(), "Root=garbage".to_owned())]),
            BTreeMap::from([("traceparent".to_owned(), "00-zz-yy-01".to_owned())]),
        ] {
            let upstream = extract_from_item(&entries, xray.messages());
            assert_eq!(upstream.carrier(), UpstreamCarrier::None, "{entries:?}");
            assert!(!upstream.is_present());
        }
    }

    #[test]
    fn names_are_read_in_any_case() {
        let xray = propagators(&[PropagatorKind::Xray]);
        let entries = BTreeMap::from([(
            "x-amzn-trace-id".to_owned(),
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".to_owned(),
        )]);
        assert!(extract_from_item(&entries, xray.messages()).is_present());
    }
}
