//! Traces read back, whatever their source, and shown the same way everywhere: `make demo`,
//! `make smoke` after a deploy, `make trace EVENT=...` and the end-to-end tests.
//!
//! - [`span`]: a span flattened for queries and rendering.
//! - [`source`]: traces read the way AWS serves them: `BatchGetTraces`, or with Transaction Search
//!   `StartTraceRetrieval` and `ListRetrievedTraces` (the local pipeline answers the same calls).
//! - [`xray`]: X-Ray segment documents as spans.
//! - [`pipeline`]: what a connected webhook trace holds, and what one lacks.
//! - [`waterfall`]: a trace as a terminal waterfall.

pub mod pipeline;
pub mod source;
pub mod span;
pub mod waterfall;
pub mod xray;
