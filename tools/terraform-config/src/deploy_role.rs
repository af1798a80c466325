//! The deploy role of `terraform/bootstrap`, checked offline against what the environments
//! need and against taking over the account:
//!
//! - **coverage**: `terraform/bootstrap/deploy-permissions.json` lists, per resource and data
//!   source type the environments manage, the IAM actions the AWS provider calls (create, read,
//!   update, delete, tag, list tags) on a sample ARN. Each must be allowed by the deploy policy
//!   rendered for an environment, on an ARN that fits the action's resource types, with only
//!   condition keys the action supports (`parliament`'s data); every type in use needs a row.
//! - **plan coverage**: the plan role allows every read and tag listing (and the state lock),
//!   and none of the writes.
//! - **no self-escalation**: the policy can never write to the deploy roles or the boundary
//!   policies, pass a deploy role, remove a boundary, or create or change a role that does not
//!   carry the environment's boundary.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use hcl::eval::{Context, Evaluate};
use hcl::{Map, Value};
use serde::Deserialize;

use crate::checks::{Tree, Violation};
use crate::iam::{Decision, Effect, IamDefinitions, PolicyDocument, Request, glob};
use crate::{ConfigError, Module, attribute, label};

const COVERAGE: &str = "deploy-role-coverage";
const PLAN: &str = "plan-role-read-only";
const ESCALATION: &str = "deploy-role-self-escalation";
const OPERATOR: &str = "operator-least-privilege";

/// The deploy-permissions table.
#[derive(Debug, Deserialize)]
pub struct DeployPermissions {
    /// Values for the `{placeholders}` of every ARN and context value.
    pub sample: BTreeMap<String, String>,
    pub types: Vec<TypeRow>,
    pub state: StateRows,
    pub smoke: Operation,
    /// What an operator's commands call (`make trace`, `make redrive`).
    pub operator: Operation,
}

#[derive(Debug, Deserialize)]
pub struct TypeRow {
    /// A resource type, or `data.<type>` for a data source.
    #[serde(rename = "type")]
    pub kind: String,
    pub arn: String,
    pub source: String,
    pub create: Vec<Call>,
    pub read: Vec<Call>,
    pub update: Vec<Call>,
    pub delete: Vec<Call>,
    pub tag: Vec<Call>,
    pub list_tags: Vec<Call>,
}

#[derive(Debug, Deserialize)]
pub struct StateRows {
    pub source: String,
    /// What an apply does to the state.
    pub apply: Vec<Call>,
    /// What a plan does: read the state, hold its lock.
    pub plan: Vec<Call>,
    /// What a plan must never do.
    pub plan_must_not: Vec<Call>,
}

/// Calls made outside Terraform (the smoke test after an apply).
#[derive(Debug, Deserialize)]
pub struct Operation {
    pub source: String,
    pub actions: Vec<Call>,
}

/// One IAM action: on the row's ARN without request context, or spelled out.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Call {
    Action(String),
    Detailed {
        action: String,
        arn: Option<String>,
        #[serde(default)]
        context: BTreeMap<String, String>,
    },
}

impl DeployPermissions {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|error| ConfigError::Unexpected {
            module: path.display().to_string(),
            what: "the deploy-permissions table".to_owned(),
            detail: error.to_string(),
        })
    }

    /// `text` with every `{placeholder}` of the sample filled in.
    pub fn fill(&self, text: &str) -> String {
        self.sample.iter().fold(text.to_owned(), |text, (key, value)| {
            text.replace(&format!("{{{key}}}"), value)
        })
    }

    pub fn environment(&self) -> &str {
        self.sample
            .get("environment")
            .map(String::as_str)
            .unwrap_or_default()
    }

    /// The sample ARN of the first row of `kind`.
    pub fn sample_arn(&self, kind: &str) -> Option<String> {
        self.types
            .iter()
            .find(|row| row.kind == kind)
            .map(|row| self.fill(&row.arn))
    }
}

impl TypeRow {
    fn operations(&self) -> [(&'static str, &[Call]); 6] {
        [
            ("create", &self.create),
            ("read", &self.read),
            ("update", &self.update),
            ("delete", &self.delete),
            ("tag", &self.tag),
            ("list tags", &self.list_tags),
        ]
    }
}

/// A call resolved against the sample: action, ARN, request context.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Resolved {
    location: String,
    action: String,
    arn: String,
    context: BTreeMap<String, String>,
}

fn resolve(table: &DeployPermissions, call: &Call, kind: &str, operation: &str, row_arn: &str) -> Resolved {
    let (action, arn, context) = match call {
        Call::Action(action) => (action.clone(), table.fill(row_arn), BTreeMap::new()),
        Call::Detailed { action, arn, context } => (
            action.clone(),
            table.fill(arn.as_deref().unwrap_or(row_arn)),
            context.iter().map(|(k, v)| (k.clone(), table.fill(v))).collect(),
        ),
    };
    let operation = if operation.is_empty() {
        String::new()
    } else {
        format!(" ({operation})")
    };
    Resolved {
        location: format!("{kind}{operation}: {action} on {arn}"),
        action,
        arn,
        context,
    }
}

/// Every way `policy` (the deploy role's) fails the table, and every type in use without a row
/// (or row without use).
pub fn coverage(
    table: &DeployPermissions,
    policy: &PolicyDocument,
    iam: &IamDefinitions,
    types_in_use: &BTreeSet<String>,
) -> Vec<Violation> {
    let mut violations = Vec::new();
    let state = [
        ("state", table.state.apply.as_slice()),
        ("smoke test", table.smoke.actions.as_slice()),
    ]
    .into_iter()
    .flat_map(|(what, calls)| calls.iter().map(move |call| resolve(table, call, what, "", "")));
    let rows = table.types.iter().flat_map(|row| {
        row.operations().into_iter().flat_map(move |(operation, calls)| {
            calls
                .iter()
                .map(move |call| resolve(table, call, &row.kind, operation, &row.arn))
        })
    });
    for call in state.chain(rows) {
        check_allowed(&call, policy, iam, &mut violations);
    }
    let rows: BTreeSet<&str> = table.types.iter().map(|row| row.kind.as_str()).collect();
    for kind in types_in_use {
        if !rows.contains(kind.as_str()) {
            violations.push(violation(
                COVERAGE,
                kind.clone(),
                "the environments use this type, and the table has no row for it",
            ));
        }
    }
    for kind in rows {
        if !types_in_use.contains(kind) {
            violations.push(violation(
                COVERAGE,
                kind.to_owned(),
                "the table has a row for a type no environment uses",
            ));
        }
    }
    violations
}

/// Every operator call `policy` (the operator policy's) does not allow, and every action or
/// resource it grants that no call needs.
pub fn operator_coverage(
    table: &DeployPermissions,
    policy: &PolicyDocument,
    iam: &IamDefinitions,
) -> Vec<Violation> {
    let calls: Vec<Resolved> = table
        .operator
        .actions
        .iter()
        .map(|call| resolve(table, call, "operator", "", ""))
        .collect();
    let mut violations = Vec::new();
    for call in &calls {
        check_allowed(call, policy, iam, &mut violations);
    }
    for violation in &mut violations {
        violation.rule = OPERATOR;
    }
    for statement in policy.statements.iter().filter(|s| s.effect == Effect::Allow) {
        for action in &statement.actions {
            let used = calls.iter().any(|call| {
                glob(&action.to_ascii_lowercase(), &call.action.to_ascii_lowercase())
                    && statement.covers(&call.action, &call.arn)
            });
            if !used {
                violations.push(violation(
                    OPERATOR,
                    format!("statement {}", statement.sid),
                    &format!("grants {action}, which no operator call needs"),
                ));
            }
        }
        for resource in &statement.resources {
            let used = calls
                .iter()
                .any(|call| glob(resource, &call.arn) && statement.covers(&call.action, &call.arn));
            if !used {
                violations.push(violation(
                    OPERATOR,
                    format!("statement {}", statement.sid),
                    &format!("grants on {resource}, which no operator call needs"),
                ));
            }
        }
        // The same call on another environment's resource must not be allowed.
        let own = table.fill("{project}-{environment}");
        let elsewhere = table.fill("{project}-elsewhere");
        for call in &calls {
            let foreign = call.arn.replace(&own, &elsewhere);
            if foreign != call.arn && statement.covers(&call.action, &foreign) {
                violations.push(violation(
                    OPERATOR,
                    format!("statement {}", statement.sid),
                    &format!("grants {} on {foreign}, another environment's", call.action),
                ));
            }
        }
    }
    violations
}

/// Every way `policy` (the plan role's) fails to read what a refresh reads, or could write.
pub fn plan_coverage(
    table: &DeployPermissions,
    policy: &PolicyDocument,
    iam: &IamDefinitions,
) -> Vec<Violation> {
    let mut violations = Vec::new();
    let mut reads = Vec::new();
    let mut writes = Vec::new();
    for row in &table.types {
        for (operation, calls) in row.operations() {
            let target = if matches!(operation, "read" | "list tags") {
                &mut reads
            } else {
                &mut writes
            };
            target.extend(
                calls
                    .iter()
                    .map(|call| resolve(table, call, &row.kind, operation, &row.arn)),
            );
        }
    }
    reads.extend(
        table
            .state
            .plan
            .iter()
            .map(|call| resolve(table, call, "state", "plan", "")),
    );
    // A write that is also a read (API Gateway's GET after a POST) stays allowed.
    writes.retain(|write| {
        !reads
            .iter()
            .any(|read| read.action == write.action && read.arn == write.arn)
    });
    writes.extend(
        table
            .state
            .plan_must_not
            .iter()
            .map(|call| resolve(table, call, "state", "write", "")),
    );
    for call in &reads {
        check_allowed(call, policy, iam, &mut violations);
    }
    for call in &writes {
        let request = Request {
            action: &call.action,
            resource: &call.arn,
            context: &call.context,
        };
        if let Decision::Allowed(sids) = policy.decide(&request) {
            violations.push(violation(
                PLAN,
                call.location.clone(),
                &format!("the plan role may write (allowed by {})", sids.join(", ")),
            ));
        }
    }
    violations
}

fn violation(rule: &'static str, location: String, message: &str) -> Violation {
    Violation {
        rule,
        location,
        message: message.to_owned(),
    }
}

/// `call` must be a real action on an ARN of its resource types, allowed by `policy` with only
/// condition keys IAM evaluates for it.
fn check_allowed(
    call: &Resolved,
    policy: &PolicyDocument,
    iam: &IamDefinitions,
    violations: &mut Vec<Violation>,
) {
    let rule = COVERAGE;
    let location = &call.location;
    if !iam.knows(&call.action) {
        violations.push(violation(rule, location.clone(), "IAM has no such action"));
        return;
    }
    if iam.resource_types_for(&call.action, &call.arn).is_none() {
        violations.push(violation(
            rule,
            location.clone(),
            "the ARN fits none of the action's resource types (an action without any is authorised on \"*\")",
        ));
        return;
    }
    for key in call.context.keys() {
        if !iam.supports_condition_key(&call.action, &call.arn, key) {
            violations.push(violation(
                rule,
                location.clone(),
                &format!("the action does not carry the condition key {key}"),
            ));
        }
    }
    let request = Request {
        action: &call.action,
        resource: &call.arn,
        context: &call.context,
    };
    match policy.decide(&request) {
        Decision::Allowed(sids) => {
            for sid in sids {
                let Some(statement) = policy.statement(&sid) else {
                    continue;
                };
                for condition in &statement.conditions {
                    if !iam.supports_condition_key(&call.action, &call.arn, &condition.variable) {
                        violations.push(violation(
                            rule,
                            location.clone(),
                            &format!(
                                "statement {sid} conditions on {}, which IAM does not evaluate for this action",
                                condition.variable
                            ),
                        ));
                    }
                }
            }
        }
        Decision::Denied(sid) => violations.push(violation(
            rule,
            location.clone(),
            &format!("denied by statement {sid}"),
        )),
        Decision::NotAllowed => violations.push(violation(
            rule,
            location.clone(),
            "no statement of the policy allows it",
        )),
    }
}

/// IAM actions that change a role.
const ROLE_WRITES: [&str; 13] = [
    "iam:AttachRolePolicy",
    "iam:DeleteRole",
    "iam:DeleteRolePermissionsBoundary",
    "iam:DeleteRolePolicy",
    "iam:DetachRolePolicy",
    "iam:PutRolePermissionsBoundary",
    "iam:PutRolePolicy",
    "iam:TagRole",
    "iam:UntagRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:UpdateRole",
    "iam:UpdateRoleDescription",
    "iam:CreateRole",
];

/// Actions that change a managed policy.
const POLICY_WRITES: [&str; 5] = [
    "iam:CreatePolicyVersion",
    "iam:DeletePolicy",
    "iam:DeletePolicyVersion",
    "iam:SetDefaultPolicyVersion",
    "iam:TagPolicy",
];

/// Actions that give a role more, which the boundary must be a condition of.
const BOUNDED: [&str; 4] = [
    "iam:CreateRole",
    "iam:PutRolePolicy",
    "iam:AttachRolePolicy",
    "iam:PutRolePermissionsBoundary",
];

/// The ARNs the escalation check is about.
#[derive(Debug, Clone)]
pub struct EscalationTargets {
    pub deploy_role: String,
    pub boundary: String,
    pub function_role: String,
}

/// Every way `policy` could give the deploy role, or a role it manages, more than the boundary.
pub fn self_escalation(policy: &PolicyDocument, targets: &EscalationTargets) -> Vec<Violation> {
    let mut violations = Vec::new();
    let mut fail = |message: String| {
        violations.push(Violation {
            rule: ESCALATION,
            location: "terraform/bootstrap: data \"aws_iam_policy_document\" \"deploy\"".to_owned(),
            message,
        })
    };
    for action in ROLE_WRITES.iter().chain(["iam:PassRole"].iter()) {
        if policy.could_allow(action, &targets.deploy_role) {
            fail(format!(
                "{action} on its own role {} can be allowed",
                targets.deploy_role
            ));
        }
    }
    for action in POLICY_WRITES {
        if policy.could_allow(action, &targets.boundary) {
            fail(format!(
                "{action} on the boundary {} can be allowed",
                targets.boundary
            ));
        }
    }
    for action in ["iam:DeleteRolePermissionsBoundary", "iam:UpdateAssumeRolePolicy"] {
        if policy.could_allow(action, &targets.function_role) {
            fail(format!(
                "{action} on a function role can be allowed (the boundary cannot be a condition of it)"
            ));
        }
    }
    let managed_policy = "arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess".to_owned();
    let other_boundary = "arn:aws:iam::123456789012:policy/AdministratorAccess".to_owned();
    for action in BOUNDED {
        for boundary in [None, Some(&other_boundary)] {
            let mut context = BTreeMap::from([("iam:PolicyARN".to_owned(), managed_policy.clone())]);
            if let Some(boundary) = boundary {
                context.insert("iam:PermissionsBoundary".to_owned(), boundary.clone());
            }
            let request = Request {
                action,
                resource: &targets.function_role,
                context: &context,
            };
            if let Decision::Allowed(sids) = policy.decide(&request) {
                fail(format!(
                    "{action} on {} is allowed with boundary {} (by {})",
                    targets.function_role,
                    boundary.map(String::as_str).unwrap_or("none"),
                    sids.join(", ")
                ));
            }
        }
    }
    violations
}

/// Resource types (and `data.<type>` data sources) of the environment roots and every module
/// they call.
pub fn environment_types(tree: &Tree) -> BTreeSet<String> {
    let mut types = BTreeSet::new();
    let mut pending: Vec<&Path> = tree
        .modules()
        .filter(|(dir, _)| dir.starts_with("environments"))
        .map(|(dir, _)| dir.as_path())
        .collect();
    let mut seen = BTreeSet::new();
    while let Some(dir) = pending.pop() {
        if !seen.insert(dir.to_path_buf()) {
            continue;
        }
        let Some(module) = tree.module(dir) else { continue };
        for block in module.blocks_of("resource") {
            types.extend(label(block, 0).map(str::to_owned));
        }
        for block in module.blocks_of("data") {
            types.extend(label(block, 0).map(|kind| format!("data.{kind}")));
        }
        for call in module.module_calls().values() {
            if let Some((target, _)) = crate::string_attribute(call.body(), "source")
                .and_then(|source| tree.resolve_dir(dir, source))
            {
                pending.push(target.as_path());
            }
        }
    }
    types
}

/// What bootstrap's policies are evaluated with: its variables, locals, `each.key` and the
/// attributes they refer to, from the sample.
pub fn bootstrap_context(
    bootstrap: &Module,
    table: &DeployPermissions,
) -> Result<Context<'static>, ConfigError> {
    let sample =
        |key: &str| {
            table.sample.get(key).cloned().ok_or_else(|| {
                bootstrap.missing(format!("sample value {key} in the deploy-permissions table"))
            })
        };
    let (partition, account, environment) =
        (sample("partition")?, sample("account")?, sample("environment")?);
    let mut variables = bootstrap.variable_defaults()?;
    variables.insert("region".to_owned(), Value::from(sample("region")?));
    variables.insert("project".to_owned(), Value::from(sample("project")?));
    variables.insert(
        "state_bucket_name".to_owned(),
        Value::from(sample("state_bucket")?),
    );
    variables.insert(
        "github_repository".to_owned(),
        Value::from("my-org/traced-webhooks"),
    );
    let mut context = Context::new();
    context.declare_var("var", Value::Object(variables));
    context.declare_var(
        "data",
        object([
            (
                "aws_caller_identity",
                object([("current", object([("account_id", Value::from(account.clone()))]))]),
            ),
            (
                "aws_partition",
                object([("current", object([("partition", Value::from(partition.clone()))]))]),
            ),
        ]),
    );
    context.declare_var("each", object([("key", Value::from(environment.clone()))]));
    let locals = bootstrap.locals_in(&context);
    context.declare_var("local", Value::Object(locals));
    let boundary = named_arn(
        bootstrap,
        &context,
        "aws_iam_policy",
        "function_boundary",
        &format!("arn:{partition}:iam::{account}:policy/"),
    )?;
    context.declare_var(
        "aws_iam_policy",
        object([(
            "function_boundary",
            object([(environment.as_str(), object([("arn", Value::from(boundary))]))]),
        )]),
    );
    context.declare_var(
        "aws_s3_bucket",
        object([(
            "state",
            object([(
                "arn",
                Value::from(format!("arn:{partition}:s3:::{}", sample("state_bucket")?)),
            )]),
        )]),
    );
    Ok(context)
}

/// `<prefix><name>`, the name evaluated from resource `<kind>.<name>`'s `name` argument.
pub fn named_arn(
    module: &Module,
    context: &Context,
    kind: &str,
    name: &str,
    prefix: &str,
) -> Result<String, ConfigError> {
    let resources = module.resources(kind);
    let block = resources
        .get(name)
        .ok_or_else(|| module.missing(format!("{kind}.{name}")))?;
    let expression =
        attribute(block.body(), "name").ok_or_else(|| module.missing(format!("name of {kind}.{name}")))?;
    match expression.evaluate(context) {
        Ok(Value::String(evaluated)) => Ok(format!("{prefix}{evaluated}")),
        Ok(other) => Err(module.unexpected(format!("name of {kind}.{name}"), other)),
        Err(error) => Err(module.unexpected(format!("name of {kind}.{name}"), error)),
    }
}

/// The policy document `data "aws_iam_policy_document" "<name>"` of `module`, rendered in `context`.
pub fn policy_document(
    module: &Module,
    name: &str,
    context: &Context,
) -> Result<PolicyDocument, ConfigError> {
    let block = module
        .blocks_of("data")
        .find(|block| label(block, 0) == Some("aws_iam_policy_document") && label(block, 1) == Some(name))
        .ok_or_else(|| module.missing(format!("data \"aws_iam_policy_document\" \"{name}\"")))?;
    PolicyDocument::render(block, context)
        .map_err(|error| module.unexpected(format!("policy document {name}"), error))
}

fn object<'a>(entries: impl IntoIterator<Item = (&'a str, Value)>) -> Value {
    Value::Object(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect::<Map<String, Value>>(),
    )
}
