//! The rules hold on this repository, and each one fails on a deliberately broken copy.

// Integration tests: a failed expectation is a failed test, not a crash on input.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use checks::Violation;
use checks::workspace::{
    Layer, dependency_violations, outside_references, unhashed_installs, unhashed_requirements,
    unpinned_tools, unshipped_shared_crates, workspace_crates,
};

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn write(path: &Path, text: &str) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("create dir");
    }
    std::fs::write(path, text).expect("write file");
}

fn one_per_line(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// A violation without its rule's name: where, and why.
fn located(violation: &Violation) -> String {
    format!("{}: {}", violation.location, violation.message)
}

#[test]
fn shared_crates_and_services_never_depend_on_tools() {
    let root = repository_root();
    let crates = workspace_crates(&root).expect("cargo metadata");
    // The check must see the real tree, not an empty one.
    for (name, layer) in [
        ("webhook-api", Layer::Service),
        ("shared-telemetry", Layer::Shared),
        ("local-pipeline", Layer::Tool),
        ("moto-server", Layer::Testing),
        ("checks", Layer::Checks),
    ] {
        assert!(
            crates
                .iter()
                .any(|krate| krate.name == name && krate.layer == layer),
            "{name} not found as {layer}"
        );
    }
    let violations = dependency_violations(&crates);
    assert!(violations.is_empty(), "{}", one_per_line(&violations));
}

#[test]
fn a_shared_crate_that_uses_a_tool_is_reported() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    write(
        &root.join("Cargo.toml"),
        "[workspace]\nresolver = \"3\"\nmembers = [\"shared/fixtures\", \"tools/stack\"]\n",
    );
    let package = |name: &str, extra: &str| {
        format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n{extra}")
    };
    write(
        &root.join("shared/fixtures/Cargo.toml"),
        &package(
            "fixtures",
            "\n[dev-dependencies]\nstack = { path = \"../../tools/stack\" }\n",
        ),
    );
    write(&root.join("shared/fixtures/src/lib.rs"), "");
    write(&root.join("tools/stack/Cargo.toml"), &package("stack", ""));
    write(&root.join("tools/stack/src/lib.rs"), "");

    let crates = workspace_crates(root).expect("cargo metadata");
    let violations = dependency_violations(&crates);
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert_eq!(
        located(&violations[0]),
        "fixtures (shared): depends on stack (tools); shared may depend on shared crates only"
    );
}

#[test]
fn every_shared_crate_ships_in_a_function() {
    let crates = workspace_crates(&repository_root()).expect("cargo metadata");
    let violations = unshipped_shared_crates(&crates);
    assert!(violations.is_empty(), "{}", one_per_line(&violations));
}

#[test]
fn test_infrastructure_as_a_normal_dependency_of_a_shared_crate_is_reported() {
    // A broken copy of the tree's shape: shared-telemetry's harness as a normal (feature-gated)
    // dependency, as it was before testing/ existed, and a service that uses it properly.
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    write(
        &root.join("Cargo.toml"),
        "[workspace]\nresolver = \"3\"\nmembers = [\"services/api\", \"shared/telemetry\", \"testing/test-support\"]\n",
    );
    let package = |name: &str, extra: &str| {
        format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n{extra}")
    };
    write(
        &root.join("shared/telemetry/Cargo.toml"),
        &package(
            "telemetry",
            "\n[dependencies]\ntest-support = { path = \"../../testing/test-support\", optional = true }\n",
        ),
    );
    write(
        &root.join("services/api/Cargo.toml"),
        &package(
            "api",
            "\n[dependencies]\ntelemetry = { path = \"../../shared/telemetry\" }\n\n[dev-dependencies]\ntest-support = { path = \"../../testing/test-support\" }\n",
        ),
    );
    write(
        &root.join("testing/test-support/Cargo.toml"),
        &package("test-support", ""),
    );
    for krate in ["services/api", "shared/telemetry", "testing/test-support"] {
        write(&root.join(krate).join("src/lib.rs"), "");
    }

    let crates = workspace_crates(root).expect("cargo metadata");
    let violations: Vec<String> = dependency_violations(&crates)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        violations,
        [
            "[dependencies-point-one-way] telemetry (shared): depends on test-support (testing) as a dependency; shared may use testing crates only as dev-dependencies: test infrastructure never ships in a function's zip"
        ]
    );
}

#[test]
fn nothing_refers_outside_the_repository() {
    // This crate's own fixtures are broken references on purpose.
    let violations = outside_references(&repository_root(), &["checks/tests", "checks/src/workspace.rs"])
        .expect("walk the tree");
    assert!(violations.is_empty(), "{}", one_per_line(&violations));
}

#[test]
fn a_reference_outside_the_repository_is_reported() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("repo");
    write(&root.join("docs/architecture.md"), "# Architecture\n");
    write(
        &root.join("shared/telemetry/README.md"),
        "Read ../../docs/architecture.md first.\n",
    );
    write(
        &root.join("shared/telemetry/src/lib.rs"),
        "//! See ../../../../shared/DESIGN.md section 5.\n",
    );
    write(&root.join("Cargo.toml"), "# The design is in DESIGN.md.\n");
    // Generated directories are not the repository's text.
    write(&root.join("target/doc/notes.md"), "../../../../elsewhere.md\n");

    write(&root.join("tools/rules/fixture.md"), "../../../outside.md\n");
    let violations: Vec<String> = outside_references(&root, &["tools/rules"])
        .expect("walk the tree")
        .iter()
        .map(located)
        .collect();
    let mut violations = violations;
    violations.sort();
    assert_eq!(
        violations,
        [
            "Cargo.toml:1: \"DESIGN.md\" is not a document in the repository",
            "shared/telemetry/src/lib.rs:1: \"../../../../shared/DESIGN.md\" leaves the repository",
        ]
    );
}

#[test]
fn every_installed_tool_is_pinned_with_its_hashes() {
    let violations =
        unpinned_tools(&repository_root()).expect("the requirements and the Makefile are readable");
    assert!(violations.is_empty(), "{}", one_per_line(&violations));
}

#[test]
fn a_requirement_or_an_install_without_hashes_is_caught() {
    let requirements =
        std::fs::read_to_string(repository_root().join("tools/python/requirements.txt")).unwrap();
    assert!(unhashed_requirements(&requirements).is_empty());
    // The requirements file as it was: pinned versions, no hashes.
    let unhashed = "# pinned, as before\nmoto==5.2.5\ncargo-lambda==1.9.2 \\\n    --hash=sha256:05efdab4db99fd976f5718b67bb4e72089335d1aab209168f2dfe20907b0e341\nziglang>=0.17\n";
    assert_eq!(
        unhashed_requirements(unhashed),
        vec![(2, "moto==5.2.5".to_owned()), (5, "ziglang>=0.17".to_owned())]
    );
    let makefile = std::fs::read_to_string(repository_root().join("Makefile")).unwrap();
    assert!(unhashed_installs(&makefile).is_empty());
    let loose = makefile.replacen(
        " --require-hashes -r tools/python/requirements.txt",
        " -r tools/python/requirements.txt",
        1,
    );
    assert_ne!(
        loose, makefile,
        "the Makefile no longer installs requirements.txt: update this test"
    );
    assert_eq!(unhashed_installs(&loose).len(), 1);
    let named = "\t$(VENV)/bin/pip install --require-hashes -r tools/python/requirements.txt uv\n";
    assert_eq!(
        unhashed_installs(named).len(),
        1,
        "a package named on the command line has no hash"
    );
}
