//! The operator's commands, for the question this project exists to answer: what happened to
//! this event?
//!
//! - [`story`]: one event's story (`make trace EVENT=evt_...`): its record in DynamoDB, every
//!   stage from its log lines ([`logs`]), its traces read the way AWS serves them, or, without a
//!   record, where it was last seen (the DLQ); [`render`] prints it, with the same waterfall
//!   `make demo` shows.
//! - [`redrive`]: the DLQ's messages back onto the queue (`make redrive`), with their trace
//!   context.
//! - [`environment`]: where those run: the `make up` stack, or an AWS environment from its
//!   Terraform outputs.
//! - [`dead_letters`]: reading the DLQ without consuming it.
//! - [`smoke`]: after a deploy, one signed test webhook checked stored and traced end to end
//!   (`make smoke`).

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
