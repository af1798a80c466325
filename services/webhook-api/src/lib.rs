//! `webhook-api`: receives Stripe webhooks behind API Gateway, verifies the signature before
//! parsing, validates the event, and queues it on SQS with its trace context.
//!
//! - [`intake`]: the core, request to response, no Lambda types.
//! - Stripe's signature scheme lives in the `stripe-signature` crate (the demo signs with it).
//! - [`queue`]: the SQS adapter and its PRODUCER span.
//! - [`lambda`]: the Lambda edge; [`config`] and [`secrets`]: cold-start settings.

pub mod config;
pub mod error;
pub mod intake;
pub mod lambda;
pub mod queue;
pub mod secrets;
