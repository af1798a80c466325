#![doc = include_str!("../README.md")]

pub mod dead_letters;
pub mod environment;
pub mod logs;
pub mod redrive;
pub mod render;
pub mod smoke;
pub mod story;

/// Why an operator command could not do its job (as opposed to what it found).
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// The environment's settings (outputs or state file) cannot be used.
    #[error("{path}: {detail}")]
    Settings {
        /// The file.
        path: String,
        /// What is wrong with it.
        detail: String,
    },
    /// An AWS call failed.
    #[error("{service} {operation} failed: {detail}")]
    Aws {
        /// The AWS service.
        service: &'static str,
        /// The call.
        operation: &'static str,
        /// The service's answer.
        detail: String,
    },
    /// The command could not finish; the text says what is missing.
    #[error("{0}")]
    Incomplete(String),
}

impl OperatorError {
    pub(crate) fn aws<E: std::error::Error + 'static>(
        service: &'static str,
        operation: &'static str,
        error: E,
    ) -> Self {
        Self::Aws {
            service,
            operation,
            detail: aws_sdk_sqs::error::DisplayErrorContext(error).to_string(),
        }
    }
}
