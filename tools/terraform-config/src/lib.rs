#![doc = include_str!("../README.md")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hcl::eval::{Context, Evaluate};
use hcl::{Block, Body, Expression, Map, Value};

pub mod pipeline;

/// Why the Terraform configuration could not be read as expected.
#[derive(Debug, thiserror::Error)]
pub enum TerraformError {
    /// A file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// A file is not valid HCL.
    #[error("cannot parse {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// hcl-rs's error.
        source: hcl::Error,
    },
    /// Something the reader needs is not in the module.
    #[error("{module}: {what}")]
    Missing {
        /// The module's directory.
        module: String,
        /// What is missing.
        what: String,
    },
    /// Something is there but not in the shape the reader needs.
    #[error("{module}: {what} is not what was expected: {detail}")]
    Unexpected {
        /// The module's directory.
        module: String,
        /// What is not as expected.
        what: String,
        /// How it differs.
        detail: String,
    },
}

/// One Terraform module (or root): every `.tf` file of a directory, in file-name order.
#[derive(Debug, Clone)]
pub struct Module {
    dir: PathBuf,
    files: Vec<(PathBuf, Body)>,
}

impl Module {
    /// Every `.tf` file of `dir`, parsed.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self, TerraformError> {
        let dir = dir.as_ref().to_path_buf();
        let entries = std::fs::read_dir(&dir).map_err(|source| TerraformError::Read {
            path: dir.clone(),
            source,
        })?;
        let mut paths: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "tf"))
            .collect();
        paths.sort();
        let mut files = Vec::with_capacity(paths.len());
        for path in paths {
            let text = std::fs::read_to_string(&path).map_err(|source| TerraformError::Read {
                path: path.clone(),
                source,
            })?;
            let body = hcl::parse(&text).map_err(|source| TerraformError::Parse {
                path: path.clone(),
                source,
            })?;
            files.push((path, body));
        }
        Ok(Self { dir, files })
    }

    /// The module's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The module's name for messages: its directory's last two components.
    pub fn label(&self) -> String {
        let mut parts: Vec<String> = self
            .dir
            .components()
            .rev()
            .take(2)
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        parts.reverse();
        parts.join("/")
    }

    /// Every top-level block of every file, with the file it is in.
    pub fn blocks(&self) -> impl Iterator<Item = (&Path, &Block)> {
        self.files
            .iter()
            .flat_map(|(path, body)| body.blocks().map(move |block| (path.as_path(), block)))
    }

    /// Top-level blocks of one kind (`variable`, `resource`, `module`, ...).
    pub fn blocks_of<'a>(&'a self, identifier: &'a str) -> impl Iterator<Item = &'a Block> + 'a {
        self.blocks()
            .map(|(_, block)| block)
            .filter(move |block| block.identifier() == identifier)
    }

    /// Declared variables, by name.
    pub fn variables(&self) -> BTreeMap<String, &Block> {
        self.blocks_of("variable")
            .filter_map(|block| label(block, 0).map(|name| (name.to_owned(), block)))
            .collect()
    }

    /// A variable's default, evaluated (defaults are literals in Terraform).
    pub fn variable_default(&self, name: &str) -> Result<Option<Value>, TerraformError> {
        let variables = self.variables();
        let block = variables
            .get(name)
            .ok_or_else(|| self.missing(format!("variable \"{name}\"")))?;
        match attribute(block.body(), "default") {
            None => Ok(None),
            Some(expression) => expression
                .evaluate(&Context::new())
                .map(Some)
                .map_err(|error| self.unexpected(format!("default of variable \"{name}\""), error)),
        }
    }

    /// Every variable's default (variables without one are left out).
    pub fn variable_defaults(&self) -> Result<Map<String, Value>, TerraformError> {
        let mut defaults = Map::new();
        for name in self.variables().keys() {
            if let Some(value) = self.variable_default(name)? {
                defaults.insert(name.clone(), value);
            }
        }
        Ok(defaults)
    }

    /// Evaluates the `locals` this module defines, given the values of its variables. Locals
    /// that use functions hcl-rs does not know (merge, jsonencode, ...) are left out.
    pub fn locals(&self, variables: &Map<String, Value>) -> Map<String, Value> {
        let mut context = Context::new();
        context.declare_var("var", Value::Object(variables.clone()));
        self.locals_in(&context)
    }

    /// The `locals` evaluated in `base` (which declares `var` and whatever else they refer to:
    /// `data`, resource attributes, ...).
    pub fn locals_in(&self, base: &Context) -> Map<String, Value> {
        let pending: Vec<(String, Expression)> = self
            .blocks_of("locals")
            .flat_map(|block| block.body().attributes())
            .map(|attribute| (attribute.key().to_owned(), attribute.expr().clone()))
            .collect();
        let mut evaluated = Map::new();
        // Locals may refer to each other in any order: evaluate until nothing more resolves.
        loop {
            let mut progressed = false;
            for (name, expression) in &pending {
                if evaluated.contains_key(name) {
                    continue;
                }
                let mut context = base.clone();
                context.declare_var("local", Value::Object(evaluated.clone()));
                if let Ok(value) = expression.evaluate(&context) {
                    evaluated.insert(name.clone(), value);
                    progressed = true;
                }
            }
            if !progressed {
                return evaluated;
            }
        }
    }

    /// The `error_message` of every validation of `variable` that fails when the variables are
    /// `values` (the rest at their defaults): what `terraform plan` would refuse, and why.
    pub fn failed_validations(
        &self,
        variable: &str,
        values: &Map<String, Value>,
    ) -> Result<Vec<String>, TerraformError> {
        let variables = self.variables();
        let block = variables
            .get(variable)
            .ok_or_else(|| self.missing(format!("variable \"{variable}\"")))?;
        let mut all = self.variable_defaults()?;
        all.extend(values.clone());
        let mut context = terraform_functions();
        context.declare_var("var", Value::Object(all));
        let mut failed = Vec::new();
        for validation in nested_blocks(block.body(), "validation") {
            let condition = attribute(validation.body(), "condition")
                .ok_or_else(|| self.missing(format!("condition of a validation of {variable}")))?;
            match condition.evaluate(&context) {
                Ok(Value::Bool(true)) => {}
                Ok(_) => failed.push(
                    string_attribute(validation.body(), "error_message")
                        .unwrap_or("(no error_message)")
                        .to_owned(),
                ),
                Err(error) => return Err(self.unexpected(format!("a validation of {variable}"), error)),
            }
        }
        Ok(failed)
    }

    /// `resource "<kind>" "<name>"` blocks, by name.
    pub fn resources(&self, kind: &str) -> BTreeMap<String, &Block> {
        self.blocks_of("resource")
            .filter(|block| label(block, 0) == Some(kind))
            .filter_map(|block| label(block, 1).map(|name| (name.to_owned(), block)))
            .collect()
    }

    /// The single `resource "<kind>"` of this module.
    pub fn resource(&self, kind: &str) -> Result<&Block, TerraformError> {
        let resources = self.resources(kind);
        match resources.len() {
            1 => Ok(resources.into_values().next().unwrap_or_else(|| unreachable!())),
            count => Err(self.missing(format!("exactly one {kind} resource (found {count})"))),
        }
    }

    /// `module "<name>"` blocks, by name.
    pub fn module_calls(&self) -> BTreeMap<String, &Block> {
        self.blocks_of("module")
            .filter_map(|block| label(block, 0).map(|name| (name.to_owned(), block)))
            .collect()
    }

    /// An error saying `what` is missing from this module.
    pub fn missing(&self, what: impl Into<String>) -> TerraformError {
        TerraformError::Missing {
            module: self.label(),
            what: format!("no {}", what.into()),
        }
    }

    /// An error saying `what` in this module is not as expected, and why.
    pub fn unexpected(&self, what: impl Into<String>, detail: impl std::fmt::Display) -> TerraformError {
        TerraformError::Unexpected {
            module: self.label(),
            what: what.into(),
            detail: detail.to_string(),
        }
    }
}

/// A context with the few Terraform functions the project's validations and policies use beyond
/// hcl-rs's own operators: `alltrue`, `coalesce`, `concat`, `contains`, `distinct`, `file`, `flatten`,
/// `jsondecode`, `jsonencode`, `length`, `merge`, `regexall`, `sort`, `startswith` and `toset`
/// (a list stays a list here). `file` reads relative to the working directory, so a caller
/// declares `path.module` as the module's directory.
pub fn terraform_functions() -> Context<'static> {
    use hcl::eval::{FuncArgs, FuncDef, ParamType};
    fn contains(args: FuncArgs) -> Result<Value, String> {
        let values = args.into_values();
        match values.as_slice() {
            [Value::Array(items), value] => Ok(Value::Bool(items.contains(value))),
            _ => Err("contains(list, value)".to_owned()),
        }
    }
    fn length(args: FuncArgs) -> Result<Value, String> {
        match args.into_values().as_slice() {
            [Value::Array(items)] => Ok(Value::from(items.len() as u64)),
            [Value::Object(map)] => Ok(Value::from(map.len() as u64)),
            [Value::String(text)] => Ok(Value::from(text.chars().count() as u64)),
            _ => Err("length(list, map or string)".to_owned()),
        }
    }
    let mut context = Context::new();
    context.declare_func(
        "contains",
        FuncDef::builder()
            .param(ParamType::Any)
            .param(ParamType::Any)
            .build(contains),
    );
    context.declare_func("length", FuncDef::builder().param(ParamType::Any).build(length));
    context.declare_func("toset", FuncDef::builder().param(ParamType::Any).build(toset));
    context.declare_func("alltrue", FuncDef::builder().param(ParamType::Any).build(alltrue));
    context.declare_func(
        "regexall",
        FuncDef::builder()
            .param(ParamType::String)
            .param(ParamType::String)
            .build(regexall),
    );
    context.declare_func(
        "merge",
        FuncDef::builder().variadic_param(ParamType::Any).build(merge),
    );
    context.declare_func(
        "concat",
        FuncDef::builder().variadic_param(ParamType::Any).build(concat),
    );
    context.declare_func(
        "coalesce",
        FuncDef::builder().variadic_param(ParamType::Any).build(coalesce),
    );
    context.declare_func("flatten", FuncDef::builder().param(ParamType::Any).build(flatten));
    context.declare_func("distinct", FuncDef::builder().param(ParamType::Any).build(toset));
    context.declare_func("sort", FuncDef::builder().param(ParamType::Any).build(sort));
    context.declare_func(
        "startswith",
        FuncDef::builder()
            .param(ParamType::String)
            .param(ParamType::String)
            .build(startswith),
    );
    context.declare_func("file", FuncDef::builder().param(ParamType::String).build(file));
    context.declare_func(
        "jsondecode",
        FuncDef::builder().param(ParamType::String).build(jsondecode),
    );
    context.declare_func(
        "jsonencode",
        FuncDef::builder().param(ParamType::Any).build(jsonencode),
    );
    context
}

/// The first argument that is neither null nor an empty string, as Terraform's.
fn coalesce(args: hcl::eval::FuncArgs) -> Result<Value, String> {
    args.into_values()
        .into_iter()
        .find(|value| !matches!(value, Value::Null) && value.as_str() != Some(""))
        .ok_or_else(|| "coalesce: no non-null, non-empty argument".to_owned())
}

fn concat(args: hcl::eval::FuncArgs) -> Result<Value, String> {
    let mut all = Vec::new();
    for value in args.into_values() {
        match value {
            Value::Array(items) => all.extend(items),
            other => return Err(format!("concat(lists...), got {other}")),
        }
    }
    Ok(Value::Array(all))
}

/// Terraform's `flatten`: nested lists become one list, in order.
fn flatten(args: hcl::eval::FuncArgs) -> Result<Value, String> {
    fn into(value: Value, flat: &mut Vec<Value>) {
        match value {
            Value::Array(items) => items.into_iter().for_each(|item| into(item, flat)),
            other => flat.push(other),
        }
    }
    match args.into_values().into_iter().next() {
        Some(Value::Array(items)) => {
            let mut flat = Vec::new();
            items.into_iter().for_each(|item| into(item, &mut flat));
            Ok(Value::Array(flat))
        }
        _ => Err("flatten(list)".to_owned()),
    }
}

/// Terraform's `sort`: strings in lexical order.
fn sort(args: hcl::eval::FuncArgs) -> Result<Value, String> {
    match args.into_values().into_iter().next() {
        Some(Value::Array(items)) => {
            let mut texts = items
                .into_iter()
                .map(|item| match item {
                    Value::String(text) => Ok(text),
                    other => Err(format!("sort(list of strings), got {other}")),
                })
                .collect::<Result<Vec<_>, _>>()?;
            texts.sort();
            Ok(Value::Array(texts.into_iter().map(Value::from).collect()))
        }
        _ => Err("sort(list of strings)".to_owned()),
    }
}

fn startswith(args: hcl::eval::FuncArgs) -> Result<Value, String> {
    match args.into_values().as_slice() {
        [Value::String(text), Value::String(prefix)] => Ok(Value::Bool(text.starts_with(prefix.as_str()))),
        _ => Err("startswith(string, prefix)".to_owned()),
    }
}

fn file(args: hcl::eval::FuncArgs) -> Result<Value, String> {
    match args.into_values().as_slice() {
        [Value::String(path)] => std::fs::read_to_string(path)
            .map(Value::from)
            .map_err(|error| format!("file({path:?}): {error}")),
        _ => Err("file(path)".to_owned()),
    }
}

fn jsondecode(args: hcl::eval::FuncArgs) -> Result<Value, String> {
    match args.into_values().as_slice() {
        [Value::String(text)] => serde_json::from_str(text).map_err(|error| format!("jsondecode: {error}")),
        _ => Err("jsondecode(string)".to_owned()),
    }
}

fn jsonencode(args: hcl::eval::FuncArgs) -> Result<Value, String> {
    match args.into_values().as_slice() {
        [value] => serde_json::to_string(value)
            .map(Value::from)
            .map_err(|error| format!("jsonencode: {error}")),
        _ => Err("jsonencode(value)".to_owned()),
    }
}

fn alltrue(args: hcl::eval::FuncArgs) -> Result<Value, String> {
    match args.into_values().as_slice() {
        [Value::Array(items)] => Ok(Value::Bool(items.iter().all(|item| *item == Value::Bool(true)))),
        _ => Err("alltrue(list of booleans)".to_owned()),
    }
}

/// Terraform's `regexall`: every match of the pattern (RE2 syntax, which the regex crate shares).
fn regexall(args: hcl::eval::FuncArgs) -> Result<Value, String> {
    match args.into_values().as_slice() {
        [Value::String(pattern), Value::String(text)] => {
            let pattern = regex::Regex::new(pattern).map_err(|error| error.to_string())?;
            Ok(Value::Array(
                pattern
                    .find_iter(text)
                    .map(|found| Value::from(found.as_str()))
                    .collect(),
            ))
        }
        _ => Err("regexall(pattern, string)".to_owned()),
    }
}

fn merge(args: hcl::eval::FuncArgs) -> Result<Value, String> {
    let mut merged = Map::new();
    for value in args.into_values() {
        match value {
            Value::Object(map) => merged.extend(map),
            Value::Null => {}
            other => return Err(format!("merge(objects...), got {other}")),
        }
    }
    Ok(Value::Object(merged))
}

fn toset(args: hcl::eval::FuncArgs) -> Result<Value, String> {
    match args.into_values().as_slice() {
        [Value::Array(items)] => {
            let mut unique: Vec<Value> = Vec::with_capacity(items.len());
            for item in items {
                if !unique.contains(item) {
                    unique.push(item.clone());
                }
            }
            Ok(Value::Array(unique))
        }
        _ => Err("toset(list)".to_owned()),
    }
}

/// A block's `index`th label.
pub fn label(block: &Block, index: usize) -> Option<&str> {
    block.labels().get(index).map(|label| label.as_str())
}

/// The expression of attribute `key` directly in `body`.
pub fn attribute<'a>(body: &'a Body, key: &str) -> Option<&'a Expression> {
    body.attributes()
        .find(|attribute| attribute.key() == key)
        .map(|attribute| attribute.expr())
}

/// Nested blocks of `body` called `identifier` (including `dynamic "<identifier>"` content).
pub fn nested_blocks<'a>(body: &'a Body, identifier: &'a str) -> impl Iterator<Item = &'a Block> + 'a {
    body.blocks().filter(move |block| {
        block.identifier() == identifier
            || (block.identifier() == "dynamic" && label(block, 0) == Some(identifier))
    })
}

/// A literal string attribute, if it is one.
pub fn string_attribute<'a>(body: &'a Body, key: &str) -> Option<&'a str> {
    match attribute(body, key)? {
        Expression::String(value) => Some(value.as_str()),
        _ => None,
    }
}
