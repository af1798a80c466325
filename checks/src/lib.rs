#![doc = include_str!("../README.md")]

use std::fmt;

pub mod terraform;
pub mod workflows;
pub mod workspace;

/// One broken rule: which, where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The rule's name, as its function is named.
    pub rule: &'static str,
    /// The file, line, crate or resource that breaks it.
    pub location: String,
    /// What is wrong and what to change.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}: {}", self.rule, self.location, self.message)
    }
}
