//! The chaos run end to end, as `CHAOS_EVENTS=500 make chaos` runs it: the real function
//! binaries under the local pipeline, every fault class on its schedule, a fixed seed.

// Integration tests: a failed expectation is a failed test, not a crash on input.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod every_fault;
