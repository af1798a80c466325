//! The pipeline settings as read from the repository's Terraform.

// Integration tests: a failed expectation is a failed test, not a crash on input.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::PathBuf;

use terraform_config::pipeline::{FanOut, PipelineSettings, telemetry_environment};

fn terraform_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../terraform")
}

#[test]
fn names_and_settings_come_from_the_pipeline_module() {
    let settings = PipelineSettings::load(&terraform_dir(), "local").expect("readable");
    assert_eq!(settings.names.queue, "webhooks-local-events");
    assert_eq!(settings.names.dlq, "webhooks-local-events-dlq");
    assert_eq!(settings.names.table, "webhooks-local-events");
    assert_eq!(settings.names.secret, "webhooks-local/stripe-webhook-secret");
    assert_eq!(settings.names.api_function, "webhooks-local-webhook-api");
    assert_eq!(settings.names.worker_function, "webhooks-local-webhook-worker");
    assert_eq!(settings.batch_size, 10);
    assert_eq!(settings.batching_window_seconds, 5);
    assert_eq!(settings.max_receive_count, 5);
    assert_eq!(settings.queue_visibility_timeout_seconds, 180);
    assert!(!settings.fifo);
    assert_eq!(settings.fan_out, FanOut::None);
    assert_eq!(settings.names.topic, "webhooks-local-events");
    assert_eq!(settings.names.undeliverable_queue, "webhooks-local-undeliverable");
    assert_eq!(settings.trace_mode, "parent");
    assert_eq!(settings.telemetry_transport, "xray-udp");
    assert_eq!(settings.table.partition_key, "pk");
    assert_eq!(settings.table.sort_key, "sk");
    assert_eq!(settings.table.ttl_attribute, "expires_at");
}

#[test]
fn a_fifo_pipeline_is_read_as_the_module_evaluates_it() {
    let variables = serde_json::json!({ "fifo": true, "batching_window_seconds": 0 });
    let settings = PipelineSettings::load_with(
        &terraform_dir(),
        "local",
        variables.as_object().cloned().unwrap_or_default(),
    )
    .expect("readable");
    assert!(settings.fifo);
    assert_eq!(settings.batching_window_seconds, 0);
    assert_eq!(settings.names.queue, "webhooks-local-events.fifo");
    assert_eq!(settings.names.dlq, "webhooks-local-events-dlq.fifo");
    assert_eq!(settings.names.topic, "webhooks-local-events.fifo");
}

#[test]
fn the_environment_names_every_resource() {
    let dev = PipelineSettings::load(&terraform_dir(), "dev").expect("readable");
    assert_eq!(dev.names.queue, "webhooks-dev-events");
}

#[test]
fn the_table_schema_is_the_workers_contract() {
    use event_table::{PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE};
    let table = PipelineSettings::load(&terraform_dir(), "dev")
        .expect("readable")
        .table;
    assert_eq!(
        (
            table.partition_key.as_str(),
            table.sort_key.as_str(),
            table.ttl_attribute.as_str()
        ),
        (PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE)
    );
}

#[test]
fn each_transport_has_the_telemetry_environment_the_function_module_sets() {
    let collector =
        telemetry_environment(&terraform_dir(), "adot-collector", "webhook-api").expect("readable");
    assert_eq!(collector["OTEL_SERVICE_NAME"], "webhook-api");
    assert_eq!(collector["OTEL_EXPORTER_OTLP_ENDPOINT"], "http://localhost:4318");
    assert!(!collector.contains_key("OTEL_AWS_APPLICATION_SIGNALS_ENABLED"));

    let udp = telemetry_environment(&terraform_dir(), "xray-udp", "webhook-worker").expect("readable");
    assert_eq!(udp["OTEL_SERVICE_NAME"], "webhook-worker");
    assert_eq!(udp["OTEL_AWS_APPLICATION_SIGNALS_ENABLED"], "true");
    assert_eq!(udp["OTEL_PROPAGATORS"], "xray");
    assert!(!udp.contains_key("OTEL_EXPORTER_OTLP_ENDPOINT"));
}

#[test]
fn the_notifier_hop_is_read_with_its_filter_or_left_out() {
    let variables = serde_json::json!({ "notification_sender": "billing@example.com" });
    let settings = PipelineSettings::load_with(
        &terraform_dir(),
        "local",
        variables.as_object().cloned().unwrap_or_default(),
    )
    .expect("readable");
    let notifier = settings.notifier.expect("on by default");
    assert_eq!(notifier.function, "webhooks-local-webhook-notifier");
    assert_eq!(notifier.failures_queue, "webhooks-local-notifier-failures");
    assert_eq!(notifier.sender.as_deref(), Some("billing@example.com"));
    assert_eq!(notifier.recipient_override, None);
    assert_eq!((notifier.batch_size, notifier.maximum_retry_attempts), (10, 5));
    assert_eq!(notifier.maximum_record_age_seconds, 3600);
    assert_eq!(
        notifier.filter_pattern,
        serde_json::json!({
            "eventName": ["INSERT"],
            "dynamodb": {"NewImage": {
                "pk": {"S": [{"prefix": "NOTIFICATION#"}]},
                "status": {"S": ["pending"]},
            }}
        })
    );
    let off = serde_json::json!({ "notifier_enabled": false });
    let settings = PipelineSettings::load_with(
        &terraform_dir(),
        "local",
        off.as_object().cloned().unwrap_or_default(),
    )
    .expect("readable");
    assert!(settings.notifier.is_none());
}
