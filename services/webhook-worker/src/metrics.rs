//! The worker's own metrics in CloudWatch's embedded metric format (EMF): one JSON line per batch
//! on stdout, which CloudWatch Logs turns into metrics, so publishing costs no API call and no
//! time in the invocation. `FailedMessages` is what the partial batch response reported failed;
//! `BatchSize` what the batch held. Both have the dimension `FunctionName`.

use std::io::Write;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;

/// The metric names, as the dashboard reads them (terraform/modules/pipeline).
pub const FAILED_MESSAGES: &str = "FailedMessages";
/// The metric of messages per batch.
pub const BATCH_SIZE: &str = "BatchSize";
/// The dimension both metrics carry: the function's name.
pub const FUNCTION_NAME_DIMENSION: &str = "FunctionName";

/// One batch's figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMetrics {
    /// Messages in the batch.
    pub messages: usize,
    /// Messages reported failed (or never started).
    pub failed: usize,
}

/// Where a metric line goes: `namespace` and the function's name fixed at cold start.
pub struct MetricsPublisher {
    namespace: String,
    function_name: String,
    out: Mutex<Box<dyn Write + Send>>,
}

impl std::fmt::Debug for MetricsPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsPublisher")
            .field("namespace", &self.namespace)
            .field("function_name", &self.function_name)
            .finish_non_exhaustive()
    }
}

impl MetricsPublisher {
    /// Lines to stdout, where Lambda sends them to CloudWatch Logs.
    pub fn stdout(namespace: impl Into<String>, function_name: impl Into<String>) -> Self {
        Self::to_writer(namespace, function_name, Box::new(std::io::stdout()))
    }

    /// Lines to `out` (tests).
    pub fn to_writer(
        namespace: impl Into<String>,
        function_name: impl Into<String>,
        out: Box<dyn Write + Send>,
    ) -> Self {
        Self {
            namespace: namespace.into(),
            function_name: function_name.into(),
            out: Mutex::new(out),
        }
    }

    /// Writes one EMF line. A metric that cannot be written is not worth failing a batch for.
    pub fn publish(&self, batch: BatchMetrics) {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.as_millis())
            .unwrap_or_default();
        let line = emf_line(&self.namespace, &self.function_name, batch, now_ms);
        if let Ok(mut out) = self.out.lock() {
            let _ = writeln!(out, "{line}").and_then(|()| out.flush());
        }
    }
}

/// The EMF document for one batch, as one line.
pub fn emf_line(namespace: &str, function_name: &str, batch: BatchMetrics, timestamp_ms: u128) -> String {
    json!({
        "_aws": {
            "Timestamp": timestamp_ms as u64,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [[FUNCTION_NAME_DIMENSION]],
                "Metrics": [
                    {"Name": FAILED_MESSAGES, "Unit": "Count"},
                    {"Name": BATCH_SIZE, "Unit": "Count"},
                ],
            }],
        },
        FUNCTION_NAME_DIMENSION: function_name,
        FAILED_MESSAGES: batch.failed,
        BATCH_SIZE: batch.messages,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn a_batch_is_one_emf_line_with_both_metrics_under_the_function_dimension() {
        let line = emf_line(
            "Webhooks/dev",
            "webhooks-dev-webhook-worker",
            BatchMetrics {
                messages: 10,
                failed: 2,
            },
            1_767_225_600_000,
        );
        assert!(!line.contains('\n'));
        let document: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        let directive = &document["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Webhooks/dev");
        assert_eq!(directive["Dimensions"], json!([["FunctionName"]]));
        assert_eq!(directive["Metrics"][0]["Name"], "FailedMessages");
        assert_eq!(document["_aws"]["Timestamp"], 1_767_225_600_000u64);
        assert_eq!(document["FunctionName"], "webhooks-dev-webhook-worker");
        assert_eq!(document["FailedMessages"], 2);
        assert_eq!(document["BatchSize"], 10);
    }
}
