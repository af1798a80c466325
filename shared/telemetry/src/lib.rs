//! The single place where tracing is set up for the webhook Lambdas.
//!
//! - [`Telemetry::init`] reads the standard OpenTelemetry variables ([`config`]) and installs
//!   the pipeline: sampler, X-Ray-compatible ids, Lambda resource, exporter, JSON logs.
//! - [`InvocationLayer`] wraps each invocation in a span that continues Lambda's X-Ray context
//!   and flushes spans before the sandbox freezes.
//! - [`sqs`] carries trace context through SQS; [`consumer`] relates each message's span to its
//!   producer and to the invocation.

pub mod application_signals;
pub mod attributes;
pub mod config;
pub mod consumer;
pub mod handler;
pub mod init_error;
mod invocation;
mod logging;
mod pipeline;
pub mod propagation;
mod span_status;
pub mod sqs;
#[cfg(feature = "test-util")]
pub mod testing;
pub mod xray_header;
pub mod xray_udp;

pub use config::{ConfigError, ConfigProblem, PropagatorKind, TelemetryConfig, TraceMode};
pub use consumer::attach_upstream;
pub use handler::{InvocationFailure, InvocationHandler};
pub use invocation::{InvocationLayer, InvocationService, Trigger};
pub use pipeline::{Telemetry, TelemetryBuilder, TelemetryError};
pub use span_status::record_error;
pub use sqs::{OutgoingTraceContext, UpstreamCarrier, UpstreamContext};
