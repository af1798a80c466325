//! The whole webhook pipeline on one machine, with no AWS account: the AWS emulator (moto)
//! provisioned with Terraform's names and settings, both function binaries under cargo-lambda's
//! Lambda runtime emulator, the SQS event source mapping emulated with Lambda's semantics, and a
//! local OTLP trace sink that renders each trace as a terminal waterfall.
//!
//! - [`stack`]: start and stop everything; [`scenario`]: the scripted demo and its checks.
//! - [`event_source`], [`lambda_emulator`], [`provision`], [`fault_proxy`]: the parts (moto and
//!   the process handling are in the shared `emulator` crate).
//! - [`trace_sink`] receives spans; `trace-reader` draws them.
//! - [`standalone`]: the resources alone, for running one function under `cargo lambda watch`.
//! - [`up`]: `make up` / `make down` / `make send`, the stack as a development environment.

pub mod api_gateway;
pub mod aws_endpoint;
pub mod draws;
pub mod event_source;
pub mod fault_proxy;
pub mod http;
pub mod lambda_service;
pub mod logs_insights;
pub mod probe;
pub mod provision;
pub mod scenario;
pub mod soak;
pub mod stack;
pub mod standalone;
pub mod trace_sink;
pub mod up;
pub mod xray_api;

pub use emulator::workspace_root;
