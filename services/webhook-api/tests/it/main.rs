//! The API's integration tests, one binary: the bad-input corpus, the intake's responses, the real binary under the Runtime API emulator, and the SQS and SNS adapters against moto.

// Integration tests: a failed expectation is a failed test, not a crash on input.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod bad_input_corpus;
mod intake_responses;
mod runtime_api;
mod sns_integration;
mod sqs_integration;
