//! The Terraform rules on the repository's configuration, and each rule shown to catch a
//! deliberately broken copy (a test of the test).

// Integration tests: a failed expectation is a failed test, not a crash on input.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use crate::broken_copy::{BrokenCopy, assert_caught, terraform_dir};
use checks::terraform::rules::{self, Tree};

#[test]
fn the_repository_configuration_keeps_every_rule() {
    let violations = rules::check_all(&Tree::load(&terraform_dir()).unwrap());
    let listed: Vec<String> = violations.iter().map(ToString::to_string).collect();
    assert!(violations.is_empty(), "violations:\n{}", listed.join("\n"));
}

#[test]
fn a_mapping_without_report_batch_item_failures_is_caught() {
    let copy = BrokenCopy::new("esm").edit(
        "modules/pipeline/main.tf",
        "function_response_types            = [\"ReportBatchItemFailures\"]",
        "function_response_types            = []",
    );
    assert_caught(
        rules::event_source_mappings_report_item_failures(&copy.tree()),
        "event-source-mapping-reports-item-failures",
        "aws_lambda_event_source_mapping",
    );
}

#[test]
fn a_subscription_or_rule_target_without_a_dead_letter_queue_is_caught() {
    let copy = BrokenCopy::new("subscription-dlq").edit(
        "modules/pipeline/fan_out.tf",
        "  redrive_policy = jsonencode({ deadLetterTargetArn = aws_sqs_queue.undeliverable[0].arn })\n",
        "",
    );
    assert_caught(
        rules::queue_deliveries_keep_what_they_cannot_deliver(&copy.tree()),
        "queue-deliveries-have-a-dead-letter-queue",
        "aws_sns_topic_subscription",
    );
    let copy = BrokenCopy::new("target-dlq").edit(
        "modules/pipeline/fan_out.tf",
        "  dead_letter_config {\n    arn = aws_sqs_queue.undeliverable[0].arn\n  }\n",
        "",
    );
    assert_caught(
        rules::queue_deliveries_keep_what_they_cannot_deliver(&copy.tree()),
        "queue-deliveries-have-a-dead-letter-queue",
        "aws_cloudwatch_event_target",
    );
}

#[test]
fn a_topic_any_principal_of_the_account_may_publish_to_is_caught() {
    for (name, from, to) in [
        // No Deny at all.
        ("topic-no-deny", "effect    = \"Deny\"", "effect    = \"Allow\""),
        // A Deny that spares someone else.
        (
            "topic-other-principal",
            "      values   = [module.api.role_arn]",
            "      values   = [module.worker.role_arn]",
        ),
    ] {
        let copy = BrokenCopy::new(name).edit("modules/pipeline/fan_out.tf", from, to);
        assert_caught(
            rules::topic_publishers_are_only_those_named(&copy.tree()),
            "topic-publishers-are-only-those-named",
            "aws_iam_policy_document\" \"topic",
        );
    }
}

#[test]
fn a_module_call_with_an_undeclared_variable_is_caught() {
    let copy = BrokenCopy::new("undeclared").edit(
        "environments/dev/main.tf",
        "environment         = \"dev\"",
        "environment         = \"dev\"\n  batch_sise          = 10",
    );
    assert_caught(
        rules::module_calls_match_declared_variables(&copy.tree()),
        "module-calls-match-variables",
        "batch_sise",
    );
}

#[test]
fn a_module_call_missing_a_required_variable_is_caught() {
    let copy = BrokenCopy::new("required").edit(
        "modules/pipeline/main.tf",
        "  service_name             = \"webhook-worker\"\n",
        "",
    );
    assert_caught(
        rules::module_calls_match_declared_variables(&copy.tree()),
        "module-calls-match-variables",
        "misses `service_name`",
    );
}

#[test]
fn a_function_without_active_tracing_is_caught() {
    let copy = BrokenCopy::new("tracing").edit(
        "modules/function/main.tf",
        "mode = \"Active\"",
        "mode = \"PassThrough\"",
    );
    assert_caught(
        rules::functions_are_traced_and_instrumented(&copy.tree()),
        "functions-are-traced",
        "tracing_config",
    );
}

#[test]
fn a_function_without_the_adot_layer_is_caught() {
    let copy = BrokenCopy::new("layer").edit(
        "modules/function/main.tf",
        "layers                         = data.aws_lambda_layer_version.adot[*].arn",
        "layers                         = local.uses_collector ? [local.adot_layer_arn] : []",
    );
    assert_caught(
        rules::functions_are_traced_and_instrumented(&copy.tree()),
        "functions-are-traced",
        "ADOT",
    );
}

#[test]
fn a_role_without_the_application_signals_policy_is_caught() {
    let copy = BrokenCopy::new("appsignals").edit(
        "modules/function/main.tf",
        "policy/CloudWatchLambdaApplicationSignalsExecutionRolePolicy",
        "policy/ReadOnlyAccess",
    );
    assert_caught(
        rules::functions_are_traced_and_instrumented(&copy.tree()),
        "functions-are-traced",
        "CloudWatchLambdaApplicationSignalsExecutionRolePolicy",
    );
}

#[test]
fn wildcard_actions_and_resources_are_caught() {
    let action =
        BrokenCopy::new("action").edit("modules/pipeline/main.tf", "[\"sqs:SendMessage\"]", "[\"sqs:*\"]");
    assert_caught(
        rules::iam_statements_are_specific(&action.tree()),
        "iam-least-privilege",
        "sqs:*",
    );
    let resource = BrokenCopy::new("resource").edit(
        "modules/pipeline/main.tf",
        "resources = [module.table.table_arn]",
        "resources = [\"*\"]",
    );
    assert_caught(
        rules::iam_statements_are_specific(&resource.tree()),
        "iam-least-privilege",
        "\"*\"",
    );
}

#[test]
fn a_wildcard_resource_without_a_condition_is_caught() {
    // The deploy role's reads without resource types are `*` held to the region by a condition.
    let unconditioned = BrokenCopy::new("unconditioned").edit(
        "bootstrap/main.tf",
        "    resources = [\"*\"]\n\n    condition {\n      test     = \"StringEquals\"\n      variable = \"aws:RequestedRegion\"\n      values   = [var.region]\n    }\n",
        "    resources = [\"*\"]\n",
    );
    assert_caught(
        rules::iam_statements_are_specific(&unconditioned.tree()),
        "iam-least-privilege",
        "\"*\"",
    );
}

#[test]
fn breaking_the_visibility_timeout_rule_is_caught() {
    let low_default = BrokenCopy::new("visibility").edit(
        "modules/pipeline/variables.tf",
        "default     = 180",
        "default     = 100",
    );
    assert_caught(
        rules::visibility_timeout_outlasts_the_worker(&low_default.tree()),
        "visibility-timeout",
        "defaults break",
    );
    let no_precondition = BrokenCopy::new("precondition").edit(
        "modules/pipeline/main.tf",
        "condition     = var.queue_visibility_timeout_seconds >= 6 * var.worker_timeout_seconds",
        "condition     = true",
    );
    assert_caught(
        rules::visibility_timeout_outlasts_the_worker(&no_precondition.tree()),
        "visibility-timeout",
        "precondition",
    );
}

#[test]
fn a_stale_module_readme_is_caught() {
    let copy = BrokenCopy::new("readme").edit(
        "modules/table/variables.tf",
        "description = \"Table name.\"",
        "description = \"The table's name.\"",
    );
    assert_caught(
        rules::module_readmes_list_inputs_and_outputs(&copy.tree()),
        "module-readme",
        "make docs",
    );
}
