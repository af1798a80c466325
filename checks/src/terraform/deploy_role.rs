//! The roles of `terraform/bootstrap`, checked offline against the deploy-permissions table
//! (`permissions`) and against reaching what is not theirs:
//!
//! - **coverage**: each role allows every call the table lists for it, on an ARN that fits the
//!   action's resource types, with only condition keys IAM evaluates for the action
//!   (`parliament`'s data); the deploy role's rows cover every resource type in use, and the plan
//!   role is allowed none of the writes.
//! - **least privilege**: every action and resource an allow grants is used by some call.
//! - **cross-environment**: every call, resolved for another environment (its ARNs, its tags, its
//!   Stripe bus, its queues), is denied; a call that names no environment (a resource `*`, a
//!   collection) may only read.
//! - **boundary**: each function's runtime calls are allowed by its role's policy and by the
//!   environment's permissions boundary.
//! - **no self-escalation**: the deploy policy can never write to the GitHub roles or the
//!   boundary policies, pass a deploy role, remove a boundary, or create or change a role that
//!   does not carry the environment's boundary.

use std::collections::BTreeSet;
use std::path::Path;

use hcl::eval::{Context, Evaluate};
use hcl::{Map, Value};

use super::iam::{Decision, Effect, IamDefinitions, PolicyDocument, Request, RequestContext, glob};
use super::permissions::{DeployPermissions, Resolved, Role, RoleCall};
use super::rules::Tree;
use crate::Violation;
use terraform_config::{Module, TerraformError, attribute, label, terraform_functions};

const ESCALATION: &str = "deploy-role-self-escalation";
const PLAN: &str = "plan-role-read-only";
const CROSS_ENVIRONMENT: &str = "cross-environment";
const BOUNDARY: &str = "function-boundary";

/// Whether the account holds one environment or several: what the deploy role may be granted
/// depends on it (`own_account_only` calls).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Account {
    /// Environments share the account.
    Shared,
    /// The environment has the account to itself.
    Own,
}

fn coverage_rule(role: &Role) -> &'static str {
    match role {
        Role::Deploy => "deploy-role-coverage",
        Role::Plan => "plan-role-coverage",
        Role::Smoke => "smoke-role-coverage",
        Role::Operator => "operator-coverage",
        Role::Function(_) => BOUNDARY,
    }
}

fn least_privilege_rule(role: &Role) -> &'static str {
    match role {
        Role::Deploy => "deploy-role-least-privilege",
        Role::Plan => "plan-role-least-privilege",
        Role::Smoke => "smoke-role-least-privilege",
        Role::Operator => "operator-least-privilege",
        Role::Function(_) => BOUNDARY,
    }
}

fn violation(rule: &'static str, location: String, message: &str) -> Violation {
    Violation {
        rule,
        location,
        message: message.to_owned(),
    }
}

/// Every call of `role` that `policy` does not allow (the plan role's writes that it does), and
/// every action or resource it grants that no call of the role needs.
pub fn coverage(
    table: &DeployPermissions,
    role: &Role,
    policy: &PolicyDocument,
    iam: &IamDefinitions,
    account: Account,
) -> Vec<Violation> {
    let calls = table.calls(role);
    let mut violations = Vec::new();
    for call in &calls {
        if call.must_not {
            let request = request(&call.own);
            if let Decision::Allowed(sids) = policy.decide(&request) {
                violations.push(violation(
                    PLAN,
                    call.own.location.clone(),
                    &format!("the {role} role may write (allowed by {})", sids.join(", ")),
                ));
            }
        } else if !(call.own_account_only && account == Account::Shared) {
            check_allowed(coverage_rule(role), &call.own, policy, iam, &mut violations);
        }
    }
    let used: Vec<&Resolved> = calls
        .iter()
        .filter(|call| !call.must_not)
        .map(|call| &call.own)
        .collect();
    violations.extend(unused_grants(least_privilege_rule(role), role, policy, &used));
    violations
}

/// Resource types the environments use without a row in the table, and rows no type uses.
pub fn rows_for_types(table: &DeployPermissions, types_in_use: &BTreeSet<String>) -> Vec<Violation> {
    let rule = coverage_rule(&Role::Deploy);
    let rows: BTreeSet<&str> = table.types.iter().map(|row| row.kind.as_str()).collect();
    let mut violations = Vec::new();
    for kind in types_in_use {
        if !rows.contains(kind.as_str()) {
            violations.push(violation(
                rule,
                kind.clone(),
                "the environments use this type, and the table has no row for it",
            ));
        }
    }
    for kind in rows {
        if !types_in_use.contains(kind) {
            violations.push(violation(
                rule,
                kind.to_owned(),
                "the table has a row for a type no environment uses",
            ));
        }
    }
    violations
}

/// Every grant of an allow statement that no call uses: an action, or a resource.
fn unused_grants(
    rule: &'static str,
    role: &Role,
    policy: &PolicyDocument,
    calls: &[&Resolved],
) -> Vec<Violation> {
    let mut violations = Vec::new();
    for statement in policy.statements.iter().filter(|s| s.effect == Effect::Allow) {
        let location = format!("{role} role, statement {}", statement.sid);
        for action in &statement.actions {
            let used = calls.iter().any(|call| {
                glob(&action.to_ascii_lowercase(), &call.action.to_ascii_lowercase())
                    && statement.covers(&call.action, &call.arn)
            });
            if !used {
                violations.push(violation(
                    rule,
                    location.clone(),
                    &format!("grants {action}, which no {role} call needs"),
                ));
            }
        }
        for resource in &statement.resources {
            let used = calls
                .iter()
                .any(|call| glob(resource, &call.arn) && statement.covers(&call.action, &call.arn));
            if !used {
                violations.push(violation(
                    rule,
                    location.clone(),
                    &format!("grants on {resource}, which no {role} call needs"),
                ));
            }
        }
    }
    violations
}

/// Every call of `role` that `policy` would allow on another environment's resources, and every
/// write it allows that names no environment at all.
pub fn cross_environment(
    table: &DeployPermissions,
    role: &Role,
    policy: &PolicyDocument,
    iam: &IamDefinitions,
) -> Vec<Violation> {
    let mut violations = Vec::new();
    for RoleCall { own, elsewhere, .. } in table.calls(role) {
        if !matches!(policy.decide(&request(&own)), Decision::Allowed(_)) {
            continue;
        }
        let differing: Vec<&(String, Resolved)> = elsewhere
            .iter()
            .filter(|(_, other)| other.arn != own.arn || other.context != own.context)
            .collect();
        if differing.is_empty() {
            let reads = iam.access_level(&own.action).is_some_and(|level| level.reads());
            if !reads {
                violations.push(violation(
                    CROSS_ENVIRONMENT,
                    format!("{role} role, {}", own.location),
                    "the request names no environment (IAM defines no resource or key that could), so allowing this write allows it on every environment's",
                ));
            }
            continue;
        }
        for (why, other) in differing {
            if let Decision::Allowed(sids) = policy.decide(&request(other)) {
                violations.push(violation(
                    CROSS_ENVIRONMENT,
                    format!("{role} role, {}", own.location),
                    &format!(
                        "also allowed on {} with {} ({why}; by {})",
                        other.arn,
                        describe(&other.context),
                        sids.join(", ")
                    ),
                ));
            }
        }
    }
    violations
}

fn describe(context: &RequestContext) -> String {
    if context.is_empty() {
        return "no request context".to_owned();
    }
    context
        .iter()
        .map(|(key, values)| format!("{key}={}", values.join("|")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every runtime call of `function` that its role's policies (`identity`, and the AWS managed
/// policies it `attached`) or the environment's permissions boundary do not allow: what is
/// allowed is their intersection.
pub fn boundary_coverage(
    table: &DeployPermissions,
    function: &str,
    identity: &[PolicyDocument],
    attached: &BTreeSet<String>,
    boundary: &PolicyDocument,
    iam: &IamDefinitions,
) -> Vec<Violation> {
    let role = Role::Function(function.to_owned());
    let calls = table.calls(&role);
    let mut violations = Vec::new();
    if calls.is_empty() {
        violations.push(violation(
            BOUNDARY,
            format!("function {function}"),
            "the table lists no runtime calls for this function",
        ));
    }
    for call in &calls {
        let allowed =
            |policy: &PolicyDocument| matches!(policy.decide(&request(&call.own)), Decision::Allowed(_));
        if let Some(managed) = &call.managed_policy {
            if !attached.contains(managed) {
                violations.push(violation(
                    BOUNDARY,
                    call.own.location.clone(),
                    &format!("the {function} role does not attach {managed}, which grants it"),
                ));
            }
        } else if !identity.iter().any(allowed) {
            violations.push(violation(
                BOUNDARY,
                call.own.location.clone(),
                &format!("no policy of the {function} role allows it"),
            ));
        }
        let mut by_boundary = Vec::new();
        check_allowed(BOUNDARY, &call.own, boundary, iam, &mut by_boundary);
        for mut found in by_boundary {
            found.message = format!("the permissions boundary: {}", found.message);
            violations.push(found);
        }
    }
    violations
}

fn request(call: &Resolved) -> Request<'_> {
    Request {
        action: &call.action,
        resource: &call.arn,
        context: &call.context,
    }
}

/// `call` must be a real action on an ARN of its resource types, allowed by `policy` with only
/// condition keys IAM evaluates for it.
fn check_allowed(
    rule: &'static str,
    call: &Resolved,
    policy: &PolicyDocument,
    iam: &IamDefinitions,
    violations: &mut Vec<Violation>,
) {
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
    match policy.decide(&request(call)) {
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

/// Every condition of a deny statement must be a key IAM evaluates for each action it lists:
/// a deny on a key the request never carries never applies.
pub fn deny_conditions(role: &Role, policy: &PolicyDocument, iam: &IamDefinitions) -> Vec<Violation> {
    let mut violations = Vec::new();
    for statement in policy.statements.iter().filter(|s| s.effect == Effect::Deny) {
        for action in &statement.actions {
            if !iam.knows(action) {
                continue;
            }
            for condition in &statement.conditions {
                if !iam.supports_condition_key(action, "*", &condition.variable)
                    && !statement
                        .resources
                        .iter()
                        .any(|resource| iam.supports_condition_key(action, resource, &condition.variable))
                {
                    violations.push(violation(
                        least_privilege_rule(role),
                        format!("{role} role, statement {}", statement.sid),
                        &format!(
                            "denies {action} on condition {}, a key IAM never evaluates for it: the deny never applies",
                            condition.variable
                        ),
                    ));
                }
            }
        }
    }
    violations
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
    /// The deploy role's ARN.
    pub deploy_role: String,
    /// The permissions boundary's ARN.
    pub boundary: String,
    /// A function role's ARN.
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
            let mut context =
                RequestContext::from([("iam:PolicyARN".to_owned(), vec![managed_policy.clone()])]);
            if let Some(boundary) = boundary {
                context.insert("iam:PermissionsBoundary".to_owned(), vec![boundary.clone()]);
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
            if let Some((target, _)) = terraform_config::string_attribute(call.body(), "source")
                .and_then(|source| tree.resolve_dir(dir, source))
            {
                pending.push(target.as_path());
            }
        }
    }
    types
}

/// What bootstrap's policies are evaluated with: its variables, locals, `each.key` and the
/// attributes they refer to, from the sample. `Account::Shared` is the default set-up (every
/// environment in one account); `Account::Own` bootstraps an account for the sample's
/// environment alone.
pub fn bootstrap_context(
    bootstrap: &Module,
    table: &DeployPermissions,
    account_setup: Account,
) -> Result<Context<'static>, TerraformError> {
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
        "state_bucket_prefix".to_owned(),
        Value::from(sample("state_bucket_prefix")?),
    );
    variables.insert(
        "github_repository".to_owned(),
        Value::from(sample("github_repository")?),
    );
    variables.insert(
        "stripe_event_bus_names".to_owned(),
        object([(
            environment.as_str(),
            Value::from(table.fill("aws.partner/stripe.com/{stripe_bus}")),
        )]),
    );
    if account_setup == Account::Own {
        variables.insert(
            "environments".to_owned(),
            Value::Array(vec![Value::from(environment.clone())]),
        );
    }
    let mut context = terraform_functions();
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
    // Terraform's `path.module`, for the `file()` the policies read the table with.
    context.declare_var(
        "path",
        object([("module", Value::from(bootstrap.dir().display().to_string()))]),
    );
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
                environment.as_str(),
                object([(
                    "arn",
                    Value::from(table.fill("arn:{partition}:s3:::{state_bucket_prefix}-{environment}")),
                )]),
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
) -> Result<String, TerraformError> {
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
) -> Result<PolicyDocument, TerraformError> {
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
