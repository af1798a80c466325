#![doc = include_str!("../README.md")]

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
pub mod stack_env;
pub mod standalone;
pub mod stream_source;
pub mod trace_sink;
pub mod up;
pub mod xray_api;

pub use moto_server::workspace_root;
