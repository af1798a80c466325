//! Deliberately broken copies of the repository's files (terraform/, the workflows), for
//! showing that a check catches what it guards.

// Test support: a failed expectation is a failed test, not a crash on input.
#![allow(clippy::expect_used, clippy::unwrap_used, dead_code)]

use std::path::{Path, PathBuf};

use checks::Violation;
use checks::terraform::rules::Tree;

pub(crate) fn terraform_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../terraform")
}

/// A throwaway copy of a directory to break on purpose; removed on drop.
pub(crate) struct BrokenCopy {
    pub dir: PathBuf,
}

impl BrokenCopy {
    /// A copy of terraform/.
    pub(crate) fn new(name: &str) -> Self {
        Self::of(&terraform_dir(), "terraform", name)
    }

    /// A copy of `source`, in a temporary directory named after `kind` and `name`.
    pub(crate) fn of(source: &Path, kind: &str, name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("{kind}-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        copy_dir(source, &dir);
        Self { dir }
    }

    /// Replaces `from` (which must be there) with `to` in `file`.
    pub(crate) fn edit(self, file: &str, from: &str, to: &str) -> Self {
        let path = self.dir.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains(from),
            "{file} no longer contains {from:?}: update this test"
        );
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
        self
    }

    pub(crate) fn tree(&self) -> Tree {
        Tree::load(&self.dir).expect("the broken copy still parses")
    }
}

impl Drop for BrokenCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub(crate) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().filter_map(Result::ok) {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

pub(crate) fn assert_caught(violations: Vec<Violation>, rule: &str, needle: &str) {
    assert!(
        violations
            .iter()
            .any(|v| v.rule == rule && v.to_string().contains(needle)),
        "expected a {rule} violation mentioning {needle:?}, got {violations:#?}"
    );
}
