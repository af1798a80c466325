//! `terraform/bootstrap/deploy-permissions.json`: every IAM call each of the project's roles
//! makes, on sample ARNs, so that the policies can be checked offline. Each call is resolved for
//! its own environment (the sample) and for each way a request could reach another environment
//! (`elsewhere`: the other environment's resources, this environment's names on the other's
//! Stripe bus, ...).

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::Deserialize;

use super::iam::RequestContext;
use terraform_config::TerraformError;

/// `terraform/bootstrap/deploy-permissions.json`: every call each role makes, by resource type and by command.
#[derive(Debug, Deserialize)]
pub struct DeployPermissions {
    /// Values for the `{placeholders}` of every ARN and context value.
    pub sample: BTreeMap<String, String>,
    /// Placeholder values that make a request another environment's, one set per way.
    pub elsewhere: Vec<Elsewhere>,
    /// One row per resource and data source type the environments use.
    pub types: Vec<TypeRow>,
    /// What the state backend is asked.
    pub state: StateRows,
    /// What the post-deploy smoke test calls, with its own role.
    pub smoke: Operation,
    /// What an operator's commands call (`make trace`, `make redrive`).
    pub operator: Operation,
    /// What each function's code calls at run time (and Lambda, for the worker's event source
    /// mapping, with the function's role).
    pub functions: Vec<FunctionCalls>,
}

/// One way a request reaches another environment.
#[derive(Debug, Deserialize)]
pub struct Elsewhere {
    /// Which way, in words.
    pub why: String,
    /// The placeholder values that make it so.
    #[serde(flatten)]
    pub values: BTreeMap<String, String>,
}

/// What the AWS provider calls for one resource or data source type.
#[derive(Debug, Deserialize)]
pub struct TypeRow {
    /// A resource type, or `data.<type>` for a data source.
    #[serde(rename = "type")]
    pub kind: String,
    /// A sample ARN, with `{placeholders}`.
    pub arn: String,
    /// The provider source file the calls come from.
    pub source: String,
    /// Calls to create it.
    pub create: Vec<Call>,
    /// Calls to read it (every plan makes them).
    pub read: Vec<Call>,
    /// Calls to update it.
    pub update: Vec<Call>,
    /// Calls to delete it.
    pub delete: Vec<Call>,
    /// Calls to tag and untag it.
    pub tag: Vec<Call>,
    /// Calls to read its tags.
    pub list_tags: Vec<Call>,
}

/// The state bucket's calls.
#[derive(Debug, Deserialize)]
pub struct StateRows {
    /// Where they come from.
    pub source: String,
    /// What an apply does to the state.
    pub apply: Vec<Call>,
    /// What a plan does: read the state (also when there is none yet), hold its lock.
    pub plan: Vec<Call>,
    /// What a plan must never do.
    pub plan_must_not: Vec<Call>,
}

/// Calls made outside Terraform.
#[derive(Debug, Deserialize)]
pub struct Operation {
    /// Where they come from.
    pub source: String,
    /// The calls.
    pub actions: Vec<Call>,
}

/// What one function's code calls at run time.
#[derive(Debug, Deserialize)]
pub struct FunctionCalls {
    /// The function's name without the `<project>-<env>-` prefix.
    pub function: String,
    /// Where they come from.
    pub source: String,
    /// The calls.
    pub actions: Vec<Call>,
}

/// One IAM action: on the row's ARN without request context, or spelled out.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Call {
    /// An action on the row's ARN, without request context.
    Action(String),
    /// An action spelled out.
    Detailed {
        /// The IAM action.
        action: String,
        /// The resource's ARN, if not the row's.
        arn: Option<String>,
        /// The request context keys it carries.
        #[serde(default)]
        context: BTreeMap<String, ContextValues>,
        /// Granted only to an environment with its account to itself: IAM cannot hold the
        /// action to one environment in a shared account (an administrator makes it there).
        #[serde(default)]
        own_account_only: bool,
        /// For a function's call: the AWS managed policy the role attaches for it (its content
        /// is AWS's, not in the offline data).
        managed_policy: Option<String>,
    },
}

/// A context key's value: one string, or a list for a multivalued key.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ContextValues {
    /// A single-valued key's value.
    One(String),
    /// A multivalued key's values.
    Many(Vec<String>),
}

impl ContextValues {
    fn values(&self) -> &[String] {
        match self {
            Self::One(value) => std::slice::from_ref(value),
            Self::Many(values) => values,
        }
    }
}

/// Whose calls: each role the bootstrap creates, and each function's role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// The deploy role (`terraform apply`).
    Deploy,
    /// The plan role (`terraform plan`).
    Plan,
    /// The smoke-test role.
    Smoke,
    /// The operator policy.
    Operator,
    /// A function's role, by the function's short name.
    Function(String),
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Role::Deploy => f.write_str("deploy"),
            Role::Plan => f.write_str("plan"),
            Role::Smoke => f.write_str("smoke"),
            Role::Operator => f.write_str("operator"),
            Role::Function(name) => write!(f, "function {name}"),
        }
    }
}

/// A call resolved against one set of placeholder values: action, ARN, request context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// Where in the table the call is.
    pub location: String,
    /// The IAM action.
    pub action: String,
    /// The resource's ARN.
    pub arn: String,
    /// The request's context keys.
    pub context: RequestContext,
}

/// A call of a role, for its own environment and for every way to another.
#[derive(Debug, Clone)]
pub struct RoleCall {
    /// The call on its own environment's resources.
    pub own: Resolved,
    /// Each `elsewhere` variant, with its reason.
    pub elsewhere: Vec<(String, Resolved)>,
    /// Whether only an environment with an account of its own may make it.
    pub own_account_only: bool,
    /// A write a role must not be allowed (the plan role's).
    pub must_not: bool,
    /// The AWS managed policy that grants it, for a function's call.
    pub managed_policy: Option<String>,
}

impl DeployPermissions {
    /// Reads the table at `path`.
    pub fn load(path: &Path) -> Result<Self, TerraformError> {
        let text = std::fs::read_to_string(path).map_err(|source| TerraformError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|error| TerraformError::Unexpected {
            module: path.display().to_string(),
            what: "the deploy-permissions table".to_owned(),
            detail: error.to_string(),
        })
    }

    /// `text` with every `{placeholder}` of the sample filled in.
    pub fn fill(&self, text: &str) -> String {
        self.fill_with(text, None)
    }

    /// Placeholders may refer to others (`tag_environment` is `{environment}` unless a variant
    /// says otherwise): substitution repeats until nothing changes.
    fn fill_with(&self, text: &str, overrides: Option<&BTreeMap<String, String>>) -> String {
        let mut filled = text.to_owned();
        for _ in 0..=self.sample.len() {
            let next = self.sample.iter().fold(filled.clone(), |text, (key, value)| {
                let value = overrides.and_then(|o| o.get(key)).unwrap_or(value);
                text.replace(&format!("{{{key}}}"), value)
            });
            if next == filled {
                break;
            }
            filled = next;
        }
        filled
    }

    /// The environment the sample values are for.
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

    fn resolve(
        &self,
        call: &Call,
        location: &str,
        row_arn: &str,
        overrides: Option<&BTreeMap<String, String>>,
    ) -> Resolved {
        let fill = |text: &str| self.fill_with(text, overrides);
        let (action, arn, context) = match call {
            Call::Action(action) => (action.clone(), fill(row_arn), RequestContext::new()),
            Call::Detailed {
                action, arn, context, ..
            } => (
                action.clone(),
                fill(arn.as_deref().unwrap_or(row_arn)),
                context
                    .iter()
                    .map(|(key, values)| (key.clone(), values.values().iter().map(|v| fill(v)).collect()))
                    .collect(),
            ),
        };
        Resolved {
            location: format!("{location}: {action} on {arn}"),
            action,
            arn,
            context,
        }
    }

    fn role_call(&self, call: &Call, location: &str, row_arn: &str, must_not: bool) -> RoleCall {
        RoleCall {
            own: self.resolve(call, location, row_arn, None),
            elsewhere: self
                .elsewhere
                .iter()
                .map(|variant| {
                    (
                        variant.why.clone(),
                        self.resolve(call, location, row_arn, Some(&variant.values)),
                    )
                })
                .collect(),
            own_account_only: matches!(
                call,
                Call::Detailed {
                    own_account_only: true,
                    ..
                }
            ),
            must_not,
            managed_policy: match call {
                Call::Detailed { managed_policy, .. } => managed_policy.clone(),
                Call::Action(_) => None,
            },
        }
    }

    /// Every call `role` makes (and, for the plan role, the writes it must not be allowed).
    pub fn calls(&self, role: &Role) -> Vec<RoleCall> {
        let of = |calls: &[Call], location: &str, must_not: bool| -> Vec<RoleCall> {
            calls
                .iter()
                .map(|call| self.role_call(call, location, "", must_not))
                .collect()
        };
        match role {
            Role::Deploy => {
                let mut calls = of(&self.state.apply, "state", false);
                for row in &self.types {
                    for (operation, row_calls) in row.operations() {
                        let location = format!("{} ({operation})", row.kind);
                        calls.extend(
                            row_calls
                                .iter()
                                .map(|call| self.role_call(call, &location, &row.arn, false)),
                        );
                    }
                }
                calls
            }
            Role::Plan => {
                let mut calls = of(&self.state.plan, "state (plan)", false);
                let mut writes = Vec::new();
                for row in &self.types {
                    for (operation, row_calls) in row.operations() {
                        let location = format!("{} ({operation})", row.kind);
                        let reads = matches!(operation, "read" | "list tags");
                        let resolved = row_calls
                            .iter()
                            .map(|call| self.role_call(call, &location, &row.arn, !reads));
                        if reads {
                            calls.extend(resolved);
                        } else {
                            writes.extend(resolved);
                        }
                    }
                }
                // A write that is also a read (API Gateway's GET after a POST) stays allowed.
                writes.retain(|write| {
                    !calls
                        .iter()
                        .any(|read| read.own.action == write.own.action && read.own.arn == write.own.arn)
                });
                calls.extend(writes);
                calls.extend(of(&self.state.plan_must_not, "state (write)", true));
                calls
            }
            Role::Smoke => of(&self.smoke.actions, "smoke test", false),
            Role::Operator => of(&self.operator.actions, "operator", false),
            Role::Function(name) => self
                .functions
                .iter()
                .filter(|function| &function.function == name)
                .flat_map(|function| of(&function.actions, &format!("function {name}"), false))
                .collect(),
        }
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
