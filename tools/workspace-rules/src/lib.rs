//! Rules the repository's tree keeps, checked from `cargo test`.
//!
//! - **Dependencies point one way.** `tools/*` may use anything; `services/*` use `shared/*` only;
//!   `shared/*` use each other only. A shared test crate that reaches into a tool drags the tool's
//!   dependencies into every service's test build, and a service that uses another couples two
//!   deployables.
//! - **Installed tools are hash-pinned.** Every requirement of `tools/python/*.txt` names one
//!   version and the hash of each of its files, and every `pip install` of the Makefile installs
//!   from such a file with `--require-hashes`: cargo-lambda and zig build the zips that are
//!   deployed, so a substituted package could change what runs in AWS.
//! - **The repository is self-contained.** No file names a path that leaves the checkout
//!   (`../..` past its root) or a Markdown document that does not exist in it: a reader who
//!   clones it must be able to follow every reference.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Component, Path, PathBuf};

/// Where a crate sits in the tree, by its first directory under the workspace root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Layer {
    Service,
    Shared,
    Tool,
    /// Anything else, e.g. `fuzz/` (a workspace of its own): no rule applies.
    Other,
}

impl Layer {
    pub fn of(relative_dir: &Path) -> Self {
        match relative_dir.components().next() {
            Some(Component::Normal(first)) if first == "services" => Self::Service,
            Some(Component::Normal(first)) if first == "shared" => Self::Shared,
            Some(Component::Normal(first)) if first == "tools" => Self::Tool,
            _ => Self::Other,
        }
    }

    /// Whether a crate in this layer may depend on one in `target`.
    pub fn may_use(self, target: Layer) -> bool {
        match self {
            Self::Tool | Self::Other => true,
            Self::Service | Self::Shared => target == Self::Shared,
        }
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Service => "services",
            Self::Shared => "shared",
            Self::Tool => "tools",
            Self::Other => "other",
        })
    }
}

/// One workspace crate and the workspace crates it depends on (normal, dev or build).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceCrate {
    pub name: String,
    pub layer: Layer,
    pub dependencies: Vec<String>,
}

/// One broken rule: where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub location: String,
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("cargo metadata failed: {0}")]
    Metadata(#[from] cargo_metadata::Error),
    #[error("cannot walk {path}: {source}")]
    Walk {
        path: String,
        #[source]
        source: walkdir::Error,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// The workspace rooted at `root`, from `cargo metadata --no-deps` (no network, no build).
pub fn workspace_crates(root: &Path) -> Result<Vec<WorkspaceCrate>, RuleError> {
    let metadata = cargo_metadata::MetadataCommand::new()
        .current_dir(root)
        .no_deps()
        .exec()?;
    let workspace_root = metadata.workspace_root.as_std_path();
    let layer_of = |manifest: &Path| {
        let dir = manifest.parent().unwrap_or(manifest);
        Layer::of(dir.strip_prefix(workspace_root).unwrap_or(dir))
    };
    let names: BTreeMap<&str, ()> = metadata
        .workspace_packages()
        .iter()
        .map(|package| (package.name.as_str(), ()))
        .collect();
    Ok(metadata
        .workspace_packages()
        .iter()
        .map(|package| WorkspaceCrate {
            name: package.name.to_string(),
            layer: layer_of(package.manifest_path.as_std_path()),
            dependencies: package
                .dependencies
                .iter()
                .filter(|dependency| names.contains_key(dependency.name.as_str()))
                .map(|dependency| dependency.name.clone())
                .collect(),
        })
        .collect())
}

/// Every dependency that points against the layering, including dev-dependencies: a service's
/// tests that need a tool make the tool part of the service's build.
pub fn dependency_violations(crates: &[WorkspaceCrate]) -> Vec<Violation> {
    let layers: BTreeMap<&str, Layer> = crates
        .iter()
        .map(|krate| (krate.name.as_str(), krate.layer))
        .collect();
    let mut violations = Vec::new();
    for krate in crates {
        for dependency in &krate.dependencies {
            let Some(&target) = layers.get(dependency.as_str()) else {
                continue;
            };
            if dependency != &krate.name && !krate.layer.may_use(target) {
                violations.push(Violation {
                    location: format!("{} ({})", krate.name, krate.layer),
                    message: format!(
                        "depends on {dependency} ({target}); {} may depend on shared crates only",
                        krate.layer
                    ),
                });
            }
        }
    }
    violations
}

/// Directories that are built, installed or downloaded, never written by hand.
const GENERATED_DIRS: &[&str] = &[
    ".git",
    "target",
    ".venv",
    ".venv-checks",
    ".terraform",
    ".cargo-tools",
    "dist",
    "out",
    "corpus",
    "artifacts",
    "node_modules",
];

/// Every reference, in any text file under `root`, to a path outside `root` or to a Markdown
/// document that exists nowhere it could mean. `exempt` lists directories (relative to `root`)
/// left out: this crate's own fixtures are broken references on purpose.
pub fn outside_references(root: &Path, exempt: &[&str]) -> Result<Vec<Violation>, RuleError> {
    // Compared as plain paths below, so `..` in the root itself must go first.
    let root = &normalise(&std::path::absolute(root).map_err(|source| RuleError::Read {
        path: root.display().to_string(),
        source,
    })?);
    let mut violations = Vec::new();
    let exempt: Vec<PathBuf> = exempt.iter().map(|dir| root.join(dir)).collect();
    let walker = walkdir::WalkDir::new(root).into_iter().filter_entry(|entry| {
        let generated = entry.file_type().is_dir()
            && entry
                .file_name()
                .to_str()
                .is_some_and(|name| GENERATED_DIRS.contains(&name));
        !generated && !exempt.iter().any(|dir| entry.path() == dir)
    });
    for entry in walker {
        let entry = entry.map_err(|source| RuleError::Walk {
            path: root.display().to_string(),
            source,
        })?;
        if !entry.file_type().is_file() {
            continue;
        }
        let path = entry.path();
        let bytes = std::fs::read(path).map_err(|source| RuleError::Read {
            path: path.display().to_string(),
            source,
        })?;
        // Binary files (zips, images) hold no references a reader follows.
        let Ok(text) = String::from_utf8(bytes) else {
            continue;
        };
        let relative = path.strip_prefix(root).unwrap_or(path);
        for (line_index, line) in text.lines().enumerate() {
            for token in path_tokens(line) {
                if let Some(message) = check_reference(root, path, token) {
                    violations.push(Violation {
                        location: format!("{}:{}", relative.display(), line_index + 1),
                        message,
                    });
                }
            }
        }
    }
    Ok(violations)
}

/// Runs of path characters that look like a file reference: a relative path with `..`, or a
/// Markdown file name. URLs are left out (their `//` survives the split on `:`).
fn path_tokens(line: &str) -> impl Iterator<Item = &str> {
    line.split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '/' | '_' | '-')))
        .map(|token| token.trim_end_matches('.'))
        .filter(|token| !token.starts_with("//") && !token.contains("*"))
        .filter(|token| token.starts_with("../") || token.ends_with(".md"))
}

fn check_reference(root: &Path, file: &Path, token: &str) -> Option<String> {
    let dir = file.parent().unwrap_or(root);
    if token.starts_with("../") {
        let resolved = normalise(&dir.join(token));
        if !resolved.starts_with(root) {
            return Some(format!("{token:?} leaves the repository"));
        }
    }
    if token.ends_with(".md") {
        // A document is named relative to the file that mentions it, or to the repository root,
        // or (in prose) by its bare name anywhere in the tree.
        let candidates = [normalise(&dir.join(token)), normalise(&root.join(token))];
        if candidates
            .iter()
            .any(|candidate| candidate.starts_with(root) && candidate.is_file())
        {
            return None;
        }
        if !token.contains('/') && document_named(root, token) {
            return None;
        }
        return Some(format!("{token:?} is not a document in the repository"));
    }
    None
}

fn document_named(root: &Path, name: &str) -> bool {
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_entry(|entry| {
            !entry
                .file_name()
                .to_str()
                .is_some_and(|dir| GENERATED_DIRS.contains(&dir))
        })
        .filter_map(Result::ok)
        .any(|entry| entry.file_type().is_file() && entry.file_name() == name)
}

/// `a/b/../c` → `a/c` without touching the file system (the path may not exist).
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Every requirement of `requirements` (a pip requirements file's text) that is not pinned to
/// one version with at least one sha256 hash, by line.
pub fn unhashed_requirements(requirements: &str) -> Vec<(usize, String)> {
    logical_lines(requirements)
        .filter(|(_, line)| !line.starts_with('#') && !line.is_empty())
        .filter(|(_, line)| {
            let mut words = line.split_whitespace();
            let pinned = words.next().is_some_and(|spec| {
                spec.split_once("==")
                    .is_some_and(|(name, version)| !name.is_empty() && !version.is_empty())
            });
            let hashed = line.split_whitespace().any(|word| {
                word.strip_prefix("--hash=sha256:")
                    .is_some_and(|hex| hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()))
            });
            !(pinned && hashed)
        })
        .map(|(number, line)| {
            (
                number,
                line.split_whitespace().next().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Every `pip install` of `makefile` (a Makefile's text) that does not install from a
/// requirements file with `--require-hashes`, by line.
pub fn unhashed_installs(makefile: &str) -> Vec<(usize, String)> {
    logical_lines(makefile)
        .filter(|(_, line)| line.contains("pip install"))
        .filter(|(_, line)| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let from_file = words
                .windows(2)
                .any(|pair| pair[0] == "-r" && pair[1].ends_with(".txt"));
            let loose = words
                .iter()
                .skip_while(|word| **word != "install")
                .skip(1)
                .any(|word| !word.starts_with('-') && !word.starts_with('$') && !word.ends_with(".txt"));
            !(words.contains(&"--require-hashes") && from_file) || loose
        })
        .collect()
}

/// Lines joined across trailing backslashes, each with the number of its first line.
fn logical_lines(text: &str) -> impl Iterator<Item = (usize, String)> + '_ {
    let mut lines = text.lines().enumerate().peekable();
    std::iter::from_fn(move || {
        let (index, first) = lines.next()?;
        let mut joined = first.trim().to_owned();
        while joined.ends_with('\\') {
            joined.pop();
            match lines.next() {
                Some((_, next)) => {
                    joined.push(' ');
                    joined.push_str(next.trim());
                }
                None => break,
            }
        }
        Some((index + 1, joined.trim().to_owned()))
    })
}

/// Both rules on the repository at `root`: its requirements files and its Makefile.
pub fn unpinned_tools(root: &Path) -> Result<Vec<Violation>, RuleError> {
    let read = |path: &Path| {
        std::fs::read_to_string(path).map_err(|source| RuleError::Read {
            path: path.display().to_string(),
            source,
        })
    };
    let mut violations = Vec::new();
    let dir = root.join("tools/python");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|source| RuleError::Read {
            path: dir.display().to_string(),
            source,
        })?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "txt"))
        .collect();
    files.sort();
    for file in files {
        for (line, requirement) in unhashed_requirements(&read(&file)?) {
            violations.push(Violation {
                location: format!("{}:{line}", file.strip_prefix(root).unwrap_or(&file).display()),
                message: format!("{requirement} is not pinned to one version with its hashes (pip install --require-hashes refuses it)"),
            });
        }
    }
    for (line, install) in unhashed_installs(&read(&root.join("Makefile"))?) {
        violations.push(Violation {
            location: format!("Makefile:{line}"),
            message: format!(
                "`{install}` does not install only from a hashed requirements file with --require-hashes"
            ),
        });
    }
    Ok(violations)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn krate(name: &str, layer: Layer, dependencies: &[&str]) -> WorkspaceCrate {
        WorkspaceCrate {
            name: name.to_owned(),
            layer,
            dependencies: dependencies.iter().map(|d| d.to_string()).collect(),
        }
    }

    #[test]
    fn layers_come_from_the_first_directory() {
        assert_eq!(Layer::of(Path::new("services/webhook-api")), Layer::Service);
        assert_eq!(Layer::of(Path::new("shared/telemetry")), Layer::Shared);
        assert_eq!(Layer::of(Path::new("tools/local-stack")), Layer::Tool);
        assert_eq!(Layer::of(Path::new("fuzz")), Layer::Other);
    }

    #[test]
    fn only_dependencies_against_the_layering_are_reported() {
        let crates = [
            krate("emulator", Layer::Shared, &["sdk-config"]),
            krate("sdk-config", Layer::Shared, &[]),
            krate("api", Layer::Service, &["sdk-config", "emulator"]),
            krate("stack", Layer::Tool, &["api", "emulator"]),
            krate("test-support", Layer::Shared, &["stack"]),
            krate("worker", Layer::Service, &["api", "stack"]),
        ];
        let found: Vec<String> = dependency_violations(&crates)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            found,
            [
                "test-support (shared): depends on stack (tools); shared may depend on shared crates only",
                "worker (services): depends on api (services); services may depend on shared crates only",
                "worker (services): depends on stack (tools); services may depend on shared crates only",
            ]
        );
    }

    #[test]
    fn tokens_are_relative_paths_and_document_names() {
        let line = "see ../shared/DESIGN.md, docs/architecture.md and https://x.io/README.md.";
        let tokens: Vec<&str> = path_tokens(line).collect();
        assert_eq!(tokens, ["../shared/DESIGN.md", "docs/architecture.md"]);
    }
}
