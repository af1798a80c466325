//! The whole webhook pipeline on one machine, with no AWS account: the AWS emulator (moto)
//! provisioned with Terraform's names and settings, both function binaries under cargo-lambda's
//! Lambda runtime emulator, the SQS event source mapping emulated with Lambda's semantics, and a
//! local OTLP trace sink that renders each trace as a terminal waterfall.
//!
//! - [`stack`]: start and stop everything; [`scenario`]: the scripted demo and its checks.
//! - [`event_source`], [`lambda_emulator`], [`provision`], [`moto`], [`process`]: the parts.
//! - [`trace_sink`] receives spans; [`waterfall`] draws them.

use std::path::PathBuf;

pub mod event_source;
pub mod fault_proxy;
pub mod lambda_emulator;
pub mod probe;
pub mod provision;
pub mod scenario;
pub mod soak;
pub mod stack;
pub mod trace_sink;

/// The repository root, whatever directory the caller runs in.
pub fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .ancestors()
        .nth(2)
        .map(PathBuf::from)
        .unwrap_or(manifest_dir)
}
