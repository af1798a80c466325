//! Where the operator's commands run: the `make up` stack (its state file) or an AWS environment
//! (its `terraform output -json`).

use std::path::Path;

use aws_config::{Region, SdkConfig};
use serde_json::Value;
use trace_reader::source::TraceSource;
use up_state::UpState;

use crate::OperatorError;

/// Which kind of environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// The `make up` stack: its AWS endpoint answers the same calls as AWS.
    Local,
    /// A deployed environment, by name (`dev`, `prod`).
    Aws {
        /// The environment's name.
        environment: String,
    },
}

/// Everything a command needs to find an event. The same calls go to AWS and to the local
/// stack; only the endpoint differs.
#[derive(Debug)]
pub struct Environment {
    /// Local or in AWS, and its name.
    pub location: Location,
    /// The AWS SDK configuration every call uses.
    pub sdk: SdkConfig,
    /// The environment's region.
    pub region: String,
    /// The event table's name.
    pub table: String,
    /// The event queue's URL.
    pub queue_url: String,
    /// The dead-letter queue's URL.
    pub dlq_url: String,
    /// The functions' log groups: the API's, the worker's, then the notifier's if deployed.
    pub log_groups: Vec<String>,
    /// The notifier's on-failure queue, if the notifier is deployed.
    pub notifier_failures_url: Option<String>,
    /// Where traces are read from.
    pub traces: TraceSource,
}

impl Environment {
    /// The running `make up` stack described by its state file.
    pub async fn local(state_file: &Path) -> Result<Self, OperatorError> {
        let unreadable = |detail: String| OperatorError::Settings {
            path: state_file.display().to_string(),
            detail,
        };
        let bytes = std::fs::read(state_file)
            .map_err(|error| unreadable(format!("{error}; is the local pipeline up (`make up`)?")))?;
        let state: UpState = serde_json::from_slice(&bytes).map_err(|error| unreadable(error.to_string()))?;
        if !state.owner.is_running() {
            return Err(unreadable(
                "the local pipeline it describes is not running; start it with `make up`".to_owned(),
            ));
        }
        let sdk = state.sdk_config().await;
        Ok(Self {
            location: Location::Local,
            traces: TraceSource::new(&sdk),
            sdk,
            region: state.region,
            table: state.table_name,
            queue_url: state.queue_url,
            dlq_url: state.dlq_url,
            log_groups: state.log_groups,
            notifier_failures_url: state.notifier_failures_url,
        })
    }

    /// A deployed environment from its Terraform outputs, with the default AWS credentials, in
    /// the region its queue is in.
    pub async fn aws(environment: &str, outputs_file: &Path) -> Result<Self, OperatorError> {
        let unreadable = |detail: String| OperatorError::Settings {
            path: outputs_file.display().to_string(),
            detail,
        };
        let bytes = std::fs::read(outputs_file).map_err(|error| unreadable(error.to_string()))?;
        let outputs: Value = serde_json::from_slice(&bytes).map_err(|error| unreadable(error.to_string()))?;
        let output = |name: &str| {
            outputs[name]["value"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| unreadable(format!("no output {name:?}; has the environment been deployed?")))
        };
        let queue_url = output("queue_url")?;
        let region = region_of_queue(&queue_url)
            .ok_or_else(|| unreadable(format!("{queue_url:?} is not an SQS queue URL")))?;
        let sdk = sdk_config::loader()
            .region(Region::new(region.clone()))
            .load()
            .await;
        let log_groups = outputs["log_group_names"]["value"]
            .as_array()
            .map(|groups| groups.iter().filter_map(Value::as_str).map(str::to_owned).collect::<Vec<_>>())
            .filter(|groups| groups.len() >= 2)
            .ok_or_else(|| unreadable("no output \"log_group_names\" (the API's and the worker's); has the environment been deployed with this version?".to_owned()))?;
        Ok(Self {
            location: Location::Aws {
                environment: environment.to_owned(),
            },
            traces: TraceSource::new(&sdk),
            sdk,
            region,
            table: output("table_name")?,
            dlq_url: output("dlq_url")?,
            queue_url,
            log_groups,
            notifier_failures_url: outputs["notifier_failures_url"]["value"]
                .as_str()
                .map(str::to_owned),
        })
    }

    /// An SQS client.
    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk)
    }

    /// A DynamoDB client.
    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk)
    }

    /// A CloudWatch Logs client.
    pub fn logs(&self) -> aws_sdk_cloudwatchlogs::Client {
        aws_sdk_cloudwatchlogs::Client::new(&self.sdk)
    }

    /// `local`, or the environment's name.
    pub fn name(&self) -> &str {
        match &self.location {
            Location::Local => "local",
            Location::Aws { environment } => environment,
        }
    }
}

/// `eu-west-1` from `https://sqs.eu-west-1.amazonaws.com/123456789012/name`.
pub fn region_of_queue(queue_url: &str) -> Option<String> {
    let host = queue_url.strip_prefix("https://")?.split('/').next()?;
    let mut labels = host.split('.');
    match (labels.next(), labels.next()) {
        (Some("sqs"), Some(region)) if !region.is_empty() => Some(region.to_owned()),
        _ => None,
    }
}

/// The queue's name: the last segment of its URL.
pub fn queue_name(queue_url: &str) -> &str {
    queue_url.rsplit('/').next().unwrap_or(queue_url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_region_comes_from_the_queue_url() {
        assert_eq!(
            region_of_queue("https://sqs.eu-west-1.amazonaws.com/123456789012/webhooks-dev-events")
                .as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(region_of_queue("http://127.0.0.1:5000/123456789012/q"), None);
        assert_eq!(
            queue_name("https://sqs.eu-west-1.amazonaws.com/1/webhooks-dev-events-dlq"),
            "webhooks-dev-events-dlq"
        );
    }
}
