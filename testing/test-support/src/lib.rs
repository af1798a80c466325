#![doc = include_str!("../README.md")]
// A support failure is a failed test, not a crash on input.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::PathBuf;

pub mod events;
pub mod spans;
pub mod sqs;

/// The repository root, whatever directory the test runs in.
pub fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .ancestors()
        .nth(2)
        .map(PathBuf::from)
        .unwrap_or(manifest_dir)
}
