//! The notifier's settings, read once at cold start; every missing or invalid one is reported
//! at once, by variable name.

use std::time::Duration;

use env_settings::{ConfigError, EnvSettings};
use shared_telemetry::TraceMode;

use crate::batch::NotifierSettings;

const COMPONENT: &str = "webhook-notifier";

/// The DynamoDB table whose notification items it marks (required).
pub const TABLE_NAME: &str = "WEBHOOK_TABLE_NAME";
/// The verified SES identity every email is sent from (required).
pub const SENDER: &str = "NOTIFICATION_SENDER";
/// When set, every email goes to this address instead of the customer's (test environments).
pub const RECIPIENT_OVERRIDE: &str = "NOTIFICATION_RECIPIENT_OVERRIDE";
/// The SES configuration set to send through (optional).
pub const CONFIGURATION_SET: &str = "NOTIFICATION_CONFIGURATION_SET";
/// How long before the invocation's deadline no new record is started.
pub const DEADLINE_MARGIN_MS: &str = "WEBHOOK_DEADLINE_MARGIN_MS";

/// The notifier's configuration, read from its environment at cold start.
#[derive(Debug, Clone)]
pub struct NotifierConfig {
    /// `WEBHOOK_TABLE_NAME`.
    pub table_name: String,
    /// `NOTIFICATION_SENDER`.
    pub sender: String,
    /// `NOTIFICATION_CONFIGURATION_SET`.
    pub configuration_set: Option<String>,
    /// Everything else the batch loop needs.
    pub settings: NotifierSettings,
}

impl NotifierConfig {
    /// Reads the process environment; every invalid variable is reported at once.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the variables through `lookup`, so tests need no process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut env = EnvSettings::new(COMPONENT, lookup);
        let mut settings = NotifierSettings::default();
        let table_name = env.required(TABLE_NAME, "set it to the name of the webhook table");
        let sender = env.required(SENDER, "set it to the verified SES identity emails are sent from");
        let trace_mode = TraceMode::from_lookup(env.lookup());
        if let Some(mode) = env.take(trace_mode) {
            settings.trace_mode = mode;
        }
        settings.recipient_override = env.get(RECIPIENT_OVERRIDE).filter(|address| !address.is_empty());
        if let Some(millis) = env.number(DEADLINE_MARGIN_MS, .., "a number of milliseconds") {
            settings.deadline_margin = Duration::from_millis(millis);
        }
        let configuration_set = env.get(CONFIGURATION_SET).filter(|name| !name.is_empty());
        let config = match (table_name, sender) {
            (Some(table_name), Some(sender)) => Some(NotifierConfig {
                table_name,
                sender,
                configuration_set,
                settings,
            }),
            _ => None,
        };
        env.finish(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<NotifierConfig, ConfigError> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        NotifierConfig::from_lookup(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn the_table_and_the_sender_are_required() {
        let error = config(&[]).expect_err("invalid").to_string();
        assert!(error.contains("WEBHOOK_TABLE_NAME is not set"), "{error}");
        assert!(error.contains("NOTIFICATION_SENDER is not set"), "{error}");
        let config = config(&[(TABLE_NAME, "t"), (SENDER, "billing@example.com")]).expect("valid");
        assert_eq!(config.settings, NotifierSettings::default());
        assert_eq!(config.configuration_set, None);
    }

    #[test]
    fn a_test_inbox_and_link_mode_are_read() {
        let config = config(&[
            (TABLE_NAME, "t"),
            (SENDER, "billing@example.com"),
            (RECIPIENT_OVERRIDE, "inbox@example.com"),
            ("WEBHOOK_TRACE_MODE", "link"),
        ])
        .expect("valid");
        assert_eq!(
            config.settings.recipient_override.as_deref(),
            Some("inbox@example.com")
        );
        assert_eq!(config.settings.trace_mode, TraceMode::Link);
    }
}
