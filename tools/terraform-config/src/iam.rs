//! IAM, offline: the actions, resource types and condition keys of every AWS service
//! (`parliament`'s `iam_definition.json`), policy documents rendered from
//! `data "aws_iam_policy_document"` blocks, and how IAM decides a request against one.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use hcl::eval::{Context, Evaluate};
use hcl::{Block, Body, Value};
use serde::Deserialize;

use crate::{attribute, label, nested_blocks};

#[derive(Debug, thiserror::Error)]
pub enum IamError {
    #[error("cannot read the IAM definitions {path}: {detail}")]
    Read { path: String, detail: String },
    #[error("cannot render policy document {document}: {detail}")]
    Render { document: String, detail: String },
}

/// Every service's actions, resource types and condition keys.
#[derive(Debug)]
pub struct IamDefinitions {
    services: HashMap<String, Service>,
}

#[derive(Debug, Deserialize)]
struct RawService {
    prefix: String,
    privileges: Vec<RawPrivilege>,
    resources: Vec<RawResource>,
}

#[derive(Debug, Deserialize)]
struct RawPrivilege {
    privilege: String,
    resource_types: Vec<RawResourceType>,
}

#[derive(Debug, Deserialize)]
struct RawResourceType {
    resource_type: String,
    condition_keys: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct RawResource {
    resource: String,
    arn: String,
    condition_keys: Vec<String>,
}

#[derive(Debug)]
struct Service {
    /// By lowercase action name.
    actions: HashMap<String, Action>,
    /// By resource type name.
    resources: HashMap<String, ResourceType>,
}

#[derive(Debug)]
struct Action {
    /// Resource types the action applies to (without the `*` that marks a required one).
    resource_types: Vec<String>,
    /// Condition keys of the action itself, and of each resource type for it.
    condition_keys: BTreeSet<String>,
}

#[derive(Debug)]
struct ResourceType {
    arn_format: String,
    condition_keys: Vec<String>,
}

impl IamDefinitions {
    pub fn load(path: &Path) -> Result<Self, IamError> {
        let read_error = |detail: String| IamError::Read {
            path: path.display().to_string(),
            detail,
        };
        let text = std::fs::read_to_string(path).map_err(|error| read_error(error.to_string()))?;
        let raw: Vec<RawService> =
            serde_json::from_str(&text).map_err(|error| read_error(error.to_string()))?;
        let services = raw
            .into_iter()
            .map(|service| {
                let actions = service
                    .privileges
                    .into_iter()
                    .map(|privilege| {
                        let mut resource_types = Vec::new();
                        let mut condition_keys = BTreeSet::new();
                        for entry in privilege.resource_types {
                            condition_keys.extend(entry.condition_keys);
                            let name = entry.resource_type.trim_end_matches('*');
                            if !name.is_empty() {
                                resource_types.push(name.to_owned());
                            }
                        }
                        (
                            privilege.privilege.to_ascii_lowercase(),
                            Action {
                                resource_types,
                                condition_keys,
                            },
                        )
                    })
                    .collect();
                let resources = service
                    .resources
                    .into_iter()
                    .map(|resource| {
                        (
                            resource.resource,
                            ResourceType {
                                arn_format: resource.arn,
                                condition_keys: resource.condition_keys,
                            },
                        )
                    })
                    .collect();
                (
                    service.prefix.to_ascii_lowercase(),
                    Service { actions, resources },
                )
            })
            .collect();
        Ok(Self { services })
    }

    fn lookup(&self, action: &str) -> Option<(&Service, &Action)> {
        let (prefix, name) = action.split_once(':')?;
        let service = self.services.get(&prefix.to_ascii_lowercase())?;
        Some((service, service.actions.get(&name.to_ascii_lowercase())?))
    }

    pub fn knows(&self, action: &str) -> bool {
        self.lookup(action).is_some()
    }

    /// The resource types of `action` whose ARN format `arn` fits; `*` fits an action that has
    /// no resource type (IAM then authorises it on `*` only).
    pub fn resource_types_for(&self, action: &str, arn: &str) -> Option<Vec<String>> {
        let (service, definition) = self.lookup(action)?;
        if arn == "*" {
            return definition.resource_types.is_empty().then(Vec::new);
        }
        let fitting: Vec<String> = definition
            .resource_types
            .iter()
            .filter(|name| {
                service
                    .resources
                    .get(*name)
                    .is_some_and(|resource| arn_fits(&resource.arn_format, arn))
            })
            .cloned()
            .collect();
        (!fitting.is_empty()).then_some(fitting)
    }

    /// Whether a request for `action` on `arn` carries condition key `key`: the action's own
    /// keys, its resource type's, and the global `aws:` keys.
    pub fn supports_condition_key(&self, action: &str, arn: &str, key: &str) -> bool {
        if key.to_ascii_lowercase().starts_with("aws:") {
            return true;
        }
        let Some((service, definition)) = self.lookup(action) else {
            return false;
        };
        let resource_keys = self
            .resource_types_for(action, arn)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|name| service.resources.get(&name))
            .flat_map(|resource| resource.condition_keys.iter());
        definition
            .condition_keys
            .iter()
            .chain(resource_keys)
            .any(|supported| condition_key_matches(supported, key))
    }
}

/// `arn:${Partition}:lambda:${Region}:${Account}:function:${FunctionName}` against an ARN: each
/// placeholder is one or more characters without `:`, but the last may hold anything.
fn arn_fits(format: &str, arn: &str) -> bool {
    let mut pattern = String::new();
    let mut rest = format;
    while let Some(start) = rest.find("${") {
        pattern.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else {
            return false;
        };
        rest = &rest[start + end + 1..];
        pattern.push(if rest.is_empty() { '\u{1}' } else { '\u{2}' });
    }
    pattern.push_str(rest);
    fits(pattern.as_bytes(), arn.as_bytes())
}

/// `\u{1}`: one or more of anything; `\u{2}`: zero or more characters that are not `:` (ARN
/// formats allow an empty region or account, as in `arn:aws:s3:::bucket`).
fn fits(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((1, rest)) => rest.is_empty() && !text.is_empty(),
        Some((2, rest)) => (0..=text.len())
            .take_while(|&n| n == 0 || text[n - 1] != b':')
            .any(|n| fits(rest, &text[n..])),
        Some((c, rest)) => text.first() == Some(c) && fits(rest, &text[1..]),
    }
}

/// `aws:RequestTag/${TagKey}` matches `aws:RequestTag/Project`; keys compare ignoring case.
fn condition_key_matches(supported: &str, key: &str) -> bool {
    match supported.split_once("${") {
        Some((prefix, _)) => key.to_ascii_lowercase().starts_with(&prefix.to_ascii_lowercase()),
        None => supported.eq_ignore_ascii_case(key),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub test: String,
    pub variable: String,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sid: String,
    pub effect: Effect,
    pub actions: Vec<String>,
    pub not_actions: Vec<String>,
    pub resources: Vec<String>,
    pub not_resources: Vec<String>,
    pub conditions: Vec<Condition>,
}

/// A request: an action on a resource, with the condition keys it carries.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub action: &'a str,
    pub resource: &'a str,
    pub context: &'a BTreeMap<String, String>,
}

/// What IAM decides for a request against one identity policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Allowed, by these statements.
    Allowed(Vec<String>),
    /// An explicit deny matched.
    Denied(String),
    /// Nothing allows it.
    NotAllowed,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyDocument {
    pub statements: Vec<Statement>,
}

impl Statement {
    /// Whether the statement's action and resource lists cover the request, conditions aside.
    pub fn covers(&self, action: &str, resource: &str) -> bool {
        let action_listed = |patterns: &[String]| {
            patterns
                .iter()
                .any(|p| glob(&p.to_ascii_lowercase(), &action.to_ascii_lowercase()))
        };
        let resource_listed = |patterns: &[String]| patterns.iter().any(|p| glob(p, resource));
        let action_ok = if self.not_actions.is_empty() {
            action_listed(&self.actions)
        } else {
            !action_listed(&self.not_actions)
        };
        let resource_ok = if self.not_resources.is_empty() {
            resource_listed(&self.resources)
        } else {
            !resource_listed(&self.not_resources)
        };
        action_ok && resource_ok
    }

    /// Whether every condition holds for `context`.
    pub fn conditions_hold(&self, context: &BTreeMap<String, String>) -> bool {
        self.conditions.iter().all(|condition| condition.holds(context))
    }
}

impl Condition {
    fn holds(&self, context: &BTreeMap<String, String>) -> bool {
        let value = context
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(&self.variable))
            .map(|(_, value)| value.as_str());
        let (test, if_exists) = match self.test.strip_suffix("IfExists") {
            Some(test) => (test, true),
            None => (self.test.as_str(), false),
        };
        if test == "Null" {
            let absent = value.is_none();
            return self.values.iter().any(|v| (v == "true") == absent);
        }
        let Some(value) = value else {
            // A missing key matches no positive operator and every negated one.
            return if_exists || test.contains("Not");
        };
        let any = |matches: &dyn Fn(&str) -> bool| self.values.iter().any(|v| matches(v));
        match test {
            "StringEquals" | "ArnEquals" => any(&|v| v == value),
            "StringEqualsIgnoreCase" => any(&|v| v.eq_ignore_ascii_case(value)),
            "StringLike" | "ArnLike" => any(&|v| glob(v, value)),
            "StringNotEquals" | "ArnNotEquals" => !any(&|v| v == value),
            "StringNotLike" | "ArnNotLike" => !any(&|v| glob(v, value)),
            "Bool" => any(&|v| v.eq_ignore_ascii_case(value)),
            // An operator this evaluator does not know never grants anything.
            _ => false,
        }
    }
}

impl PolicyDocument {
    pub fn decide(&self, request: &Request<'_>) -> Decision {
        let matching = |effect: Effect| {
            self.statements.iter().filter(move |statement| {
                statement.effect == effect
                    && statement.covers(request.action, request.resource)
                    && statement.conditions_hold(request.context)
            })
        };
        if let Some(deny) = matching(Effect::Deny).next() {
            return Decision::Denied(deny.sid.clone());
        }
        let allowing: Vec<String> = matching(Effect::Allow).map(|s| s.sid.clone()).collect();
        if allowing.is_empty() {
            Decision::NotAllowed
        } else {
            Decision::Allowed(allowing)
        }
    }

    /// Whether some context could get `action` on `resource` allowed: an allow covers it
    /// (whatever its conditions) and no unconditional deny does.
    pub fn could_allow(&self, action: &str, resource: &str) -> bool {
        let covering = |effect: Effect| {
            self.statements
                .iter()
                .filter(move |s| s.effect == effect && s.covers(action, resource))
        };
        covering(Effect::Allow).next().is_some() && !covering(Effect::Deny).any(|s| s.conditions.is_empty())
    }

    pub fn statement(&self, sid: &str) -> Option<&Statement> {
        self.statements.iter().find(|statement| statement.sid == sid)
    }

    /// Renders `data "aws_iam_policy_document" "<name>"` of `blocks`, evaluating every value in
    /// `context` (variables, locals, `each`, the attributes it refers to).
    pub fn render(block: &Block, context: &Context) -> Result<Self, IamError> {
        let document = format!(
            "data.aws_iam_policy_document.{}",
            label(block, 1).unwrap_or_default()
        );
        let fail = |detail: String| IamError::Render {
            document: document.clone(),
            detail,
        };
        let mut statements = Vec::new();
        for (index, statement) in nested_blocks(block.body(), "statement").enumerate() {
            if statement.identifier() == "dynamic" {
                let for_each = attribute(statement.body(), "for_each")
                    .ok_or_else(|| fail("a dynamic statement has no for_each".to_owned()))?
                    .evaluate(context)
                    .map_err(|error| fail(error.to_string()))?;
                let items: Vec<Value> = match for_each {
                    Value::Array(items) => items,
                    Value::Object(map) => map.into_values().collect(),
                    other => return Err(fail(format!("for_each is {other}"))),
                };
                let content = nested_blocks(statement.body(), "content")
                    .next()
                    .ok_or_else(|| fail("a dynamic statement has no content".to_owned()))?;
                for item in items {
                    let mut inner = context.clone();
                    let mut iterator = hcl::Map::new();
                    iterator.insert("value".to_owned(), item);
                    inner.declare_var("statement", Value::Object(iterator));
                    statements.push(render_statement(content.body(), index, &inner).map_err(&fail)?);
                }
            } else {
                statements.push(render_statement(statement.body(), index, context).map_err(&fail)?);
            }
        }
        Ok(Self { statements })
    }
}

fn render_statement(body: &Body, index: usize, context: &Context) -> Result<Statement, String> {
    let string = |key: &str| -> Result<Option<String>, String> {
        attribute(body, key)
            .map(|expression| match expression.evaluate(context) {
                Ok(Value::String(text)) => Ok(text),
                Ok(other) => Err(format!("{key} is {other}, not a string")),
                Err(error) => Err(format!("{key}: {error}")),
            })
            .transpose()
    };
    let strings = |body: &Body, key: &str| -> Result<Vec<String>, String> {
        match attribute(body, key).map(|expression| expression.evaluate(context)) {
            None => Ok(Vec::new()),
            Some(Ok(Value::Array(items))) => items
                .into_iter()
                .map(|item| match item {
                    Value::String(text) => Ok(text),
                    other => Err(format!("{key} holds {other}, not a string")),
                })
                .collect(),
            Some(Ok(other)) => Err(format!("{key} is {other}, not a list")),
            Some(Err(error)) => Err(format!("{key}: {error}")),
        }
    };
    let effect = match string("effect")?.as_deref() {
        None | Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        Some(other) => return Err(format!("effect {other:?}")),
    };
    let conditions = nested_blocks(body, "condition")
        .map(|condition| {
            let text = |key: &str| match attribute(condition.body(), key).map(|e| e.evaluate(context)) {
                Some(Ok(Value::String(text))) => Ok(text),
                _ => Err(format!("condition {key} is not a string")),
            };
            Ok(Condition {
                test: text("test")?,
                variable: text("variable")?,
                values: strings(condition.body(), "values")?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Statement {
        sid: string("sid")?.unwrap_or_else(|| format!("statement {index}")),
        effect,
        actions: strings(body, "actions")?,
        not_actions: strings(body, "not_actions")?,
        resources: strings(body, "resources")?,
        not_resources: strings(body, "not_resources")?,
        conditions,
    })
}

/// IAM's wildcard match: `*` any run of characters, `?` any one.
pub fn glob(pattern: &str, text: &str) -> bool {
    fn matches(pattern: &[u8], text: &[u8]) -> bool {
        match pattern.split_first() {
            None => text.is_empty(),
            Some((b'*', rest)) => (0..=text.len()).any(|n| matches(rest, &text[n..])),
            Some((b'?', rest)) => !text.is_empty() && matches(rest, &text[1..]),
            Some((c, rest)) => text.first() == Some(c) && matches(rest, &text[1..]),
        }
    }
    matches(pattern.as_bytes(), text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement(
        effect: Effect,
        actions: &[&str],
        resources: &[&str],
        conditions: Vec<Condition>,
    ) -> Statement {
        Statement {
            sid: "s".to_owned(),
            effect,
            actions: actions.iter().map(|a| a.to_string()).collect(),
            not_actions: Vec::new(),
            resources: resources.iter().map(|r| r.to_string()).collect(),
            not_resources: Vec::new(),
            conditions,
        }
    }

    #[test]
    fn arn_formats_fit_their_arns() {
        let function = "arn:${Partition}:lambda:${Region}:${Account}:function:${FunctionName}";
        assert!(arn_fits(function, "arn:aws:lambda:eu-west-1:1:function:f"));
        assert!(!arn_fits(function, "arn:aws:lambda:eu-west-1:1:layer:f"));
        assert!(arn_fits(
            "arn:${Partition}:s3:::${BucketName}",
            "arn:aws:s3:::bucket"
        ));
        assert!(arn_fits(
            "arn:${Partition}:iam::${Account}:role/${RoleNameWithPath}",
            "arn:aws:iam::1:role/webhooks/dev/r"
        ));
    }

    #[test]
    fn conditions_follow_iam() {
        let context = BTreeMap::from([("iam:PermissionsBoundary".to_owned(), "arn:b".to_owned())]);
        let empty = BTreeMap::new();
        let equals = |values: &[&str]| Condition {
            test: "StringEquals".to_owned(),
            variable: "iam:PermissionsBoundary".to_owned(),
            values: values.iter().map(|v| v.to_string()).collect(),
        };
        assert!(equals(&["arn:b"]).holds(&context));
        assert!(
            !equals(&["arn:b"]).holds(&empty),
            "a missing key matches no positive operator"
        );
        let not_equals = Condition {
            test: "StringNotEquals".to_owned(),
            ..equals(&["arn:b"])
        };
        assert!(not_equals.holds(&empty), "and every negated one");
        assert!(!not_equals.holds(&context));
    }

    #[test]
    fn an_explicit_deny_wins() {
        let policy = PolicyDocument {
            statements: vec![
                statement(
                    Effect::Allow,
                    &["iam:*Role*"],
                    &["arn:aws:iam::1:role/*"],
                    Vec::new(),
                ),
                statement(
                    Effect::Deny,
                    &["iam:PutRolePolicy"],
                    &["arn:aws:iam::1:role/deploy"],
                    Vec::new(),
                ),
            ],
        };
        let context = BTreeMap::new();
        let request = |resource| Request {
            action: "iam:putrolepolicy",
            resource,
            context: &context,
        };
        assert!(matches!(
            policy.decide(&request("arn:aws:iam::1:role/f")),
            Decision::Allowed(_)
        ));
        assert!(matches!(
            policy.decide(&request("arn:aws:iam::1:role/deploy")),
            Decision::Denied(_)
        ));
        assert!(!policy.could_allow("iam:PutRolePolicy", "arn:aws:iam::1:role/deploy"));
    }
}
