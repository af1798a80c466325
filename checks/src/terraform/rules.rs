//! The project's Terraform rules, checked on the HCL itself (no provider needed): each rule
//! returns its violations, so a test can show it passes on the repository and fails on a
//! deliberately broken copy.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hcl::{Block, Expression};

use terraform_config::{Module, TerraformError, attribute, label, nested_blocks, string_attribute};

use crate::Violation;

/// Every module and root of a Terraform tree, by directory relative to the tree.
#[derive(Debug, Clone)]
pub struct Tree {
    root: PathBuf,
    modules: BTreeMap<PathBuf, Module>,
}

impl Tree {
    /// Loads every directory under `terraform_dir` that holds `.tf` files.
    pub fn load(terraform_dir: &Path) -> Result<Self, TerraformError> {
        let mut modules = BTreeMap::new();
        let mut pending = vec![terraform_dir.to_path_buf()];
        while let Some(dir) = pending.pop() {
            let entries = std::fs::read_dir(&dir).map_err(|source| TerraformError::Read {
                path: dir.clone(),
                source,
            })?;
            let mut has_tf = false;
            for entry in entries.filter_map(Result::ok) {
                let path = entry.path();
                let name = entry.file_name();
                if path.is_dir() && !name.to_string_lossy().starts_with('.') {
                    pending.push(path);
                } else if path.extension().is_some_and(|ext| ext == "tf") {
                    has_tf = true;
                }
            }
            if has_tf {
                let relative = dir.strip_prefix(terraform_dir).unwrap_or(&dir).to_path_buf();
                modules.insert(relative, Module::load(&dir)?);
            }
        }
        Ok(Self {
            root: terraform_dir.to_path_buf(),
            modules,
        })
    }

    /// Every module and root, by directory relative to the tree.
    pub fn modules(&self) -> impl Iterator<Item = (&PathBuf, &Module)> {
        self.modules.iter()
    }

    /// The module at `dir` (relative to the tree).
    pub fn module(&self, dir: &Path) -> Option<&Module> {
        self.modules.get(dir)
    }

    /// The module a `source = "../x"` of the module at `caller` points to.
    pub fn resolve(&self, caller: &Path, source: &str) -> Option<&Module> {
        self.resolve_dir(caller, source).map(|(_, module)| module)
    }

    /// The directory (relative to the tree) and module that `source` of `caller` points to.
    pub fn resolve_dir(&self, caller: &Path, source: &str) -> Option<(&PathBuf, &Module)> {
        let mut path = caller.to_path_buf();
        for part in Path::new(source).components() {
            match part {
                std::path::Component::ParentDir => {
                    path.pop();
                }
                std::path::Component::Normal(name) => path.push(name),
                _ => {}
            }
        }
        self.modules.get_key_value(&path)
    }

    /// The tree's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

fn location(module: &Path, block: &Block) -> String {
    let labels: Vec<&str> = block.labels().iter().map(|label| label.as_str()).collect();
    format!(
        "{}: {} \"{}\"",
        module.display(),
        block.identifier(),
        labels.join("\" \"")
    )
}

fn text(expression: &Expression) -> String {
    expression.to_string()
}

/// Every rule.
pub fn check_all(tree: &Tree) -> Vec<Violation> {
    let mut violations = Vec::new();
    violations.extend(event_source_mappings_report_item_failures(tree));
    violations.extend(queue_deliveries_keep_what_they_cannot_deliver(tree));
    violations.extend(topic_publishers_are_only_those_named(tree));
    violations.extend(module_calls_match_declared_variables(tree));
    violations.extend(functions_are_traced_and_instrumented(tree));
    violations.extend(iam_statements_are_specific(tree));
    violations.extend(visibility_timeout_outlasts_the_worker(tree));
    violations.extend(module_readmes_list_inputs_and_outputs(tree));
    violations.extend(terraform_version_floor(tree));
    violations
}

/// A partial batch response needs `ReportBatchItemFailures`, or one failed message makes the
/// whole batch return to the queue.
pub fn event_source_mappings_report_item_failures(tree: &Tree) -> Vec<Violation> {
    let rule = "event-source-mapping-reports-item-failures";
    let mut violations = Vec::new();
    for (dir, module) in tree.modules() {
        for block in module.resources("aws_lambda_event_source_mapping").values() {
            let reports = match attribute(block.body(), "function_response_types") {
                Some(Expression::Array(items)) => items.iter().any(
                    |item| matches!(item, Expression::String(value) if value == "ReportBatchItemFailures"),
                ),
                _ => false,
            };
            if !reports {
                violations.push(Violation {
                    rule,
                    location: location(dir, block),
                    message: "function_response_types must be [\"ReportBatchItemFailures\"]".to_owned(),
                });
            }
        }
    }
    violations
}

/// SNS and EventBridge give up on a delivery the queue refuses (its policy, its key) after their
/// retries: without a dead-letter queue the event is gone, silently. Every SQS subscription needs
/// a `redrive_policy`, every SQS target of a rule a `dead_letter_config`.
pub fn queue_deliveries_keep_what_they_cannot_deliver(tree: &Tree) -> Vec<Violation> {
    let rule = "queue-deliveries-have-a-dead-letter-queue";
    let mut violations = Vec::new();
    for (dir, module) in tree.modules() {
        for block in module.resources("aws_sns_topic_subscription").values() {
            let to_sqs = string_attribute(block.body(), "protocol") == Some("sqs");
            if to_sqs && attribute(block.body(), "redrive_policy").is_none() {
                violations.push(Violation {
                    rule,
                    location: location(dir, block),
                    message: "an SQS subscription needs a redrive_policy to a dead-letter queue".to_owned(),
                });
            }
        }
        for block in module.resources("aws_cloudwatch_event_target").values() {
            if nested_blocks(block.body(), "dead_letter_config").next().is_none() {
                violations.push(Violation {
                    rule,
                    location: location(dir, block),
                    message: "a rule's target needs a dead_letter_config".to_owned(),
                });
            }
        }
    }
    violations
}

/// A topic policy that lets named principals publish must refuse everyone else: an Allow alone
/// leaves every principal of the account whose own policy allows `sns:Publish` free to publish.
/// The Deny's `ArnNotEquals aws:PrincipalArn` must name exactly the allowed principals.
pub fn topic_publishers_are_only_those_named(tree: &Tree) -> Vec<Violation> {
    let rule = "topic-publishers-are-only-those-named";
    let mut violations = Vec::new();
    for (dir, module) in tree.modules() {
        let documents = module
            .blocks_of("data")
            .filter(|block| label(block, 0) == Some("aws_iam_policy_document"));
        for document in documents {
            let statements: Vec<&Block> = nested_blocks(document.body(), "statement")
                .chain(
                    nested_blocks(document.body(), "dynamic")
                        .filter(|block| label(block, 0) == Some("statement"))
                        .flat_map(|block| nested_blocks(block.body(), "content")),
                )
                .collect();
            let publishes = |statement: &&Block| {
                matches!(attribute(statement.body(), "actions"), Some(Expression::Array(actions))
                    if actions.iter().any(|action| matches!(action, Expression::String(a) if a == "sns:Publish")))
            };
            let effect = |statement: &Block| {
                string_attribute(statement.body(), "effect")
                    .unwrap_or("Allow")
                    .to_owned()
            };
            let allowed: Vec<String> = statements
                .iter()
                .copied()
                .filter(publishes)
                .filter(|statement| effect(statement) == "Allow")
                .flat_map(|statement| nested_blocks(statement.body(), "principals"))
                .filter_map(|principals| attribute(principals.body(), "identifiers").map(text))
                .collect();
            if allowed.is_empty() {
                continue;
            }
            let denied_others = statements
                .iter()
                .copied()
                .filter(publishes)
                .filter(|statement| effect(statement) == "Deny")
                .flat_map(|statement| nested_blocks(statement.body(), "condition"))
                .any(|condition| {
                    let body = condition.body();
                    string_attribute(body, "test") == Some("ArnNotEquals")
                        && string_attribute(body, "variable") == Some("aws:PrincipalArn")
                        && attribute(body, "values")
                            .map(text)
                            .is_some_and(|values| allowed.contains(&values))
                });
            if !denied_others {
                violations.push(Violation {
                    rule,
                    location: location(dir, document),
                    message: format!(
                        "allows {} to sns:Publish but denies no one else (a Deny with ArnNotEquals aws:PrincipalArn = the same principals)",
                        allowed.join(", ")
                    ),
                });
            }
        }
    }
    violations
}

/// Meta-arguments every module call may set without the module declaring them.
const META_ARGUMENTS: [&str; 6] = [
    "source",
    "version",
    "providers",
    "count",
    "for_each",
    "depends_on",
];

/// A module call passes only variables the module declares, and every required one.
pub fn module_calls_match_declared_variables(tree: &Tree) -> Vec<Violation> {
    let rule = "module-calls-match-variables";
    let mut violations = Vec::new();
    for (dir, module) in tree.modules() {
        for (name, call) in module.module_calls() {
            let Some(source) = string_attribute(call.body(), "source") else {
                continue;
            };
            let Some(target) = tree.resolve(dir, source) else {
                violations.push(Violation {
                    rule,
                    location: location(dir, call),
                    message: format!("module \"{name}\": source {source} is not a module of this tree"),
                });
                continue;
            };
            let declared = target.variables();
            let passed: Vec<&str> = call
                .body()
                .attributes()
                .map(|attribute| attribute.key())
                .filter(|key| !META_ARGUMENTS.contains(key))
                .collect();
            for key in &passed {
                if !declared.contains_key(*key) {
                    violations.push(Violation {
                        rule,
                        location: location(dir, call),
                        message: format!("passes `{key}`, which {source} does not declare"),
                    });
                }
            }
            for (variable, block) in &declared {
                let required = attribute(block.body(), "default").is_none();
                if required && !passed.contains(&variable.as_str()) {
                    violations.push(Violation {
                        rule,
                        location: location(dir, call),
                        message: format!("misses `{variable}`, which {source} requires"),
                    });
                }
            }
        }
    }
    violations
}

/// Every function has X-Ray active tracing, the ADOT collector layer (for the collector
/// transport, resolved by a data source so a wrong ARN fails the plan), and its role gets the
/// Application Signals and X-Ray managed policies.
pub fn functions_are_traced_and_instrumented(tree: &Tree) -> Vec<Violation> {
    let rule = "functions-are-traced";
    let mut violations = Vec::new();
    for (dir, module) in tree.modules() {
        let functions = module.resources("aws_lambda_function");
        if functions.is_empty() {
            continue;
        }
        let attached: Vec<String> = module
            .resources("aws_iam_role_policy_attachment")
            .values()
            .filter_map(|block| attribute(block.body(), "policy_arn").map(text))
            .collect();
        for (policy, why) in [
            (
                "CloudWatchLambdaApplicationSignalsExecutionRolePolicy",
                "Application Signals",
            ),
            ("AWSXRayDaemonWriteAccess", "X-Ray trace segments"),
        ] {
            if !attached.iter().any(|arn| arn.contains(policy)) {
                violations.push(Violation {
                    rule,
                    location: dir.display().to_string(),
                    message: format!("the function role lacks {policy} ({why})"),
                });
            }
        }
        for block in functions.values() {
            let active = nested_blocks(block.body(), "tracing_config")
                .any(|tracing| string_attribute(tracing.body(), "mode") == Some("Active"));
            if !active {
                violations.push(Violation {
                    rule,
                    location: location(dir, block),
                    message: "tracing_config { mode = \"Active\" } is missing".to_owned(),
                });
            }
            let layered = attribute(block.body(), "layers")
                .is_some_and(|layers| text(layers).contains("data.aws_lambda_layer_version.adot"));
            if !layered {
                violations.push(Violation {
                    rule,
                    location: location(dir, block),
                    message: "layers does not attach the ADOT collector layer resolved at plan time (data.aws_lambda_layer_version.adot)"
                        .to_owned(),
                });
            }
        }
    }
    violations
}

/// No `*` action or resource in the project's own IAM statements: every action and resource
/// it grants has a specific name. A `*` resource is allowed only in a statement that narrows it
/// with a `condition`, for actions that have no resource type (CreateEventSourceMapping).
/// (X-Ray's PutTraceSegments comes from the AWS-managed policy instead.)
pub fn iam_statements_are_specific(tree: &Tree) -> Vec<Violation> {
    let rule = "iam-least-privilege";
    let mut violations = Vec::new();
    for (dir, module) in tree.modules() {
        for block in module
            .blocks_of("data")
            .filter(|block| label(block, 0) == Some("aws_iam_policy_document"))
        {
            let statements = nested_blocks(block.body(), "statement").map(|statement| {
                // A dynamic block keeps its statement in `content`.
                nested_blocks(statement.body(), "content")
                    .next()
                    .map(|content| content.body().clone())
                    .unwrap_or_else(|| statement.body().clone())
            });
            for body in statements {
                let conditioned = nested_blocks(&body, "condition").next().is_some();
                for key in ["actions", "resources"] {
                    let Some(Expression::Array(items)) = attribute(&body, key) else {
                        continue;
                    };
                    for item in items {
                        if let Expression::String(value) = item
                            && (value.ends_with(":*")
                                || (value == "*" && !(key == "resources" && conditioned)))
                        {
                            violations.push(Violation {
                                rule,
                                location: location(dir, block),
                                message: format!(
                                    "{key} contains the wildcard {value:?}; name what is needed"
                                ),
                            });
                        }
                    }
                }
            }
        }
    }
    violations
}

/// AWS's guidance: the queue's visibility timeout is at least six times the worker's timeout,
/// or messages reappear while still being processed. Enforced by a variable validation and an
/// event source mapping precondition, and met by the defaults.
pub fn visibility_timeout_outlasts_the_worker(tree: &Tree) -> Vec<Violation> {
    let rule = "visibility-timeout";
    let mut violations = Vec::new();
    let Some(pipeline) = tree.modules.get(Path::new("modules/pipeline")) else {
        return vec![Violation {
            rule,
            location: "modules/pipeline".to_owned(),
            message: "the pipeline module is missing".to_owned(),
        }];
    };
    let mut fail = |message: String| {
        violations.push(Violation {
            rule,
            location: "modules/pipeline".to_owned(),
            message,
        })
    };
    let rule_text = |expression: &Expression| {
        let text = text(expression).replace(' ', "");
        text.contains("var.queue_visibility_timeout_seconds>=6*var.worker_timeout_seconds")
    };
    let default = |name: &str| {
        pipeline
            .variable_default(name)
            .ok()
            .flatten()
            .and_then(|value| value.as_u64())
    };
    match (
        default("queue_visibility_timeout_seconds"),
        default("worker_timeout_seconds"),
    ) {
        (Some(visibility), Some(timeout)) if visibility >= 6 * timeout => {}
        (visibility, timeout) => fail(format!(
            "the defaults break the rule: visibility {visibility:?} s < 6 x worker timeout {timeout:?} s"
        )),
    }
    let validated = pipeline
        .variables()
        .get("queue_visibility_timeout_seconds")
        .is_some_and(|block| {
            nested_blocks(block.body(), "validation")
                .filter_map(|validation| attribute(validation.body(), "condition"))
                .any(rule_text)
        });
    if !validated {
        fail(
            "variable queue_visibility_timeout_seconds has no validation `>= 6 * var.worker_timeout_seconds`"
                .to_owned(),
        );
    }
    let preconditioned = pipeline
        .resources("aws_lambda_event_source_mapping")
        .values()
        .flat_map(|block| nested_blocks(block.body(), "lifecycle"))
        .flat_map(|lifecycle| nested_blocks(lifecycle.body(), "precondition"))
        .filter_map(|precondition| attribute(precondition.body(), "condition"))
        .any(rule_text);
    if !preconditioned {
        fail("the event source mapping has no precondition `visibility >= 6 * worker timeout`".to_owned());
    }
    let passed_through = pipeline.module_calls().get("queue").is_some_and(|call| {
        attribute(call.body(), "visibility_timeout_seconds")
            .is_some_and(|value| text(value) == "var.queue_visibility_timeout_seconds")
    });
    if !passed_through {
        fail(
            "module \"queue\" does not get visibility_timeout_seconds = var.queue_visibility_timeout_seconds"
                .to_owned(),
        );
    }
    violations
}

/// Every module has a README whose reference section (inputs and outputs) matches its HCL.
pub fn module_readmes_list_inputs_and_outputs(tree: &Tree) -> Vec<Violation> {
    let rule = "module-readme";
    let mut violations = Vec::new();
    for (dir, module) in tree.modules().filter(|(dir, _)| dir.starts_with("modules")) {
        let readme = std::fs::read_to_string(module.dir().join("README.md")).unwrap_or_default();
        let message = match super::module_reference::current_reference(&readme) {
            _ if readme.is_empty() => "README.md is missing".to_owned(),
            None => format!(
                "README.md has no reference section ({})",
                super::module_reference::BEGIN
            ),
            Some(current) if current.trim_end() != super::module_reference::reference(module).trim_end() => {
                "README.md's inputs/outputs reference is stale: run `make docs`".to_owned()
            }
            Some(_) => continue,
        };
        violations.push(Violation {
            rule,
            location: dir.display().to_string(),
            message,
        });
    }
    violations
}

/// Language features and the Terraform release that brought them.
const FEATURE_FLOORS: [(&str, [u64; 3]); 2] = [
    ("a validation that refers to another variable", [1, 9, 0]),
    ("the S3 backend's use_lockfile", [1, 10, 0]),
];

/// The oldest Terraform a module's own configuration needs, and why.
fn needed_floor(module: &Module) -> Option<([u64; 3], &'static str)> {
    let mut needed: Option<([u64; 3], &'static str)> = None;
    let mut need = |index: usize| {
        let (why, floor) = FEATURE_FLOORS[index];
        if needed.is_none_or(|(current, _)| floor > current) {
            needed = Some((floor, why));
        }
    };
    for (name, block) in module.variables() {
        let own = format!("var.{name}");
        let cross = nested_blocks(block.body(), "validation")
            .filter_map(|validation| attribute(validation.body(), "condition"))
            .any(|condition| {
                let text = text(condition);
                text.match_indices("var.").any(|(at, _)| {
                    let rest = &text[at..];
                    let reference: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
                        .collect();
                    reference.trim_end_matches('.') != own
                })
            });
        if cross {
            need(0);
        }
    }
    let lockfile = module
        .blocks_of("terraform")
        .flat_map(|block| nested_blocks(block.body(), "backend"))
        .any(|backend| attribute(backend.body(), "use_lockfile").is_some());
    if lockfile {
        need(1);
    }
    needed
}

/// The lower bound of a `required_version` such as `>= 1.10.0`.
fn declared_floor(module: &Module) -> Option<[u64; 3]> {
    let constraint = module
        .blocks_of("terraform")
        .find_map(|block| string_attribute(block.body(), "required_version"))?;
    constraint.split(',').find_map(|part| {
        let version = part.trim().strip_prefix(">=")?.trim();
        let mut parts = [0u64; 3];
        for (index, number) in version.split('.').enumerate() {
            *parts.get_mut(index)? = number.parse().ok()?;
        }
        Some(parts)
    })
}

/// Every module declares (in `required_version`) at least the Terraform release its features
/// need, and a root at least what the modules it calls need.
pub fn terraform_version_floor(tree: &Tree) -> Vec<Violation> {
    let rule = "terraform-version-floor";
    let mut violations = Vec::new();
    for (dir, module) in tree.modules() {
        let mut needed = needed_floor(module).map(|(floor, why)| (floor, why.to_owned()));
        let mut pending = vec![dir.clone()];
        let mut seen = std::collections::BTreeSet::new();
        while let Some(current) = pending.pop() {
            if !seen.insert(current.clone()) {
                continue;
            }
            let Some(module) = tree.module(&current) else {
                continue;
            };
            for call in module.module_calls().values() {
                let Some((target, called)) = string_attribute(call.body(), "source")
                    .and_then(|source| tree.resolve_dir(&current, source))
                else {
                    continue;
                };
                if let Some((floor, why)) = needed_floor(called)
                    && needed.as_ref().is_none_or(|(current, _)| floor > *current)
                {
                    needed = Some((floor, format!("{why} (in {})", target.display())));
                }
                pending.push(target.clone());
            }
        }
        let Some((floor, why)) = needed else { continue };
        let declared = declared_floor(module);
        if declared.is_none_or(|declared| declared < floor) {
            let shown = |v: [u64; 3]| format!("{}.{}.{}", v[0], v[1], v[2]);
            violations.push(Violation {
                rule,
                location: dir.display().to_string(),
                message: format!(
                    "{why} needs Terraform >= {}, but required_version allows {}",
                    shown(floor),
                    declared
                        .map(|d| format!("{} and later", shown(d)))
                        .unwrap_or_else(|| "any version".to_owned())
                ),
            });
        }
    }
    violations
}
