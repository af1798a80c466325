//! Local stand-ins for AWS, for the tests, the local stack and the benchmarks: the moto server
//! (SQS, DynamoDB, Secrets Manager, ...) on a free loopback port from the project's virtualenv,
//! the child processes such servers run as (log file, readiness against a deadline, always
//! stopped by PID), and [`recorded::RecordedApi`], which answers the AWS calls moto does not
//! implement with recorded responses.

use std::path::PathBuf;

pub mod moto;
pub mod process;
pub mod recorded;

/// The repository root, wherever the caller runs.
pub fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .ancestors()
        .nth(2)
        .map(PathBuf::from)
        .unwrap_or(manifest_dir)
}
