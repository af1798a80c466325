//! What the pipeline module refuses at plan time, evaluated from its HCL: the settings AWS would
//! reject half-way through an apply, and the settings the worker would refuse at every cold
//! start. Each check is shown to catch a broken copy.

// Integration tests: a failed expectation is a failed test, not a crash on input.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::Path;

use crate::broken_copy::{BrokenCopy, assert_caught, terraform_dir};
use checks::terraform::rules;
use hcl::eval::{Context, Evaluate};
use hcl::{Expression, Map, Value};
use terraform_config::pipeline::PipelineSettings;
use terraform_config::{Module, attribute};
use webhook_worker::config::WorkerConfig;

fn pipeline(terraform: &Path) -> Module {
    Module::load(terraform.join("modules/pipeline")).unwrap()
}

fn values(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

/// The error messages of every validation that fails for these settings.
fn refused(module: &Module, settings: &[(&str, Value)]) -> Vec<String> {
    let values = values(settings);
    let mut messages = Vec::new();
    for name in values.keys() {
        messages.extend(module.failed_validations(name, &values).unwrap());
    }
    // A cross-variable rule sits on one variable but reads the others.
    for name in ["batch_size", "batching_window_seconds"] {
        if !values.contains_key(name) {
            messages.extend(module.failed_validations(name, &values).unwrap());
        }
    }
    messages
}

#[test]
fn the_defaults_pass_every_validation() {
    let module = pipeline(&terraform_dir());
    let mut defaults = module.variable_defaults().unwrap();
    defaults.insert("environment".to_owned(), Value::from("dev"));
    // Required while the notifier is on, as the zip paths of the other two are.
    defaults.insert(
        "notifier_zip_path".to_owned(),
        Value::from("dist/webhook-notifier/bootstrap.zip"),
    );
    defaults.insert(
        "notification_sender".to_owned(),
        Value::from("billing@example.com"),
    );
    for name in module.variables().keys() {
        // Validations with functions hcl-rs does not evaluate (regex, can) are terraform's job.
        if let Ok(failed) = module.failed_validations(name, &defaults) {
            assert!(failed.is_empty(), "{name}: {failed:?}");
        }
    }
}

#[test]
fn the_notifier_needs_its_artifact_and_sender_unless_it_is_off() {
    let module = pipeline(&terraform_dir());
    let notifier = |enabled: bool, zip: Option<&str>, sender: Option<&str>| {
        let values = values(&[
            ("notifier_enabled", Value::from(enabled)),
            ("notifier_zip_path", zip.map_or(Value::Null, Value::from)),
            ("notification_sender", sender.map_or(Value::Null, Value::from)),
        ]);
        let mut messages = module.failed_validations("notifier_zip_path", &values).unwrap();
        // The sender's first rule uses regex, which terraform evaluates; the cross-variable one
        // is the second.
        messages.extend(
            module
                .failed_validations("notification_sender", &values)
                .unwrap_or_else(|_| Vec::new()),
        );
        messages
    };
    assert!(notifier(false, None, None).is_empty());
    assert_eq!(
        notifier(true, None, Some("billing@example.com")),
        ["notifier_enabled needs notifier_zip_path; or set notifier_enabled = false."]
    );
}

#[test]
fn fifo_batches_are_what_aws_accepts() {
    let module = pipeline(&terraform_dir());
    let fifo = |batch: i64, window: i64| {
        refused(
            &module,
            &[
                ("fifo", Value::from(true)),
                ("batch_size", Value::from(batch)),
                ("batching_window_seconds", Value::from(window)),
            ],
        )
    };
    assert!(fifo(10, 0).is_empty(), "{:?}", fifo(10, 0));
    assert!(
        fifo(11, 0)
            .iter()
            .any(|m| m.contains("FIFO queue's event source mapping takes at most 10"))
    );
    assert!(
        fifo(10, 5)
            .iter()
            .any(|m| m.contains("does not accept a batching window"))
    );
}

#[test]
fn large_standard_batches_need_a_batching_window() {
    let module = pipeline(&terraform_dir());
    let standard = |batch: i64, window: i64| {
        refused(
            &module,
            &[
                ("batch_size", Value::from(batch)),
                ("batching_window_seconds", Value::from(window)),
            ],
        )
    };
    assert!(standard(100, 1).is_empty());
    assert!(standard(10, 0).is_empty());
    assert!(
        standard(11, 0)
            .iter()
            .any(|m| m.contains("needs a batching window of at least 1 second"))
    );
    assert!(standard(10001, 5).iter().any(|m| m.contains("1 to 10000")));
}

#[test]
fn a_fifo_mapping_is_given_no_batching_window() {
    let module = pipeline(&terraform_dir());
    let mapping = module.resources("aws_lambda_event_source_mapping")["worker"];
    let window = attribute(mapping.body(), "maximum_batching_window_in_seconds").unwrap();
    let evaluate = |fifo: bool| {
        let mut context = Context::new();
        context.declare_var(
            "var",
            Value::Object(values(&[
                ("fifo", Value::from(fifo)),
                ("batching_window_seconds", Value::from(5)),
            ])),
        );
        window.evaluate(&context).unwrap()
    };
    assert_eq!(evaluate(true), Value::Null);
    assert_eq!(evaluate(false), Value::from(5));
}

#[test]
fn the_redrive_count_follows_aws_guidance_for_lambda() {
    let module = pipeline(&terraform_dir());
    assert!(
        refused(&module, &[("max_receive_count", Value::from(3))])
            .iter()
            .any(|m| m.contains("5 to 1000"))
    );
    assert!(refused(&module, &[("max_receive_count", Value::from(5))]).is_empty());
}

/// Values to try for a setting the worker reads.
fn sweep(kind: &Expression) -> Vec<Value> {
    match kind.to_string().as_str() {
        "number" => [-1i64, 0, 1, 2, 5, 10, 999, 1000, 1001, 3650, 3651, 10000]
            .into_iter()
            .map(Value::from)
            .collect(),
        _ => ["parent", "link", "child", "Parent"]
            .into_iter()
            .map(Value::from)
            .collect(),
    }
}

/// Every `WEBHOOK_*` setting the pipeline gives the worker from a variable: the values Terraform
/// accepts are exactly the values the worker starts with. A value Terraform accepts and the
/// worker refuses is a crash loop at every cold start.
fn worker_settings_disagreements(terraform: &Path) -> Vec<String> {
    let module = pipeline(terraform);
    let worker = &module.module_calls()["worker"];
    let Some(Expression::Object(environment)) = attribute(worker.body(), "environment") else {
        panic!("module.worker has no environment object");
    };
    let variables = module.variables();
    let mut disagreements = Vec::new();
    for (key, expression) in environment.iter() {
        let setting = key.to_string().trim_matches('"').to_owned();
        let text = expression.to_string();
        let Some(variable) = text.split("var.").nth(1).map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<String>()
        }) else {
            continue;
        };
        let kind = attribute(variables[variable.as_str()].body(), "type").unwrap();
        for value in sweep(kind) {
            let terraform_accepts = module
                .failed_validations(&variable, &values(&[(variable.as_str(), value.clone())]))
                .unwrap()
                .is_empty();
            let shown = match &value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            let worker_accepts = WorkerConfig::from_lookup(|name| match name {
                "WEBHOOK_TABLE_NAME" => Some("table".to_owned()),
                name if name == setting => Some(shown.clone()),
                _ => None,
            })
            .is_ok();
            if terraform_accepts != worker_accepts {
                disagreements.push(format!(
                    "{setting} = var.{variable} = {shown}: Terraform {}, the worker {}",
                    if terraform_accepts { "accepts" } else { "refuses" },
                    if worker_accepts {
                        "starts"
                    } else {
                        "refuses to start"
                    }
                ));
            }
        }
    }
    disagreements
}

#[test]
fn terraform_accepts_exactly_the_worker_settings_the_worker_starts_with() {
    let disagreements = worker_settings_disagreements(&terraform_dir());
    assert!(disagreements.is_empty(), "{disagreements:#?}");
}

#[test]
fn concurrency_tied_to_the_batch_size_is_caught() {
    // The configuration as it was: the worker's concurrency was the batch size (up to 10000).
    let copy = BrokenCopy::new("concurrency").edit(
        "modules/pipeline/main.tf",
        "WEBHOOK_MAX_CONCURRENCY = tostring(var.worker_max_concurrency)",
        "WEBHOOK_MAX_CONCURRENCY = tostring(var.batch_size)",
    );
    let disagreements = worker_settings_disagreements(&copy.dir);
    assert!(
        disagreements
            .iter()
            .any(|d| d.contains("WEBHOOK_MAX_CONCURRENCY = var.batch_size = 1001")),
        "{disagreements:#?}"
    );
}

#[test]
fn each_environment_reads_the_signing_secret_bootstrap_creates_for_it() {
    let bootstrap = Module::load(terraform_dir().join("bootstrap")).unwrap();
    let secret = bootstrap.resources("aws_secretsmanager_secret")["signing"];
    let name = attribute(secret.body(), "name").unwrap();
    let mut variables = bootstrap.variable_defaults().unwrap();
    variables.insert("region".to_owned(), Value::from("eu-west-1"));
    for environment in ["dev", "prod"] {
        let mut context = terraform_config::terraform_functions();
        context.declare_var("var", Value::Object(variables.clone()));
        let mut each = Map::new();
        each.insert("key".to_owned(), Value::from(environment));
        context.declare_var("each", Value::Object(each));
        let created = name.evaluate(&context).unwrap();
        let read = PipelineSettings::load(&terraform_dir(), environment)
            .unwrap()
            .names
            .secret;
        assert_eq!(
            created,
            Value::from(read),
            "{environment}: the name bootstrap creates is the one the pipeline reads"
        );
    }
    let pipeline = pipeline(&terraform_dir());
    assert!(
        pipeline.resources("aws_secretsmanager_secret").is_empty(),
        "no environment creates it"
    );
    assert!(
        pipeline
            .blocks_of("data")
            .any(|block| block.labels().first().map(|label| label.as_str())
                == Some("aws_secretsmanager_secret"))
    );
    let mut bad = bootstrap.variable_defaults().unwrap();
    bad.insert("signing_secret_recovery_window_days".to_owned(), Value::from(3));
    assert!(
        bootstrap
            .failed_validations("signing_secret_recovery_window_days", &bad)
            .unwrap()
            .iter()
            .any(|m| m.contains("0 (delete at once) or 7 to 30"))
    );
}

#[test]
fn a_version_floor_below_the_features_used_is_caught() {
    let copy = BrokenCopy::new("version-floor").edit(
        "environments/dev/versions.tf",
        "required_version = \">= 1.10.0\"",
        "required_version = \">= 1.9.0\"",
    );
    assert_caught(
        rules::terraform_version_floor(&copy.tree()),
        "terraform-version-floor",
        "use_lockfile needs Terraform >= 1.10.0",
    );
    let module = BrokenCopy::new("version-floor-module").edit(
        "modules/pipeline/versions.tf",
        "required_version = \">= 1.9.0\"",
        "required_version = \">= 1.5.0\"",
    );
    assert_caught(
        rules::terraform_version_floor(&module.tree()),
        "terraform-version-floor",
        "a validation that refers to another variable needs Terraform >= 1.9.0",
    );
}
