//! IAM, offline: the actions, resource types and condition keys of every AWS service
//! (`parliament`'s `iam_definition.json`), policy documents rendered from
//! `data "aws_iam_policy_document"` blocks (`policy`), and how IAM decides a request against one
//! (`policy`, `condition`).

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use serde::Deserialize;

mod condition;
mod policy;

pub use condition::{Base, Condition, Operator, Pattern, Qualifier, RequestContext};
pub use policy::{Decision, Effect, PolicyDocument, Request, Statement, glob};

/// Why IAM's data or a policy could not be read.
#[derive(Debug, thiserror::Error)]
pub enum IamError {
    /// The action and condition-key data could not be read.
    #[error("cannot read the IAM definitions {path}: {detail}")]
    Read {
        /// The file.
        path: String,
        /// What went wrong.
        detail: String,
    },
    /// A policy document could not be rendered.
    #[error("cannot render policy document {document}: {detail}")]
    Render {
        /// The `aws_iam_policy_document`'s name.
        document: String,
        /// What could not be rendered.
        detail: String,
    },
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
    access_level: AccessLevel,
    resource_types: Vec<RawResourceType>,
}

/// What an action does, as the IAM reference classifies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum AccessLevel {
    /// Lists resources.
    List,
    /// Reads a resource.
    Read,
    /// Changes a resource.
    Write,
    /// Changes tags only.
    Tagging,
    /// Changes who may do what.
    #[serde(rename = "Permissions management")]
    PermissionsManagement,
}

impl AccessLevel {
    /// Whether the action only reads.
    pub fn reads(self) -> bool {
        matches!(self, Self::List | Self::Read)
    }
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
    access_level: AccessLevel,
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
    /// Reads parliament's `iam_definition.json` at `path`.
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
                                access_level: privilege.access_level,
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

    /// Whether IAM has the action.
    pub fn knows(&self, action: &str) -> bool {
        self.lookup(action).is_some()
    }

    /// The action's access level.
    pub fn access_level(&self, action: &str) -> Option<AccessLevel> {
        self.lookup(action).map(|(_, definition)| definition.access_level)
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
    /// keys, its resource type's, and the global `aws:` keys. The tag keys (`aws:RequestTag/`,
    /// `aws:ResourceTag/`, `aws:TagKeys`) are not global: the reference lists them per action
    /// and resource type.
    pub fn supports_condition_key(&self, action: &str, arn: &str, key: &str) -> bool {
        let lower = key.to_ascii_lowercase();
        let tag_key = ["aws:requesttag/", "aws:resourcetag/", "aws:tagkeys"]
            .iter()
            .any(|prefix| lower.starts_with(prefix));
        if lower.starts_with("aws:") && !tag_key {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
