//! The text-map propagators named in `OTEL_PROPAGATORS`, composed in the configured order.

use opentelemetry::Context;
use opentelemetry::propagation::{
    Extractor, Injector, TextMapCompositePropagator, TextMapPropagator, text_map_propagator::FieldIter,
};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};

use crate::config::PropagatorKind;
use crate::xray_header::StrictXrayPropagator;

/// The environment variable Lambda sets to the invocation's X-Ray trace header.
const LAMBDA_TRACE_HEADER_ENV: &str = "_X_AMZN_TRACE_ID";
const XRAY_HEADER: &str = "x-amzn-trace-id";

/// The configured propagators, in two forms: for the invocation's own carriers (HTTP headers),
/// and for queued messages, where `xray-lambda` must not fall back to the invocation's context.
#[derive(Debug)]
pub struct Propagators {
    invocation: TextMapCompositePropagator,
    messages: TextMapCompositePropagator,
}

/// Where `xray-lambda` reads the invocation's trace header; the process environment in production.
type HeaderSource = fn() -> Option<String>;

fn lambda_header_from_env() -> Option<String> {
    std::env::var(LAMBDA_TRACE_HEADER_ENV).ok()
}

impl Propagators {
    /// The propagators `kinds`, in order; `xray-lambda` reads Lambda's `_X_AMZN_TRACE_ID`.
    pub fn new(kinds: &[PropagatorKind]) -> Self {
        Self::with_lambda_header_source(kinds, lambda_header_from_env)
    }

    fn with_lambda_header_source(kinds: &[PropagatorKind], lambda_header: HeaderSource) -> Self {
        let message_kinds: Vec<PropagatorKind> = kinds
            .iter()
            .map(|kind| match kind {
                PropagatorKind::XrayLambda => PropagatorKind::Xray,
                other => *other,
            })
            .collect();
        Self {
            invocation: composite(kinds, lambda_header),
            messages: composite(&message_kinds, lambda_header),
        }
    }

    /// For HTTP requests and anything else that belongs to the current invocation.
    pub fn invocation(&self) -> &TextMapCompositePropagator {
        &self.invocation
    }

    /// For SQS messages, which carry their producer's context and nothing else.
    pub fn messages(&self) -> &TextMapCompositePropagator {
        &self.messages
    }
}

fn composite(kinds: &[PropagatorKind], lambda_header: HeaderSource) -> TextMapCompositePropagator {
    let propagators = kinds
        .iter()
        .map(|kind| -> Box<dyn TextMapPropagator + Send + Sync> {
            match kind {
                PropagatorKind::TraceContext => Box::new(TraceContextPropagator::new()),
                PropagatorKind::Baggage => Box::new(BaggagePropagator::new()),
                PropagatorKind::Xray => Box::new(StrictXrayPropagator::new()),
                PropagatorKind::XrayLambda => Box::new(XrayLambdaPropagator {
                    xray: StrictXrayPropagator::new(),
                    lambda_header,
                }),
            }
        })
        .collect();
    TextMapCompositePropagator::new(propagators)
}

/// X-Ray propagation as the ADOT SDKs' `AwsXrayLambdaPropagator` does it: when nothing earlier
/// in the chain found a span, the Lambda invocation's own `_X_AMZN_TRACE_ID` is the parent.
#[derive(Debug)]
pub(crate) struct XrayLambdaPropagator {
    xray: StrictXrayPropagator,
    lambda_header: HeaderSource,
}

impl Default for XrayLambdaPropagator {
    fn default() -> Self {
        Self {
            xray: StrictXrayPropagator::new(),
            lambda_header: lambda_header_from_env,
        }
    }
}

impl TextMapPropagator for XrayLambdaPropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        self.xray.inject_context(cx, injector);
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let extracted = self.xray.extract_with_context(cx, extractor);
        if cx.span().span_context().is_valid() {
            return extracted;
        }
        match (self.lambda_header)() {
            Some(header) => self.xray.extract_with_context(&extracted, &LambdaHeader(header)),
            None => extracted,
        }
    }

    fn fields(&self) -> FieldIter<'_> {
        self.xray.fields()
    }
}

struct LambdaHeader(String);

impl Extractor for LambdaHeader {
    fn get(&self, key: &str) -> Option<&str> {
        (key == XRAY_HEADER).then_some(self.0.as_str())
    }

    fn keys(&self) -> Vec<&str> {
        vec![XRAY_HEADER]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const XRAY: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    fn carrier(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn trace_id(cx: &Context) -> String {
        cx.span().span_context().trace_id().to_string()
    }

    #[test]
    fn composite_extracts_in_the_configured_order() {
        let both = carrier(&[("traceparent", TRACEPARENT), ("x-amzn-trace-id", XRAY)]);
        let xray_last = Propagators::new(&[PropagatorKind::TraceContext, PropagatorKind::Xray]);
        let cx = xray_last
            .invocation()
            .extract_with_context(&Context::new(), &both);
        assert_eq!(
            trace_id(&cx),
            "5759e988bd862e3fe1be46a994272793",
            "the later propagator wins"
        );
        let tracecontext_last = Propagators::new(&[PropagatorKind::Xray, PropagatorKind::TraceContext]);
        let cx = tracecontext_last
            .invocation()
            .extract_with_context(&Context::new(), &both);
        assert_eq!(trace_id(&cx), "0af7651916cd43dd8448eb211c80319c");
    }

    #[test]
    fn no_propagators_extract_nothing() {
        let cx = Propagators::new(&[])
            .invocation()
            .extract_with_context(&Context::new(), &carrier(&[("traceparent", TRACEPARENT)]));
        assert!(!cx.span().span_context().is_valid());
    }

    #[test]
    fn xray_lambda_falls_back_to_the_invocation_header_for_the_invocation_only() {
        let lambda_header = || Some(XRAY.to_owned());
        let propagators = Propagators::with_lambda_header_source(
            &[PropagatorKind::TraceContext, PropagatorKind::XrayLambda],
            lambda_header,
        );
        let empty = carrier(&[]);
        let cx = propagators
            .invocation()
            .extract_with_context(&Context::new(), &empty);
        assert_eq!(trace_id(&cx), "5759e988bd862e3fe1be46a994272793");

        let cx = propagators
            .invocation()
            .extract_with_context(&Context::new(), &carrier(&[("traceparent", TRACEPARENT)]));
        assert_eq!(
            trace_id(&cx),
            "0af7651916cd43dd8448eb211c80319c",
            "the carrier wins"
        );

        let cx = propagators
            .messages()
            .extract_with_context(&Context::new(), &empty);
        assert!(
            !cx.span().span_context().is_valid(),
            "a message never inherits the invocation"
        );
    }
}
