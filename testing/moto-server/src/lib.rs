#![doc = include_str!("../README.md")]

use std::path::PathBuf;

mod moto;
mod recorded;

pub use moto::{ACCOUNT_ID, MotoError, MotoServer, REGION, sdk_config_for};
pub use recorded::{Received, Recorded, RecordedApi};

/// The repository root, wherever the caller runs.
pub fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .ancestors()
        .nth(2)
        .map(PathBuf::from)
        .unwrap_or(manifest_dir)
}
