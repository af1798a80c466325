//! `webhook-worker`: processes SQS batches of Stripe webhooks, each message in its own span
//! carrying its producer's trace context, writes idempotently to DynamoDB, and answers with a
//! partial batch response.
//!
//! - [`batch`]: the loop, spans, concurrency, FIFO order, deadline, response.
//! - [`process`]: one message: parse, decide, record. [`effect`]: what each event type changes.
//! - [`store`]: the idempotent store contract; DynamoDB and in-memory implementations.
//! - [`lambda`]: the Lambda edge; [`config`]: cold-start settings.
#![warn(missing_docs)]

pub mod batch;
pub mod config;
pub mod effect;
pub mod lambda;
pub mod metrics;
pub mod process;
pub mod store;
