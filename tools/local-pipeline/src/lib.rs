//! The whole webhook pipeline on one machine, with no AWS account: the AWS emulator (moto)
//! provisioned with Terraform's names and settings, both function binaries under a local Lambda
//! service behind API Gateway's front door, the SQS event source mapping emulated with Lambda's
//! semantics, a trace sink, and one AWS endpoint that answers the tools' X-Ray and Logs Insights
//! calls as AWS does.
//!
//! - [`stack`]: start and stop everything; [`scenario`]: the scripted demo and its checks.
//! - [`lambda_service`], [`api_gateway`], [`event_source`], [`provision`], [`fault_proxy`]: the
//!   parts (moto and the process handling are the `moto-server` and `child-process` crates in
//!   `testing/`).
//! - [`trace_sink`] receives spans; [`aws_endpoint`] serves them through [`xray_api`] and the
//!   functions' logs through [`logs_insights`]; `trace-reader` draws them.
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

pub use moto_server::workspace_root;
