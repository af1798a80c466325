//! The AWS provider's schema, offline, and a validation of every `.tf` file against it.
//!
//! The schema comes from the jsii manifest of `@cdktf/provider-aws`, which is generated from the
//! provider's own schema: one `…Config` struct per resource and data source, one struct per
//! nested block, `optional` per property, and each property's docs link ends in `#<argument>`,
//! the exact Terraform name. The validation checks what `terraform validate` would: resource and
//! data source types, every argument and nested block (`dynamic` included), required arguments,
//! references (`var.`, `local.`, `module.X.Y`, resource and data source attributes), and that the
//! schema's provider version meets every `required_providers` constraint.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use hcl::expr::{TemplateExpr, TraversalOperator};
use hcl::template::{Directive, Element, Template};
use hcl::{Block, Body, Expression};
use serde::Deserialize;

use super::rules::Tree;
use crate::Violation;
use terraform_config::{Module, attribute, label, string_attribute};

const RULE: &str = "provider-schema";

/// Why the provider schema could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The schema file could not be read or parsed.
    #[error("cannot read the provider schema {path}: {detail}")]
    Read {
        /// The file.
        path: String,
        /// What went wrong.
        detail: String,
    },
    /// The schema names no provider version.
    #[error("the provider schema {path} names no provider version in its docs links")]
    NoVersion {
        /// The file.
        path: String,
    },
}

/// One argument of a resource, data source, provider or nested block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Argument {
    /// Its name.
    pub name: String,
    /// Whether it must be set.
    pub required: bool,
    /// The nested block's struct, when the argument is a block.
    pub block: Option<String>,
}

/// A resource type, data source or provider: its arguments and what it can be read for.
#[derive(Debug, Clone)]
pub struct Entity {
    config: String,
    attributes: BTreeSet<String>,
}

/// hashicorp/aws's schema, as `@cdktf/provider-aws` records it.
#[derive(Debug)]
pub struct ProviderSchema {
    /// The provider version the manifest was generated from, e.g. `6.25.0`.
    pub version: String,
    resources: BTreeMap<String, Entity>,
    data_sources: BTreeMap<String, Entity>,
    provider: Option<Entity>,
    structs: HashMap<String, Vec<Argument>>,
}

#[derive(Deserialize)]
struct Manifest {
    types: HashMap<String, JsiiType>,
}

#[derive(Deserialize)]
struct JsiiType {
    #[serde(default)]
    base: Option<String>,
    #[serde(default)]
    docs: Docs,
    #[serde(default)]
    properties: Vec<Property>,
}

#[derive(Deserialize, Default)]
struct Docs {
    summary: Option<String>,
    remarks: Option<String>,
}

#[derive(Deserialize)]
struct Property {
    name: String,
    #[serde(default)]
    optional: bool,
    #[serde(default)]
    docs: Docs,
    #[serde(rename = "type")]
    kind: serde_json::Value,
    #[serde(default, rename = "static")]
    is_static: bool,
}

const REGISTRY: &str = "https://registry.terraform.io/providers/";

impl ProviderSchema {
    /// Reads the schema at `path`.
    pub fn load(path: &Path) -> Result<Self, SchemaError> {
        let read_error = |detail: String| SchemaError::Read {
            path: path.display().to_string(),
            detail,
        };
        let bytes = std::fs::read(path).map_err(|error| read_error(error.to_string()))?;
        let manifest: Manifest =
            serde_json::from_slice(&bytes).map_err(|error| read_error(error.to_string()))?;
        Self::from_manifest(manifest).ok_or_else(|| SchemaError::NoVersion {
            path: path.display().to_string(),
        })
    }

    fn from_manifest(manifest: Manifest) -> Option<Self> {
        let mut version = None;
        let mut resources = BTreeMap::new();
        let mut data_sources = BTreeMap::new();
        let mut provider = None;
        let mut structs = HashMap::new();
        for (fqn, jsii) in &manifest.types {
            let entity = || Entity {
                config: format!("{fqn}Config"),
                attributes: jsii
                    .properties
                    .iter()
                    .filter(|property| !property.is_static && !property.name.ends_with("Input"))
                    .map(|property| snake_case(&property.name))
                    .collect(),
            };
            match jsii.base.as_deref() {
                Some("cdktf.TerraformResource") | Some("cdktf.TerraformDataSource") => {
                    let Some((link_version, kind, name)) = jsii.docs.summary.as_deref().and_then(represented)
                    else {
                        continue;
                    };
                    version.get_or_insert(link_version);
                    let target = if kind == "data-sources" {
                        &mut data_sources
                    } else {
                        &mut resources
                    };
                    target.insert(name, entity());
                }
                Some("cdktf.TerraformProvider") => provider = Some(entity()),
                _ => {
                    let arguments: Vec<Argument> = jsii.properties.iter().filter_map(argument).collect();
                    if !arguments.is_empty() {
                        structs.insert(fqn.clone(), arguments);
                    }
                }
            }
        }
        // A resource can be read for its arguments too.
        for entity in resources.values_mut().chain(data_sources.values_mut()) {
            if let Some(arguments) = structs.get(&entity.config) {
                entity.attributes.extend(arguments.iter().map(|a| a.name.clone()));
            }
        }
        Some(Self {
            version: version?,
            resources,
            data_sources,
            provider,
            structs,
        })
    }

    /// A resource type's schema.
    pub fn resource(&self, kind: &str) -> Option<&Entity> {
        self.resources.get(kind)
    }

    /// A data source type's schema.
    pub fn data_source(&self, kind: &str) -> Option<&Entity> {
        self.data_sources.get(kind)
    }

    fn arguments(&self, config: &str) -> &[Argument] {
        self.structs.get(config).map(Vec::as_slice).unwrap_or_default()
    }
}

impl Entity {
    /// Whether it has an argument or attribute named `name`.
    pub fn has_attribute(&self, name: &str) -> bool {
        self.attributes.contains(name)
    }
}

/// `Represents a {@link https://registry.terraform.io/providers/hashicorp/aws/6.25.0/docs/resources/x aws_x}.`
/// as (version, `resources` or `data-sources`, `aws_x`).
fn represented(summary: &str) -> Option<(String, String, String)> {
    let link = &summary[summary.find(REGISTRY)? + REGISTRY.len()..];
    let (url, rest) = link.split_once(' ')?;
    let name = rest.split('}').next()?.trim().to_owned();
    let parts: Vec<&str> = url.split('/').collect();
    // hashicorp / aws / <version> / docs / <kind> / <page>
    match parts.as_slice() {
        [_, _, version, "docs", kind, _] => Some(((*version).to_owned(), (*kind).to_owned(), name)),
        _ => None,
    }
}

/// A struct property as a Terraform argument: its name is the anchor of its docs link.
fn argument(property: &Property) -> Option<Argument> {
    let text = [&property.docs.summary, &property.docs.remarks]
        .into_iter()
        .flatten()
        .find(|text| text.contains(REGISTRY))?;
    let anchor = &text[text.find(REGISTRY)?..];
    let name = anchor.split_once('#')?.1.split(' ').next()?.to_owned();
    let is_block = property
        .docs
        .summary
        .as_deref()
        .is_some_and(|summary| summary == format!("{name} block."));
    Some(Argument {
        name,
        required: !property.optional,
        block: if is_block {
            struct_reference(&property.kind)
        } else {
            None
        },
    })
}

/// The first provider struct a jsii type reference names (through unions and collections).
fn struct_reference(kind: &serde_json::Value) -> Option<String> {
    match kind {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::String(fqn)) = map.get("fqn")
                && !fqn.starts_with("cdktf.")
            {
                return Some(fqn.clone());
            }
            map.values().find_map(struct_reference)
        }
        serde_json::Value::Array(items) => items.iter().find_map(struct_reference),
        _ => None,
    }
}

fn snake_case(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Arguments every resource (or data source) accepts without its schema naming them.
const META_ARGUMENTS: [&str; 4] = ["count", "for_each", "depends_on", "provider"];
const META_BLOCKS: [&str; 3] = ["lifecycle", "provisioner", "connection"];
/// Reference roots that are not declarations.
const BUILTIN_ROOTS: [&str; 5] = ["each", "count", "path", "self", "terraform"];
/// Terraform's own resource type, with its arguments.
const TERRAFORM_DATA: (&str, [&str; 2]) = ("terraform_data", ["input", "triggers_replace"]);

/// Every violation of the provider schema in `tree`.
pub fn check(tree: &Tree, schema: &ProviderSchema) -> Vec<Violation> {
    let mut violations = Vec::new();
    for (dir, module) in tree.modules() {
        let checker = ModuleChecker {
            dir,
            module,
            schema,
            declared: Declarations::of(tree, dir, module),
        };
        checker.check(&mut violations);
    }
    violations
}

/// What a module declares, for its references.
struct Declarations {
    variables: BTreeSet<String>,
    locals: BTreeSet<String>,
    resources: BTreeMap<String, String>,
    data: BTreeMap<String, String>,
    /// Module call name to the outputs its source declares (None: the source is not in the tree).
    modules: BTreeMap<String, Option<BTreeSet<String>>>,
}

impl Declarations {
    fn of(tree: &Tree, dir: &Path, module: &Module) -> Self {
        let named = |identifier: &str| -> BTreeMap<String, String> {
            module
                .blocks_of(identifier)
                .filter_map(|block| {
                    Some((
                        format!("{}.{}", label(block, 0)?, label(block, 1)?),
                        label(block, 0)?.to_owned(),
                    ))
                })
                .collect()
        };
        Self {
            variables: module.variables().into_keys().collect(),
            locals: module
                .blocks_of("locals")
                .flat_map(|block| block.body().attributes().map(|a| a.key().to_owned()))
                .collect(),
            resources: named("resource"),
            data: named("data"),
            modules: module
                .module_calls()
                .into_iter()
                .map(|(name, call)| {
                    let outputs = string_attribute(call.body(), "source")
                        .and_then(|source| tree.resolve(dir, source))
                        .map(|target| {
                            target
                                .blocks_of("output")
                                .filter_map(|block| label(block, 0).map(str::to_owned))
                                .collect()
                        });
                    (name, outputs)
                })
                .collect(),
        }
    }
}

struct ModuleChecker<'a> {
    dir: &'a Path,
    module: &'a Module,
    schema: &'a ProviderSchema,
    declared: Declarations,
}

/// Names bound inside an expression or block (for-expression variables, dynamic iterators).
type Scope = Vec<String>;

impl ModuleChecker<'_> {
    fn check(&self, violations: &mut Vec<Violation>) {
        for block in self.module.blocks().map(|(_, block)| block) {
            let location = self.location(block);
            match block.identifier() {
                "resource" | "data" => self.check_typed(block, &location, violations),
                "provider" if label(block, 0) == Some("aws") => {
                    if let Some(provider) = &self.schema.provider {
                        self.check_body(
                            block.body(),
                            self.schema.arguments(&provider.config),
                            &location,
                            true,
                            violations,
                        );
                    }
                }
                "terraform" => self.check_version_constraints(block, &location, violations),
                _ => {}
            }
            if block.identifier() == "removed" {
                // `from` names what is no longer declared, by design; its lifecycle has no
                // references to check.
                continue;
            }
            if block.identifier() == "variable" {
                // `type` is a type constraint, not an expression with references.
                for attribute in block.body().attributes().filter(|a| a.key() != "type") {
                    self.check_references(attribute.expr(), &Vec::new(), &location, violations);
                }
                for nested in block.body().blocks() {
                    self.check_references_in_body(nested.body(), &Vec::new(), &location, violations);
                }
            } else {
                self.check_references_in_body(block.body(), &Vec::new(), &location, violations);
            }
        }
    }

    fn location(&self, block: &Block) -> String {
        let labels: Vec<&str> = block.labels().iter().map(|label| label.as_str()).collect();
        if labels.is_empty() {
            format!("{}: {}", self.dir.display(), block.identifier())
        } else {
            format!(
                "{}: {} \"{}\"",
                self.dir.display(),
                block.identifier(),
                labels.join("\" \"")
            )
        }
    }

    fn violation(violations: &mut Vec<Violation>, location: &str, message: String) {
        violations.push(Violation {
            rule: RULE,
            location: location.to_owned(),
            message,
        });
    }

    fn check_typed(&self, block: &Block, location: &str, violations: &mut Vec<Violation>) {
        let Some(kind) = label(block, 0) else {
            return;
        };
        let is_data = block.identifier() == "data";
        if !is_data && kind == TERRAFORM_DATA.0 {
            for attribute in block.body().attributes() {
                if !TERRAFORM_DATA.1.contains(&attribute.key()) && !META_ARGUMENTS.contains(&attribute.key())
                {
                    Self::violation(
                        violations,
                        location,
                        format!("terraform_data has no argument `{}`", attribute.key()),
                    );
                }
            }
            return;
        }
        let entity = if is_data {
            self.schema.data_source(kind)
        } else {
            self.schema.resource(kind)
        };
        match entity {
            Some(entity) => self.check_body(
                block.body(),
                self.schema.arguments(&entity.config),
                location,
                true,
                violations,
            ),
            None => Self::violation(
                violations,
                location,
                format!(
                    "hashicorp/aws {} has no {} type `{kind}`",
                    self.schema.version,
                    if is_data { "data source" } else { "resource" }
                ),
            ),
        }
    }

    /// Arguments and nested blocks of `body` against `arguments`; `top` allows the meta-arguments.
    fn check_body(
        &self,
        body: &Body,
        arguments: &[Argument],
        location: &str,
        top: bool,
        violations: &mut Vec<Violation>,
    ) {
        let find = |name: &str| arguments.iter().find(|argument| argument.name == name);
        let mut present: BTreeSet<&str> = BTreeSet::new();
        for attribute in body.attributes() {
            let key = attribute.key();
            present.insert(key);
            match find(key) {
                Some(Argument { block: Some(_), .. }) => Self::violation(
                    violations,
                    location,
                    format!("`{key}` is a nested block: write `{key} {{ ... }}`"),
                ),
                Some(_) => {}
                None if top && META_ARGUMENTS.contains(&key) => {}
                None => Self::violation(
                    violations,
                    location,
                    format!(
                        "argument `{key}` is not in hashicorp/aws {}'s schema here",
                        self.schema.version
                    ),
                ),
            }
        }
        for nested in body.blocks() {
            let (name, content) = match nested.identifier() {
                "dynamic" => {
                    let Some(name) = label(nested, 0) else {
                        continue;
                    };
                    if attribute(nested.body(), "for_each").is_none() {
                        Self::violation(
                            violations,
                            location,
                            format!("dynamic \"{name}\" has no for_each"),
                        );
                    }
                    let content = nested
                        .body()
                        .blocks()
                        .find(|block| block.identifier() == "content");
                    if content.is_none() {
                        Self::violation(
                            violations,
                            location,
                            format!("dynamic \"{name}\" has no content block"),
                        );
                    }
                    (name, content.map(Block::body))
                }
                name => (name, Some(nested.body())),
            };
            present.insert(name);
            match find(name) {
                Some(Argument { block: Some(fqn), .. }) => {
                    if let Some(content) = content {
                        let inner = format!("{location} > {name}");
                        self.check_body(content, self.schema.arguments(fqn), &inner, false, violations);
                    }
                }
                Some(_) => Self::violation(
                    violations,
                    location,
                    format!("`{name}` is an argument, not a block: write `{name} = ...`"),
                ),
                None if top && META_BLOCKS.contains(&name) => {}
                None => Self::violation(
                    violations,
                    location,
                    format!(
                        "block `{name}` is not in hashicorp/aws {}'s schema here",
                        self.schema.version
                    ),
                ),
            }
        }
        for argument in arguments.iter().filter(|argument| argument.required) {
            if !present.contains(argument.name.as_str()) {
                Self::violation(
                    violations,
                    location,
                    format!("the required argument `{}` is missing", argument.name),
                );
            }
        }
    }

    /// `required_providers { aws = { version = "..." } }` must admit the schema's version.
    fn check_version_constraints(&self, block: &Block, location: &str, violations: &mut Vec<Violation>) {
        for required in block
            .body()
            .blocks()
            .filter(|b| b.identifier() == "required_providers")
        {
            let Some(Expression::Object(aws)) = attribute(required.body(), "aws") else {
                continue;
            };
            let constraint =
                aws.iter()
                    .find_map(|(key, value)| match (key.to_string().trim_matches('"'), value) {
                        ("version", Expression::String(text)) => Some(text.clone()),
                        _ => None,
                    });
            match constraint {
                Some(text) if version_satisfies(&self.schema.version, &text) => {}
                Some(text) => Self::violation(
                    violations,
                    location,
                    format!(
                        "the checked provider schema is hashicorp/aws {}, which `version = \"{text}\"` does not admit: update the pinned schema or the constraint together",
                        self.schema.version
                    ),
                ),
                None => Self::violation(
                    violations,
                    location,
                    "required_providers.aws has no version constraint".to_owned(),
                ),
            }
        }
    }

    fn check_references_in_body(
        &self,
        body: &Body,
        scope: &Scope,
        location: &str,
        violations: &mut Vec<Violation>,
    ) {
        for attribute in body.attributes() {
            self.check_references(attribute.expr(), scope, location, violations);
        }
        for nested in body.blocks() {
            if nested.identifier() == "lifecycle" {
                // `ignore_changes` names the resource's own arguments, not references.
                for attribute in nested.body().attributes().filter(|a| a.key() != "ignore_changes") {
                    self.check_references(attribute.expr(), scope, location, violations);
                }
                self.check_references_in_body_blocks(nested.body(), scope, location, violations);
            } else if nested.identifier() == "dynamic" {
                let name = attribute(nested.body(), "iterator")
                    .and_then(|expression| match expression {
                        Expression::Variable(variable) => Some(variable.to_string()),
                        _ => None,
                    })
                    .or_else(|| label(nested, 0).map(str::to_owned));
                for attribute in nested.body().attributes() {
                    self.check_references(attribute.expr(), scope, location, violations);
                }
                let mut inner = scope.clone();
                inner.extend(name);
                for content in nested.body().blocks() {
                    self.check_references_in_body(content.body(), &inner, location, violations);
                }
            } else {
                self.check_references_in_body(nested.body(), scope, location, violations);
            }
        }
    }

    fn check_references_in_body_blocks(
        &self,
        body: &Body,
        scope: &Scope,
        location: &str,
        violations: &mut Vec<Violation>,
    ) {
        for nested in body.blocks() {
            self.check_references_in_body(nested.body(), scope, location, violations);
        }
    }

    fn check_references(
        &self,
        expression: &Expression,
        scope: &Scope,
        location: &str,
        violations: &mut Vec<Violation>,
    ) {
        let mut references = Vec::new();
        collect_references(expression, scope, &mut references);
        for reference in references {
            if let Some(message) = self.unresolved(&reference) {
                Self::violation(violations, location, message);
            }
        }
    }

    /// Why `reference` does not resolve, if it does not.
    fn unresolved(&self, reference: &Reference) -> Option<String> {
        let attrs = reference.attributes();
        let root = reference.root.as_str();
        match root {
            "var" => {
                let name = attrs.first()?;
                (!self.declared.variables.contains(*name))
                    .then(|| format!("var.{name} is not a declared variable"))
            }
            "local" => {
                let name = attrs.first()?;
                (!self.declared.locals.contains(*name)).then(|| format!("local.{name} is not defined"))
            }
            "module" => {
                let name = attrs.first()?;
                match self.declared.modules.get(*name) {
                    None => Some(format!("module.{name} is not called here")),
                    Some(Some(outputs)) => {
                        let output = attrs.get(1)?;
                        (!outputs.contains(*output))
                            .then(|| format!("module.{name} has no output `{output}`"))
                    }
                    Some(None) => None,
                }
            }
            "data" => {
                let kind = attrs.first()?;
                let name = attrs.get(1)?;
                if !self.declared.data.contains_key(&format!("{kind}.{name}")) {
                    return Some(format!("data.{kind}.{name} is not declared"));
                }
                let attribute = reference.attribute_after(2)?;
                let entity = self.schema.data_source(kind)?;
                (!entity.has_attribute(attribute))
                    .then(|| format!("data source {kind} has no attribute `{attribute}`"))
            }
            _ if BUILTIN_ROOTS.contains(&root) => None,
            kind if kind.contains('_') => {
                let name = attrs.first()?;
                if !self.declared.resources.contains_key(&format!("{kind}.{name}")) {
                    return Some(format!("{kind}.{name} is not declared"));
                }
                let attribute = reference.attribute_after(1)?;
                if kind == TERRAFORM_DATA.0 {
                    return None;
                }
                let entity = self.schema.resource(kind)?;
                (!entity.has_attribute(attribute))
                    .then(|| format!("resource {kind} has no attribute `{attribute}`"))
            }
            other => Some(format!("`{other}` is not a known reference")),
        }
    }
}

/// A traversal rooted at a name: `aws_x.y[0].arn` is root `aws_x`, steps `y`, index, `arn`.
#[derive(Debug)]
struct Reference {
    root: String,
    steps: Vec<Option<String>>,
}

impl Reference {
    /// The leading attribute names (up to the first index or splat).
    fn attributes(&self) -> Vec<&str> {
        self.steps.iter().map_while(|step| step.as_deref()).collect()
    }

    /// The first attribute name after the first `skip` attribute names, past any index or splat.
    fn attribute_after(&self, skip: usize) -> Option<&str> {
        let mut names = 0;
        for step in &self.steps {
            match step {
                Some(name) if names == skip => return Some(name),
                Some(_) => names += 1,
                None => {}
            }
        }
        None
    }
}

fn collect_references(expression: &Expression, scope: &Scope, out: &mut Vec<Reference>) {
    match expression {
        Expression::Variable(variable) => {
            let name = variable.to_string();
            if !scope.contains(&name) {
                out.push(Reference {
                    root: name,
                    steps: Vec::new(),
                });
            }
        }
        Expression::Traversal(traversal) => {
            let mut steps = Vec::new();
            for operator in &traversal.operators {
                match operator {
                    TraversalOperator::GetAttr(name) => steps.push(Some(name.to_string())),
                    TraversalOperator::Index(index) => {
                        collect_references(index, scope, out);
                        steps.push(None);
                    }
                    _ => steps.push(None),
                }
            }
            match &traversal.expr {
                Expression::Variable(variable) => {
                    let root = variable.to_string();
                    if !scope.contains(&root) {
                        out.push(Reference { root, steps });
                    }
                }
                other => collect_references(other, scope, out),
            }
        }
        Expression::Array(items) => items.iter().for_each(|item| collect_references(item, scope, out)),
        Expression::Object(object) => {
            for (key, value) in object {
                if let hcl::ObjectKey::Expression(key) = key
                    && !matches!(key, Expression::Variable(_))
                {
                    collect_references(key, scope, out);
                }
                collect_references(value, scope, out);
            }
        }
        Expression::TemplateExpr(template) => collect_template(template, scope, out),
        Expression::FuncCall(call) => call
            .args
            .iter()
            .for_each(|arg| collect_references(arg, scope, out)),
        Expression::Parenthesis(inner) => collect_references(inner, scope, out),
        Expression::Conditional(conditional) => {
            collect_references(&conditional.cond_expr, scope, out);
            collect_references(&conditional.true_expr, scope, out);
            collect_references(&conditional.false_expr, scope, out);
        }
        Expression::Operation(operation) => match operation.as_ref() {
            hcl::expr::Operation::Unary(unary) => collect_references(&unary.expr, scope, out),
            hcl::expr::Operation::Binary(binary) => {
                collect_references(&binary.lhs_expr, scope, out);
                collect_references(&binary.rhs_expr, scope, out);
            }
        },
        Expression::ForExpr(for_expr) => {
            collect_references(&for_expr.collection_expr, scope, out);
            let mut inner = scope.clone();
            inner.push(for_expr.value_var.to_string());
            inner.extend(for_expr.key_var.as_ref().map(ToString::to_string));
            for expression in [
                Some(&for_expr.value_expr),
                for_expr.key_expr.as_ref(),
                for_expr.cond_expr.as_ref(),
            ]
            .into_iter()
            .flatten()
            {
                collect_references(expression, &inner, out);
            }
        }
        _ => {}
    }
}

fn collect_template(template: &TemplateExpr, scope: &Scope, out: &mut Vec<Reference>) {
    if let Ok(template) = Template::from_expr(template) {
        collect_elements(&template, scope, out);
    }
}

fn collect_elements(template: &Template, scope: &Scope, out: &mut Vec<Reference>) {
    for element in template.elements() {
        match element {
            Element::Literal(_) => {}
            Element::Interpolation(interpolation) => collect_references(&interpolation.expr, scope, out),
            Element::Directive(directive) => match directive.as_ref() {
                Directive::If(directive) => {
                    collect_references(&directive.cond_expr, scope, out);
                    collect_elements(&directive.true_template, scope, out);
                    if let Some(false_template) = &directive.false_template {
                        collect_elements(false_template, scope, out);
                    }
                }
                Directive::For(directive) => {
                    collect_references(&directive.collection_expr, scope, out);
                    let mut inner = scope.clone();
                    inner.push(directive.value_var.to_string());
                    inner.extend(directive.key_var.as_ref().map(ToString::to_string));
                    collect_elements(&directive.template, &inner, out);
                }
            },
        }
    }
}

/// Whether `version` (x.y.z) meets a Terraform constraint such as `>= 6.0, < 7.0` or `~> 6.2`.
pub fn version_satisfies(version: &str, constraint: &str) -> bool {
    let Some(version) = parse_version(version) else {
        return false;
    };
    constraint
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .all(|part| {
            let (operator, number) = match part.find(|c: char| c.is_ascii_digit()) {
                Some(at) => (part[..at].trim(), part[at..].trim()),
                None => return false,
            };
            let Some(bound) = parse_version(number) else {
                return false;
            };
            let given = number.split('.').count();
            match operator {
                "" | "=" => version == bound,
                "!=" => version != bound,
                ">=" => version >= bound,
                ">" => version > bound,
                "<=" => version <= bound,
                "<" => version < bound,
                // ~> 6.2 allows 6.x >= 6.2; ~> 6.2.1 allows 6.2.x >= 6.2.1.
                "~>" => {
                    let fixed = given.saturating_sub(1).max(1);
                    version >= bound && version[..fixed] == bound[..fixed]
                }
                _ => false,
            }
        })
}

fn parse_version(text: &str) -> Option<[u64; 3]> {
    let mut parts = [0u64; 3];
    for (index, part) in text.split('.').enumerate() {
        *parts.get_mut(index)? = part.parse().ok()?;
    }
    Some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_constraints_follow_terraform() {
        assert!(version_satisfies("6.25.0", ">= 6.0, < 7.0"));
        assert!(!version_satisfies("7.0.0", ">= 6.0, < 7.0"));
        assert!(version_satisfies("6.25.0", "~> 6.2"));
        assert!(!version_satisfies("6.25.0", "~> 6.2.1"));
        assert!(version_satisfies("6.2.9", "~> 6.2.1"));
        assert!(!version_satisfies("6.25.0", "= 6.24.0"));
        assert!(version_satisfies("6.25.0", "6.25.0"));
    }

    #[test]
    fn names_come_from_the_docs_links() {
        assert_eq!(
            represented(
                "Represents a {@link https://registry.terraform.io/providers/hashicorp/aws/6.25.0/docs/data-sources/region aws_region}."
            ),
            Some((
                "6.25.0".to_owned(),
                "data-sources".to_owned(),
                "aws_region".to_owned()
            ))
        );
        assert_eq!(snake_case("tagsAll"), "tags_all");
        assert_eq!(snake_case("ipv6CidrBlock"), "ipv6_cidr_block");
    }
}
