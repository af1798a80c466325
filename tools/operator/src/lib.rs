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
    #[error("{path}: {detail}")]
    Settings { path: String, detail: String },
    #[error("{service} {operation} failed: {detail}")]
    Aws {
        service: &'static str,
        operation: &'static str,
        detail: String,
    },
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
