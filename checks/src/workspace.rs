//! Rules the repository's tree keeps, checked from `cargo test`.
//!
//! - **Folders by audience, dependencies one way.** `services/*` (the functions) and `shared/*`
//!   (what their zips link) depend on shared crates only, and on `testing/*` only as
//!   dev-dependencies: test infrastructure never ships. `testing/*` depends on shared and testing
//!   crates; `tools/*` on anything but `checks`; `checks` on anything. A shared test crate that
//!   reaches into a tool drags the tool's dependencies into every service's test build, and a
//!   service that uses another couples two deployables.
//! - **`shared/` holds only what ships.** Every shared crate is linked into some function: a
//!   service reaches it through normal dependencies.
//! - **Installed tools are hash-pinned.** Every requirement of `tools/python/*.txt` names one
//!   version and the hash of each of its files, and every `pip install` of the Makefile installs
//!   from such a file with `--require-hashes`: cargo-lambda and zig build the zips that are
//!   deployed, so a substituted package could change what runs in AWS.
//! - **The repository is self-contained.** No file names a path that leaves the checkout
//!   (`../..` past its root) or a Markdown document that does not exist in it: a reader who
//!   clones it must be able to follow every reference.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Component, Path, PathBuf};

use crate::Violation;

/// Where a crate sits in the tree, by its first directory under the workspace root: who it is
/// for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Layer {
    /// `services/`: the Lambda functions.
    Service,
    /// `shared/`: libraries linked into the functions' zips.
    Shared,
    /// `testing/`: stand-ins for AWS and test builders, for tests and the local pipeline.
    Testing,
    /// `tools/`: the commands people run on their machines, and their libraries.
    Tool,
    /// `checks/`: the rules CI runs over the repository.
    Checks,
    /// Anything else, e.g. `fuzz/` (a workspace of its own): no rule applies.
    Other,
}

impl Layer {
    /// The layer of a crate directory relative to the workspace root.
    pub fn of(relative_dir: &Path) -> Self {
        let Some(Component::Normal(first)) = relative_dir.components().next() else {
            return Self::Other;
        };
        match first.to_str() {
            Some("services") => Self::Service,
            Some("shared") => Self::Shared,
            Some("testing") => Self::Testing,
            Some("tools") => Self::Tool,
            Some("checks") => Self::Checks,
            _ => Self::Other,
        }
    }

    /// Why a crate in this layer may not depend on one in `target` this way, if it may not.
    pub fn refuses(self, target: Layer, kind: DependencyKind) -> Option<String> {
        match self {
            Self::Checks | Self::Other => None,
            Self::Tool => (target == Self::Checks).then(|| "tools never depend on checks".to_owned()),
            Self::Testing => (!matches!(target, Self::Shared | Self::Testing))
                .then(|| "testing may depend on shared and testing crates only".to_owned()),
            Self::Service | Self::Shared => match target {
                Self::Shared => None,
                Self::Testing if kind == DependencyKind::Development => None,
                Self::Testing => Some(format!(
                    "{self} may use testing crates only as dev-dependencies: test infrastructure never ships in a function's zip"
                )),
                _ => Some(format!("{self} may depend on shared crates only")),
            },
        }
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Service => "services",
            Self::Shared => "shared",
            Self::Testing => "testing",
            Self::Tool => "tools",
            Self::Checks => "checks",
            Self::Other => "other",
        })
    }
}

/// How a crate depends on another, as Cargo.toml's sections say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DependencyKind {
    /// `[dependencies]`: linked into what the crate builds.
    Normal,
    /// `[dev-dependencies]`: tests, examples and benchmarks only.
    Development,
    /// `[build-dependencies]`: the build script.
    Build,
}

impl fmt::Display for DependencyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Normal => "a dependency",
            Self::Development => "a dev-dependency",
            Self::Build => "a build-dependency",
        })
    }
}

/// One workspace crate and the workspace crates it depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceCrate {
    /// The package name.
    pub name: String,
    /// Its folder's audience.
    pub layer: Layer,
    /// The workspace crates it names in its manifest, with how.
    pub dependencies: Vec<(String, DependencyKind)>,
}

/// Why the workspace's rules could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// `cargo metadata` did not run or answered nonsense.
    #[error("cargo metadata failed: {0}")]
    Metadata(#[from] cargo_metadata::Error),
    /// A directory could not be walked.
    #[error("cannot walk {path}: {source}")]
    Walk {
        /// The directory.
        path: String,
        /// What walking it gave.
        #[source]
        source: walkdir::Error,
    },
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// What reading it gave.
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
    let names: BTreeSet<&str> = metadata
        .workspace_packages()
        .iter()
        .map(|package| package.name.as_str())
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
                .filter(|dependency| names.contains(dependency.name.as_str()))
                .map(|dependency| {
                    let kind = match dependency.kind {
                        cargo_metadata::DependencyKind::Development => DependencyKind::Development,
                        cargo_metadata::DependencyKind::Build => DependencyKind::Build,
                        _ => DependencyKind::Normal,
                    };
                    (dependency.name.clone(), kind)
                })
                .collect(),
        })
        .collect())
}

/// Every dependency that points against the layering. Dev-dependencies count too: a service's
/// tests that need a tool make the tool part of the service's build.
pub fn dependency_violations(crates: &[WorkspaceCrate]) -> Vec<Violation> {
    let layers: BTreeMap<&str, Layer> = crates
        .iter()
        .map(|krate| (krate.name.as_str(), krate.layer))
        .collect();
    let mut violations = Vec::new();
    for krate in crates {
        for (dependency, kind) in &krate.dependencies {
            let Some(&target) = layers.get(dependency.as_str()) else {
                continue;
            };
            if dependency == &krate.name {
                continue;
            }
            if let Some(reason) = krate.layer.refuses(target, *kind) {
                // A testing crate is refused only as a normal or build dependency: say which.
                let how = if target == Layer::Testing {
                    format!(" as {kind}")
                } else {
                    String::new()
                };
                violations.push(Violation {
                    rule: "dependencies-point-one-way",
                    location: format!("{} ({})", krate.name, krate.layer),
                    message: format!("depends on {dependency} ({target}){how}; {reason}"),
                });
            }
        }
    }
    violations
}

/// Every shared crate that no function links: `shared/` holds only what ends up in a zip, so a
/// library only tools or tests use belongs in `tools/` or `testing/`.
pub fn unshipped_shared_crates(crates: &[WorkspaceCrate]) -> Vec<Violation> {
    let by_name: BTreeMap<&str, &WorkspaceCrate> =
        crates.iter().map(|krate| (krate.name.as_str(), krate)).collect();
    let mut shipped = BTreeSet::new();
    let mut pending: Vec<&str> = crates
        .iter()
        .filter(|krate| krate.layer == Layer::Service)
        .map(|krate| krate.name.as_str())
        .collect();
    while let Some(name) = pending.pop() {
        let Some(krate) = by_name.get(name) else {
            continue;
        };
        for (dependency, kind) in &krate.dependencies {
            if *kind == DependencyKind::Normal && shipped.insert(dependency.as_str()) {
                pending.push(dependency.as_str());
            }
        }
    }
    crates
        .iter()
        .filter(|krate| krate.layer == Layer::Shared && !shipped.contains(krate.name.as_str()))
        .map(|krate| Violation {
            rule: "shared-crates-ship",
            location: format!("{} ({})", krate.name, krate.layer),
            message: "no function links it: shared/ holds only what ends up in a function's zip; move it to tools/ or testing/".to_owned(),
        })
        .collect()
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
/// document that exists nowhere it could mean. `exempt` lists directories and files (relative to `root`)
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
                        rule: "self-contained",
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
                rule: "tools-are-hash-pinned",
                location: format!("{}:{line}", file.strip_prefix(root).unwrap_or(&file).display()),
                message: format!("{requirement} is not pinned to one version with its hashes (pip install --require-hashes refuses it)"),
            });
        }
    }
    for (line, install) in unhashed_installs(&read(&root.join("Makefile"))?) {
        violations.push(Violation {
            rule: "tools-are-hash-pinned",
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
            dependencies: dependencies
                .iter()
                .map(|d| (d.to_string(), DependencyKind::Normal))
                .collect(),
        }
    }

    #[test]
    fn layers_come_from_the_first_directory() {
        assert_eq!(Layer::of(Path::new("services/webhook-api")), Layer::Service);
        assert_eq!(Layer::of(Path::new("shared/telemetry")), Layer::Shared);
        assert_eq!(Layer::of(Path::new("tools/local-pipeline")), Layer::Tool);
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
            .map(|violation| format!("{}: {}", violation.location, violation.message))
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
    fn test_infrastructure_is_only_a_dev_dependency_of_what_ships() {
        let crate_with = |name: &str, layer: Layer, dependencies: &[(&str, DependencyKind)]| WorkspaceCrate {
            name: name.to_owned(),
            layer,
            dependencies: dependencies
                .iter()
                .map(|(name, kind)| ((*name).to_owned(), *kind))
                .collect(),
        };
        let crates = [
            crate_with(
                "moto-server",
                Layer::Testing,
                &[("sdk-config", DependencyKind::Normal)],
            ),
            crate_with(
                "sdk-config",
                Layer::Shared,
                &[("moto-server", DependencyKind::Development)],
            ),
            crate_with(
                "api",
                Layer::Service,
                &[("moto-server", DependencyKind::Development)],
            ),
            crate_with(
                "telemetry",
                Layer::Shared,
                &[("moto-server", DependencyKind::Normal)],
            ),
            crate_with(
                "worker",
                Layer::Service,
                &[("moto-server", DependencyKind::Build)],
            ),
            crate_with("harness", Layer::Testing, &[("stack", DependencyKind::Normal)]),
            crate_with("stack", Layer::Tool, &[("moto-server", DependencyKind::Normal)]),
        ];
        let found: Vec<String> = dependency_violations(&crates)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            found,
            [
                "[dependencies-point-one-way] telemetry (shared): depends on moto-server (testing) as a dependency; shared may use testing crates only as dev-dependencies: test infrastructure never ships in a function's zip",
                "[dependencies-point-one-way] worker (services): depends on moto-server (testing) as a build-dependency; services may use testing crates only as dev-dependencies: test infrastructure never ships in a function's zip",
                "[dependencies-point-one-way] harness (testing): depends on stack (tools); testing may depend on shared and testing crates only",
            ]
        );
    }

    #[test]
    fn a_shared_crate_no_function_links_is_reported() {
        let crates = [
            krate("api", Layer::Service, &["event"]),
            krate("event", Layer::Shared, &["signature"]),
            krate("signature", Layer::Shared, &[]),
            krate("keys", Layer::Shared, &[]),
            krate("operator", Layer::Tool, &["keys"]),
        ];
        let found: Vec<String> = unshipped_shared_crates(&crates)
            .iter()
            .map(|violation| violation.location.clone())
            .collect();
        assert_eq!(found, ["keys (shared)"]);
    }

    #[test]
    fn tokens_are_relative_paths_and_document_names() {
        let line = "see ../shared/DESIGN.md, docs/architecture.md and https://x.io/README.md.";
        let tokens: Vec<&str> = path_tokens(line).collect();
        assert_eq!(tokens, ["../shared/DESIGN.md", "docs/architecture.md"]);
    }
}
