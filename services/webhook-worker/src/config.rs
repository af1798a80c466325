//! The worker's settings, read once at cold start; every missing or invalid one is reported at
//! once, by variable name.

use std::time::Duration;

use env_settings::{ConfigError, EnvSettings};
use shared_telemetry::TraceMode;

use crate::batch::WorkerSettings;

const COMPONENT: &str = "webhook-worker";

/// The DynamoDB table events are recorded in (required).
pub const TABLE_NAME: &str = "WEBHOOK_TABLE_NAME";
/// How many messages of a batch are processed at once.
pub const MAX_CONCURRENCY: &str = "WEBHOOK_MAX_CONCURRENCY";
/// How long an event record is kept before DynamoDB's TTL removes it.
pub const RECORD_TTL_DAYS: &str = "WEBHOOK_RECORD_TTL_DAYS";
/// How long before the invocation's deadline no new message is started.
pub const DEADLINE_MARGIN_MS: &str = "WEBHOOK_DEADLINE_MARGIN_MS";
/// The CloudWatch namespace of the batch metrics.
pub const METRICS_NAMESPACE: &str = "WEBHOOK_METRICS_NAMESPACE";

#[derive(Debug, Clone)]
/// The worker's configuration, read from its environment at cold start.
pub struct WorkerConfig {
    /// `WEBHOOK_TABLE_NAME`.
    pub table_name: String,
    /// Everything else the batch loop needs.
    pub settings: WorkerSettings,
    /// The CloudWatch namespace of the worker's own metrics; none: no metric lines.
    pub metrics_namespace: Option<String>,
}

impl WorkerConfig {
    /// Reads the process environment; every invalid variable is reported at once.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the variables through `lookup`, so tests need no process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut env = EnvSettings::new(COMPONENT, lookup);
        let mut settings = WorkerSettings::default();

        let table_name = env.required(TABLE_NAME, "set it to the name of the webhook table");
        let trace_mode = TraceMode::from_lookup(env.lookup());
        if let Some(mode) = env.take(trace_mode) {
            settings.trace_mode = mode;
        }
        if let Some(count) = env.number(MAX_CONCURRENCY, 1..=1000, "a number from 1 to 1000") {
            settings.max_concurrency = count;
        }
        if let Some(days) = env.number(RECORD_TTL_DAYS, 1..=3650_u64, "a number of days from 1 to 3650") {
            settings.record_ttl = Duration::from_secs(days * 24 * 3600);
        }
        if let Some(millis) = env.number(DEADLINE_MARGIN_MS, .., "a number of milliseconds") {
            settings.deadline_margin = Duration::from_millis(millis);
        }
        let metrics_namespace = env.get(METRICS_NAMESPACE);

        let config = table_name.map(|table_name| WorkerConfig {
            table_name,
            settings,
            metrics_namespace,
        });
        env.finish(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use env_settings::ConfigProblem;

    fn config(vars: &[(&str, &str)]) -> Result<WorkerConfig, ConfigError> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        WorkerConfig::from_lookup(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn the_table_is_required_and_the_rest_has_defaults() {
        let config = config(&[(TABLE_NAME, "webhooks")]).expect("valid");
        assert_eq!(config.table_name, "webhooks");
        assert_eq!(config.settings, WorkerSettings::default());
        assert!(config_error(&[]).contains("WEBHOOK_TABLE_NAME is not set"));
    }

    #[test]
    fn every_bad_value_is_reported_at_once() {
        let error = config(&[
            (TABLE_NAME, "t"),
            ("WEBHOOK_TRACE_MODE", "child"),
            (MAX_CONCURRENCY, "0"),
            (RECORD_TTL_DAYS, "forever"),
            (DEADLINE_MARGIN_MS, "-1"),
        ])
        .expect_err("invalid");
        let variables: Vec<&str> = error.problems.iter().map(ConfigProblem::variable).collect();
        assert_eq!(
            variables,
            [
                "WEBHOOK_TRACE_MODE",
                MAX_CONCURRENCY,
                RECORD_TTL_DAYS,
                DEADLINE_MARGIN_MS
            ],
            "{error}"
        );
        assert!(
            error
                .to_string()
                .starts_with("invalid webhook-worker configuration: ")
        );
        assert!(error.to_string().contains("WEBHOOK_TRACE_MODE=\"child\""));
    }

    #[test]
    fn link_mode_and_limits_are_read() {
        let config = config(&[
            (TABLE_NAME, "t"),
            ("WEBHOOK_TRACE_MODE", "link"),
            (MAX_CONCURRENCY, "4"),
        ])
        .expect("valid");
        assert_eq!(config.settings.trace_mode, TraceMode::Link);
        assert_eq!(config.settings.max_concurrency, 4);
    }

    fn config_error(vars: &[(&str, &str)]) -> String {
        config(vars).expect_err("invalid").to_string()
    }
}
