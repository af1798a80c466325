//! shared-telemetry's integration tests, one binary: consumer spans, the invocation layer, JSON logs, properties, and the X-Ray UDP export.

// Integration tests: a failed expectation is a failed test, not a crash on input.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod consumer_spans;
mod invocation_layer;
mod json_logs;
mod properties;
mod xray_udp_export;
