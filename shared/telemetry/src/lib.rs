#![doc = include_str!("../README.md")]

pub mod attributes;
mod aws_client;
mod config;
mod consumer;
mod handler;
mod init_error;
mod invocation;
mod invocation_processor;
mod logging;
mod pipeline;
mod propagation;
mod search;
mod sns;
mod span_status;
mod sqs;
mod stream_item;
mod xray_header;

pub use aws_client::{aws_client_span, dynamodb_client_span};
pub use config::{
    ConfigError, ConfigProblem, PropagatorKind, SamplerConfig, TelemetryConfig, TraceMode, TracesExporter,
};
pub use consumer::attach_upstream;
pub use handler::{InvocationFailure, InvocationHandler};
pub use init_error::{ERROR_TYPE as INIT_ERROR_TYPE, report as report_init_error};
pub use invocation::{InvocationLayer, InvocationService, Trigger};
pub use invocation_processor::{DEFAULT_MAX_BUFFERED, InvocationSpanProcessor};
pub use pipeline::{Telemetry, TelemetryBuilder, TelemetryError};
pub use propagation::Propagators;
pub use search::{EVENT_ID_ANNOTATION, event_id_filter, index_event_id};
pub use sns::{OutgoingNotificationTraceContext, XRAY_TRACE_HEADER};
pub use span_status::record_error;
pub use sqs::{
    AWS_TRACE_HEADER, MAX_MESSAGE_ATTRIBUTES, OutgoingTraceContext, UpstreamCarrier, UpstreamContext,
    extract_upstream_context,
};
pub use xray_header::root_is_well_formed;
