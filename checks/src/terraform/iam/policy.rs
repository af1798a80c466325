//! Policy documents rendered from `data "aws_iam_policy_document"` blocks, and how IAM decides a
//! request against one (explicit deny, then any allow, else not allowed).

use hcl::eval::{Context, Evaluate};
use hcl::{Block, Body, Value};

use super::IamError;
use super::condition::{Condition, Operator, Pattern, RequestContext};
use terraform_config::{attribute, label, nested_blocks};

/// Whether a statement allows or denies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// `Allow`.
    Allow,
    /// `Deny`.
    Deny,
}

/// One statement of a policy document, rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// Its `Sid`.
    pub sid: String,
    /// Its effect.
    pub effect: Effect,
    /// `Action`.
    pub actions: Vec<String>,
    /// `NotAction`.
    pub not_actions: Vec<String>,
    /// `Resource`.
    pub resources: Vec<String>,
    /// `NotResource`.
    pub not_resources: Vec<String>,
    /// Every condition; all must hold.
    pub conditions: Vec<Condition>,
}

/// A request: an action on a resource, with the condition keys it carries.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The IAM action.
    pub action: &'a str,
    /// The resource's ARN, or `*`.
    pub resource: &'a str,
    /// The request's context keys.
    pub context: &'a RequestContext,
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

/// A rendered policy document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyDocument {
    /// Its statements, in order.
    pub statements: Vec<Statement>,
}

impl Statement {
    /// Whether the statement's action and resource lists cover the request for some request
    /// context (a policy variable may be anything), conditions aside.
    pub fn covers(&self, action: &str, resource: &str) -> bool {
        self.action_listed(action) && self.resource_listed(resource, None)
    }

    /// Whether the statement applies to `request`: action, resource (policy variables resolved
    /// from its context) and every condition.
    pub fn applies(&self, request: &Request<'_>) -> bool {
        self.action_listed(request.action)
            && self.resource_listed(request.resource, Some(request.context))
            && self
                .conditions
                .iter()
                .all(|condition| condition.holds(request.context))
    }

    fn action_listed(&self, action: &str) -> bool {
        let listed = |patterns: &[String]| {
            patterns.iter().any(|pattern| {
                Pattern::compile(pattern, None).is_some_and(|p| p.matches_ignoring_case(action))
            })
        };
        if self.not_actions.is_empty() {
            listed(&self.actions)
        } else {
            !listed(&self.not_actions)
        }
    }

    fn resource_listed(&self, resource: &str, context: Option<&RequestContext>) -> bool {
        let listed = |patterns: &[String]| {
            patterns
                .iter()
                .any(|pattern| Pattern::compile(pattern, context).is_some_and(|p| p.matches(resource)))
        };
        if self.not_resources.is_empty() {
            listed(&self.resources)
        } else {
            !listed(&self.not_resources)
        }
    }
}

impl PolicyDocument {
    /// What IAM would decide for `request`: an explicit deny wins, then any allow.
    pub fn decide(&self, request: &Request<'_>) -> Decision {
        let matching = |effect: Effect| {
            self.statements
                .iter()
                .filter(move |statement| statement.effect == effect && statement.applies(request))
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

    /// The statement with this `Sid`.
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
                let items: Vec<(Value, Value)> = match for_each {
                    Value::Array(items) => items.into_iter().map(|item| (item.clone(), item)).collect(),
                    Value::Object(map) => map
                        .into_iter()
                        .map(|(key, value)| (Value::from(key), value))
                        .collect(),
                    other => return Err(fail(format!("for_each is {other}"))),
                };
                let content = nested_blocks(statement.body(), "content")
                    .next()
                    .ok_or_else(|| fail("a dynamic statement has no content".to_owned()))?;
                for (key, value) in items {
                    let mut inner = context.clone();
                    let mut iterator = hcl::Map::new();
                    iterator.insert("key".to_owned(), key);
                    iterator.insert("value".to_owned(), value);
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

/// The AWS provider writes `&{...}` in HCL for IAM's `${...}` (which HCL would interpolate).
fn policy_variables(text: String) -> String {
    text.replace("&{", "${")
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
                    Value::String(text) => Ok(policy_variables(text)),
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
                operator: Operator::parse(&text("test")?)?,
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
    Pattern::compile(pattern, None).is_some_and(|pattern| pattern.matches(text))
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

    fn condition(operator: &str, variable: &str, values: &[&str]) -> Condition {
        Condition {
            operator: Operator::parse(operator).unwrap_or_else(|error| panic!("{error}")),
            variable: variable.to_owned(),
            values: values.iter().map(|v| v.to_string()).collect(),
        }
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
        let context = RequestContext::new();
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

    #[test]
    fn a_deny_with_a_set_qualifier_is_not_ignored() {
        let policy = PolicyDocument {
            statements: vec![
                statement(Effect::Allow, &["lambda:*"], &["*"], Vec::new()),
                statement(
                    Effect::Deny,
                    &["lambda:UntagResource"],
                    &["*"],
                    vec![condition(
                        "ForAnyValue:StringEquals",
                        "aws:TagKeys",
                        &["Environment"],
                    )],
                ),
            ],
        };
        let context = RequestContext::from([(
            "aws:TagKeys".to_owned(),
            vec!["Project".to_owned(), "Environment".to_owned()],
        )]);
        let request = Request {
            action: "lambda:UntagResource",
            resource: "arn:aws:lambda:eu-west-1:1:function:f",
            context: &context,
        };
        assert!(matches!(policy.decide(&request), Decision::Denied(_)));
    }

    #[test]
    fn a_resource_with_a_policy_variable_resolves_from_the_request() {
        let policy = PolicyDocument {
            statements: vec![statement(
                Effect::Allow,
                &["sqs:SendMessage"],
                &["arn:aws:sqs:eu-west-1:1:${aws:PrincipalTag/Environment}-*"],
                Vec::new(),
            )],
        };
        let dev = RequestContext::from([("aws:PrincipalTag/Environment".to_owned(), vec!["dev".to_owned()])]);
        let none = RequestContext::new();
        let request = |context| Request {
            action: "sqs:SendMessage",
            resource: "arn:aws:sqs:eu-west-1:1:dev-events",
            context,
        };
        assert!(matches!(policy.decide(&request(&dev)), Decision::Allowed(_)));
        assert_eq!(policy.decide(&request(&none)), Decision::NotAllowed);
        assert!(policy.could_allow("sqs:SendMessage", "arn:aws:sqs:eu-west-1:1:prod-events"));
    }
}
