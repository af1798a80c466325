//! The single place where tracing is set up for the webhook Lambdas, and what another Lambda
//! function needs to join the same traces across SQS.
//!
//! - [`Telemetry::init`] reads the standard OpenTelemetry variables ([`config`]) and installs
//!   the pipeline: sampler, X-Ray-compatible ids, Lambda resource, exporter, JSON logs.
//! - [`InvocationLayer`] wraps each invocation in a span that continues Lambda's X-Ray context
//!   and flushes spans before the sandbox freezes; [`InvocationHandler`] decodes the event and
//!   turns a bad event, an error or a panic into an ERROR span and one clear invocation error.
//! - [`sqs`] carries trace context through SQS; [`consumer`] relates each message's span to its
//!   producer and to the invocation.
//!
//! # A consumer: one span per SQS message, in its producer's trace
//!
//! ```no_run
//! use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
//! use lambda_runtime::{Error, LambdaEvent, Runtime, service_fn};
//! use shared_telemetry::{InvocationHandler, InvocationLayer, Telemetry, TraceMode, Trigger, attach_upstream};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Error> {
//!     let telemetry = Telemetry::init("my-consumer")?;
//!     let for_handler = telemetry.clone();
//!     let handler = service_fn(move |event: LambdaEvent<SqsEvent>| {
//!         let telemetry = for_handler.clone();
//!         async move {
//!             let invocation = tracing::Span::current();
//!             for message in &event.payload.records {
//!                 let span = tracing::info_span!("process", otel.kind = "consumer");
//!                 let upstream = telemetry.extract_from_sqs(message, None);
//!                 attach_upstream(&span, &invocation, &upstream, TraceMode::Parent)?;
//!                 span.in_scope(|| tracing::info!("handled"));
//!             }
//!             Ok::<_, Error>(SqsBatchResponse::default())
//!         }
//!     });
//!     Runtime::new(InvocationHandler::new(handler))
//!         .layer(InvocationLayer::new(telemetry, Trigger::PubSub))
//!         .run()
//!         .await
//! }
//! ```
//!
//! # A producer: the current span's context on the message
//!
//! ```no_run
//! use aws_sdk_sqs::types::MessageSystemAttributeNameForSends;
//! use shared_telemetry::Telemetry;
//! use tracing_opentelemetry::OpenTelemetrySpanExt;
//!
//! async fn send(telemetry: &Telemetry, sqs: &aws_sdk_sqs::Client, queue_url: &str, body: &str) {
//!     let trace = telemetry.inject_into_sqs(&tracing::Span::current().context(), &Default::default());
//!     let mut request = sqs
//!         .send_message()
//!         .queue_url(queue_url)
//!         .message_body(body)
//!         .set_message_attributes(Some(trace.message_attributes));
//!     if let Some(header) = trace.aws_trace_header {
//!         request = request.message_system_attributes(MessageSystemAttributeNameForSends::AwsTraceHeader, header);
//!     }
//!     let _ = request.send().await;
//! }
//! ```
//!
//! The variables it reads, and the two ways spans leave a Lambda function (the ADOT collector
//! layer over OTLP/HTTP, or OTLP over UDP to the X-Ray daemon for Application Signals), are in
//! the crate README.
#![warn(missing_docs)]

pub mod attributes;
pub mod config;
pub mod consumer;
pub mod handler;
pub mod init_error;
mod invocation;
pub mod invocation_processor;
mod logging;
mod pipeline;
pub mod propagation;
pub mod search;
pub mod sns;
mod span_status;
pub mod sqs;
pub mod xray_header;

pub use config::{ConfigError, ConfigProblem, PropagatorKind, TelemetryConfig, TraceMode};
pub use consumer::attach_upstream;
pub use handler::{InvocationFailure, InvocationHandler};
pub use invocation::{InvocationLayer, InvocationService, Trigger};
pub use pipeline::{Telemetry, TelemetryBuilder, TelemetryError};
pub use sns::OutgoingNotificationTraceContext;
pub use span_status::record_error;
pub use sqs::{OutgoingTraceContext, UpstreamCarrier, UpstreamContext};
