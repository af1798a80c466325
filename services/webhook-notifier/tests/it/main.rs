//! The notifier's integration tests, one binary: batch spans over the in-memory store and mailer.

// Integration tests: a failed expectation is a failed test, not a crash on input.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod batch_spans;
mod runtime_api;
