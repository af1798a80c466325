//! What an operator needs to see: the alarms the pipeline raises and where they go, log groups
//! that Terraform (not AWS) creates, and an event source mapping that never polls without its
//! permissions.

// Integration tests: a failed expectation is a failed test, not a crash on input.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::Path;

use crate::broken_copy::{BrokenCopy, terraform_dir};
use checks::terraform::rules::Tree;
use terraform_config::{attribute, string_attribute};

/// `metric_name` of every alarm in the modules, and whether each notifies `alarm_actions`.
fn alarms(terraform: &Path) -> Vec<(String, bool)> {
    let tree = Tree::load(terraform).unwrap();
    tree.modules()
        .flat_map(|(_, module)| {
            module
                .resources("aws_cloudwatch_metric_alarm")
                .into_values()
                .map(|block| {
                    let metric = string_attribute(block.body(), "metric_name")
                        .unwrap_or_default()
                        .to_owned();
                    let notifies = attribute(block.body(), "alarm_actions")
                        .is_some_and(|actions| actions.to_string().contains("alarm_actions"));
                    (metric, notifies)
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn the_alarms_an_operator_expects_exist_and_notify() {
    let alarms = alarms(&terraform_dir());
    let metrics: BTreeSet<&str> = alarms.iter().map(|(metric, _)| metric.as_str()).collect();
    for expected in [
        "5XXError",
        "Throttles",
        "ApproximateAgeOfOldestMessage",
        "ApproximateNumberOfMessagesVisible",
        "Errors",
    ] {
        assert!(metrics.contains(expected), "no alarm on {expected}: {metrics:?}");
    }
    assert!(alarms.iter().all(|(_, notifies)| *notifies), "{alarms:?}");
}

#[test]
fn a_removed_alarm_is_caught() {
    let copy = BrokenCopy::new("alarm").edit(
        "modules/rest-api/main.tf",
        "metric_name         = \"5XXError\"",
        "metric_name         = \"4XXError\"",
    );
    let metrics: BTreeSet<String> = alarms(&copy.dir).into_iter().map(|(metric, _)| metric).collect();
    assert!(!metrics.contains("5XXError"));
}

#[test]
fn prod_alarms_must_notify_someone() {
    let tree = Tree::load(&terraform_dir()).unwrap();
    let prod = tree.module(Path::new("environments/prod")).unwrap();
    let email = &prod.variables()["alarm_email"];
    let validation = email
        .body()
        .blocks()
        .find(|block| block.identifier() == "validation")
        .expect("prod's alarm_email has a validation");
    let condition = attribute(validation.body(), "condition").unwrap().to_string();
    assert!(
        condition.contains("var.alarm_email") && condition.contains("var.alarm_actions"),
        "{condition}"
    );
    let call = &prod.module_calls()["pipeline"];
    assert_eq!(
        attribute(call.body(), "alarm_email")
            .map(ToString::to_string)
            .as_deref(),
        Some("var.alarm_email")
    );
}

#[test]
fn terraform_creates_api_gateways_execution_log_group_before_logging_starts() {
    let tree = Tree::load(&terraform_dir()).unwrap();
    let api = tree.module(Path::new("modules/rest-api")).unwrap();
    let groups = api.resources("aws_cloudwatch_log_group");
    let execution = groups.values().find(|block| {
        attribute(block.body(), "name")
            .is_some_and(|name| name.to_string().contains("API-Gateway-Execution-Logs_"))
    });
    let execution = execution.expect("a log group named API-Gateway-Execution-Logs_<api id>/<stage>");
    assert!(attribute(execution.body(), "retention_in_days").is_some());
    let settings = api.resources("aws_api_gateway_method_settings");
    let depends = settings
        .values()
        .filter_map(|block| attribute(block.body(), "depends_on"))
        .map(ToString::to_string)
        .collect::<Vec<_>>();
    assert!(
        depends
            .iter()
            .any(|d| d.contains("aws_cloudwatch_log_group.execution")),
        "method settings (which turn logging on) must depend on the log group: {depends:?}"
    );
}

#[test]
fn the_event_source_mapping_waits_for_the_workers_permissions() {
    let tree = Tree::load(&terraform_dir()).unwrap();
    let pipeline = tree.module(Path::new("modules/pipeline")).unwrap();
    let mapping = &pipeline.resources("aws_lambda_event_source_mapping")["worker"];
    let depends = attribute(mapping.body(), "depends_on").map(ToString::to_string);
    assert!(depends.is_some_and(|d| d.contains("module.worker")));
}

/// The text of the pipeline's `local.dashboard_widgets`, and of the worker's environment.
fn dashboard_and_worker_environment(terraform: &Path) -> (String, String) {
    let tree = Tree::load(terraform).unwrap();
    let pipeline = tree.module(Path::new("modules/pipeline")).unwrap();
    assert_eq!(pipeline.resources("aws_cloudwatch_dashboard").len(), 1);
    let widgets = pipeline
        .blocks_of("locals")
        .flat_map(|block| block.body().attributes())
        .find(|attribute| attribute.key() == "dashboard_widgets")
        .map(|attribute| attribute.expr().to_string())
        .expect("local.dashboard_widgets");
    let worker = &pipeline.module_calls()["worker"];
    let environment = attribute(worker.body(), "environment").unwrap().to_string();
    (widgets, environment)
}

/// What the dashboard lacks of what an operator watches, and of what the worker publishes.
fn dashboard_gaps(terraform: &Path) -> Vec<String> {
    let (widgets, environment) = dashboard_and_worker_environment(terraform);
    let mut gaps = Vec::new();
    for metric in [
        "\"Count\"",
        "\"4XXError\"",
        "\"5XXError\"",
        "\"Latency\"",
        "\"ApproximateNumberOfMessagesVisible\"",
        "\"ApproximateAgeOfOldestMessage\"",
        "module.queue.dlq_name",
        "\"Invocations\"",
        "\"Errors\"",
        "\"Duration\"",
        "\"ConcurrentExecutions\"",
        "\"NumberOfNotificationsFailed\"",
        "aws_sqs_queue.undeliverable[*].name",
    ] {
        if !widgets.contains(metric) {
            gaps.push(format!("the dashboard lacks {metric}"));
        }
    }
    // The worker publishes under the namespace Terraform gives it, with the names it defines.
    for name in [
        webhook_worker::metrics::FAILED_MESSAGES,
        webhook_worker::metrics::BATCH_SIZE,
        webhook_worker::metrics::FUNCTION_NAME_DIMENSION,
    ] {
        if !widgets.contains(&format!("\"{name}\"")) {
            gaps.push(format!("the dashboard lacks the worker's {name}"));
        }
    }
    let wiring = format!(
        "{} = local.metrics_namespace",
        webhook_worker::config::METRICS_NAMESPACE
    );
    if !widgets.contains("local.metrics_namespace") || !environment.contains(&wiring) {
        gaps.push("the dashboard and the worker do not share local.metrics_namespace".to_owned());
    }
    gaps
}

#[test]
fn the_dashboard_shows_the_api_the_queues_the_worker_and_the_workers_own_metric() {
    let gaps = dashboard_gaps(&terraform_dir());
    assert!(gaps.is_empty(), "{gaps:#?}");
}

#[test]
fn a_dashboard_reading_another_namespace_than_the_worker_writes_is_caught() {
    let copy = BrokenCopy::new("dashboard-namespace").edit(
        "modules/pipeline/main.tf",
        "WEBHOOK_METRICS_NAMESPACE = local.metrics_namespace",
        "WEBHOOK_METRICS_NAMESPACE = \"Webhooks\"",
    );
    let gaps = dashboard_gaps(&copy.dir);
    assert_eq!(
        gaps,
        ["the dashboard and the worker do not share local.metrics_namespace"]
    );
    let copy = BrokenCopy::new("dashboard-dlq").edit(
        "modules/pipeline/dashboard.tf",
        "module.queue.dlq_name, { label = \"DLQ depth\" }",
        "module.queue.queue_name, { label = \"DLQ depth\" }",
    );
    assert_eq!(
        dashboard_gaps(&copy.dir),
        ["the dashboard lacks module.queue.dlq_name"]
    );
}
