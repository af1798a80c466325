//! The local pipeline's integration tests, one binary: the end-to-end runs, faults, and running one function alone.

// Integration tests: a failed expectation is a failed test, not a crash on input.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod end_to_end;
mod faults;
mod notifier;
mod standalone;
