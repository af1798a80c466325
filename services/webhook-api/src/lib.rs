//! `webhook-api`: receives Stripe webhooks behind API Gateway, verifies the signature before
//! parsing, validates the event, and queues it on SQS (or publishes it to the SNS topic the
//! queue subscribes to) with its trace context.
//!
//! - [`intake`]: the core, request to response, no Lambda types.
//! - Stripe's signature scheme lives in the `stripe-signature` crate (the demo signs with it).
//! - [`queue`]: the SQS adapter and its PRODUCER span; [`topic`]: the SNS adapter (fan-out) and
//!   its PRODUCER span; [`destination`]: the one of the two a deployment uses.
//! - [`lambda`]: the Lambda edge; [`config`] and [`secrets`]: cold-start settings.
#![warn(missing_docs)]

pub mod config;
pub mod destination;
pub mod error;
pub mod intake;
pub mod lambda;
pub mod queue;
pub mod secrets;
pub mod sink;
pub mod topic;
