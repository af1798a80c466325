//! The worker's integration tests, one binary: batch spans, the DynamoDB store against moto, properties, and the real binary under the Runtime API emulator.

// Integration tests: a failed expectation is a failed test, not a crash on input.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod batch_spans;
mod dynamodb_integration;
mod properties;
mod runtime_api;
