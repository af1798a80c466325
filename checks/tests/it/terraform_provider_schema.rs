//! Every `.tf` file against hashicorp/aws's schema (offline, from the pinned jsii manifest), and
//! the validation shown to catch each kind of mistake on a deliberately broken copy.

// Integration tests: a failed expectation is a failed test, not a crash on input.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::OnceLock;

use crate::broken_copy::{BrokenCopy, assert_caught, terraform_dir};
use checks::terraform::check_data;
use checks::terraform::rules::Tree;
use checks::terraform::schema::{self, ProviderSchema};

const RULE: &str = "provider-schema";

/// Loaded once per test binary: the manifest is 130 MB.
fn provider_schema() -> &'static ProviderSchema {
    static SCHEMA: OnceLock<ProviderSchema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let path = check_data::provider_schema(&check_data::directory(&workspace));
        assert!(path.exists(), "{}", check_data::missing(&path));
        ProviderSchema::load(&path).expect("the pinned provider schema loads")
    })
}

fn violations_of(copy: &BrokenCopy) -> Vec<checks::Violation> {
    schema::check(&copy.tree(), provider_schema())
}

#[test]
fn every_tf_file_matches_the_provider_schema() {
    let violations = schema::check(&Tree::load(&terraform_dir()).unwrap(), provider_schema());
    let listed: Vec<String> = violations.iter().map(ToString::to_string).collect();
    assert!(violations.is_empty(), "violations:\n{}", listed.join("\n"));
}

#[test]
fn the_schema_is_the_provider_version_the_configuration_asks_for() {
    assert_eq!(provider_schema().version, "6.25.0");
    let copy = BrokenCopy::new("schema-version").edit(
        "modules/table/versions.tf",
        "version = \">= 6.0, < 7.0\"",
        "version = \">= 7.0\"",
    );
    assert_caught(violations_of(&copy), RULE, "does not admit");
}

#[test]
fn an_unknown_resource_type_is_caught() {
    let copy = BrokenCopy::new("schema-type").edit(
        "modules/table/main.tf",
        "resource \"aws_dynamodb_table\" \"this\"",
        "resource \"aws_dynamodb_tabel\" \"this\"",
    );
    assert_caught(
        violations_of(&copy),
        RULE,
        "no resource type `aws_dynamodb_tabel`",
    );
}

#[test]
fn an_unknown_argument_is_caught() {
    let copy = BrokenCopy::new("schema-argument").edit(
        "modules/pipeline/main.tf",
        "  function_response_types            = [\"ReportBatchItemFailures\"]",
        "  function_response_type             = [\"ReportBatchItemFailures\"]",
    );
    assert_caught(violations_of(&copy), RULE, "argument `function_response_type`");
}

#[test]
fn an_unknown_nested_block_and_argument_inside_one_are_caught() {
    let block = BrokenCopy::new("schema-block").edit(
        "modules/function/main.tf",
        "  tracing_config {\n    mode = \"Active\"\n  }",
        "  tracing {\n    mode = \"Active\"\n  }",
    );
    assert_caught(violations_of(&block), RULE, "block `tracing`");
    let inner = BrokenCopy::new("schema-inner").edit(
        "modules/function/main.tf",
        "  tracing_config {\n    mode = \"Active\"\n  }",
        "  tracing_config {\n    mode    = \"Active\"\n    sampled = true\n  }",
    );
    assert_caught(violations_of(&inner), RULE, "argument `sampled`");
}

#[test]
fn a_wrong_argument_inside_dynamic_content_is_caught() {
    let copy = BrokenCopy::new("schema-dynamic").edit(
        "modules/pipeline/main.tf",
        "      maximum_concurrency = scaling_config.value",
        "      maximum_concurency = scaling_config.value",
    );
    assert_caught(violations_of(&copy), RULE, "argument `maximum_concurency`");
}

#[test]
fn a_missing_required_argument_is_caught() {
    let copy = BrokenCopy::new("schema-required").edit(
        "modules/rest-api/main.tf",
        "  authorization = \"NONE\"\n",
        "",
    );
    assert_caught(violations_of(&copy), RULE, "required argument `authorization`");
}

#[test]
fn references_to_what_does_not_exist_are_caught() {
    let variable = BrokenCopy::new("schema-var").edit(
        "modules/queue/main.tf",
        "maxReceiveCount     = var.max_receive_count",
        "maxReceiveCount     = var.max_receives",
    );
    assert_caught(
        violations_of(&variable),
        RULE,
        "var.max_receives is not a declared variable",
    );
    let local = BrokenCopy::new("schema-local").edit(
        "modules/queue/main.tf",
        "name                      = \"${var.name}-dlq${local.fifo_suffix}\"",
        "name                      = \"${var.name}-dlq${local.suffix}\"",
    );
    assert_caught(violations_of(&local), RULE, "local.suffix is not defined");
    let output = BrokenCopy::new("schema-output").edit(
        "modules/pipeline/main.tf",
        "event_source_arn                   = module.queue.queue_arn",
        "event_source_arn                   = module.queue.arn",
    );
    assert_caught(violations_of(&output), RULE, "module.queue has no output `arn`");
    let attribute = BrokenCopy::new("schema-attribute").edit(
        "modules/queue/outputs.tf",
        "value       = aws_sqs_queue.this.url",
        "value       = aws_sqs_queue.this.queue_url",
    );
    assert_caught(
        violations_of(&attribute),
        RULE,
        "resource aws_sqs_queue has no attribute `queue_url`",
    );
    let data = BrokenCopy::new("schema-data").edit(
        "modules/pipeline/main.tf",
        "data.aws_caller_identity.current.account_id",
        "data.aws_caller_identity.current.account",
    );
    assert_caught(
        violations_of(&data),
        RULE,
        "data source aws_caller_identity has no attribute `account`",
    );
}

/// The provider build every root installs is the one whose schema is checked here.
#[test]
fn every_root_locks_the_checked_provider_version() {
    for root in ["environments/dev", "environments/prod", "bootstrap"] {
        let path = terraform_dir().join(root).join(".terraform.lock.hcl");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("{} is not committed", path.display()));
        let body = hcl::parse(&text).unwrap();
        let aws = body
            .blocks()
            .find(|block| {
                block.identifier() == "provider"
                    && block.labels().first().map(|label| label.as_str())
                        == Some("registry.terraform.io/hashicorp/aws")
            })
            .unwrap_or_else(|| panic!("{root}'s lock file has no hashicorp/aws"));
        let version = terraform_config::string_attribute(aws.body(), "version");
        assert_eq!(version, Some(provider_schema().version.as_str()), "{root}");
    }
}
