//! Traces read back, whatever their source, and shown the same way everywhere: `make demo`,
//! `make smoke` after a deploy, `make trace EVENT=...` and the end-to-end tests.
//!
//! - [`span`]: a span flattened for queries and rendering.
//! - [`source`]: where traces come from: X-Ray (`BatchGetTraces`) in AWS, the local stack's trace
//!   sink locally.
//! - [`xray`]: X-Ray segment documents as spans.
//! - [`pipeline`]: what a connected webhook trace holds, and what one lacks.
//! - [`waterfall`]: a trace as a terminal waterfall.

pub mod pipeline;
pub mod source;
pub mod span;
pub mod waterfall;
pub mod xray;
