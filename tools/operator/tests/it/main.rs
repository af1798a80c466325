//! The operator's integration tests, one binary: make up, query ids, redrive (emulated and as a move task), the redrive scenario, smoke, the story against AWS's answers, and unsampled events.

// Integration tests: a failed expectation is a failed test, not a crash on input.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod make_up;
mod query_ids;
mod redrive;
mod redrive_scenario;
mod smoke;
mod story_aws;
mod unsampled;
