//! Trace context extraction from a received SQS message: any message attributes (one
//! `name=value` per line) and `AWSTraceHeader` (a line starting `AWSTraceHeader=`), through
//! every propagator the configuration allows.
#![no_main]

use aws_lambda_events::sqs::{SqsMessage, SqsMessageAttribute};
use libfuzzer_sys::fuzz_target;
use shared_telemetry::PropagatorKind;
use shared_telemetry::Propagators;
use shared_telemetry::extract_upstream_context;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut message = SqsMessage::default();
    for line in text.lines() {
        let (name, value) = line.split_once('=').unwrap_or((line, ""));
        if name == "AWSTraceHeader" {
            message.attributes.insert(name.to_owned(), value.to_owned());
        } else {
            let mut attribute = SqsMessageAttribute::default();
            attribute.data_type = Some("String".to_owned());
            attribute.string_value = Some(value.to_owned());
            message.message_attributes.insert(name.to_owned(), attribute);
        }
    }
    let propagators = Propagators::new(&[
        PropagatorKind::TraceContext,
        PropagatorKind::Baggage,
        PropagatorKind::Xray,
        PropagatorKind::XrayLambda,
    ]);
    let upstream = extract_upstream_context(&message, None, propagators.messages());
    assert_eq!(upstream.is_present(), upstream.span_context().is_valid());
});
