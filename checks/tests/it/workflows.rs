//! The repository's workflows keep every rule, and each rule catches a deliberately broken copy.

// Integration tests: a failed expectation is a failed test, not a crash on input.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use checks::Violation;
use checks::workflows::{self as rules, Workflows};

fn workflows_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.github/workflows")
}

/// A throwaway copy of .github/workflows to break on purpose; removed on drop.
struct BrokenCopy {
    dir: PathBuf,
}

impl BrokenCopy {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("workflows-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for entry in std::fs::read_dir(workflows_dir()).unwrap().filter_map(Result::ok) {
            std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
        }
        Self { dir }
    }

    fn edit(self, file: &str, from: &str, to: &str) -> Self {
        let path = self.dir.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains(from),
            "{file} no longer contains {from:?}: update this test"
        );
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
        self
    }

    fn violations(&self) -> Vec<Violation> {
        rules::check_all(&Workflows::load(&self.dir).unwrap())
    }
}

impl Drop for BrokenCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn assert_caught(violations: Vec<Violation>, rule: &str, needle: &str) {
    assert!(
        violations
            .iter()
            .any(|v| v.rule == rule && v.to_string().contains(needle)),
        "expected a {rule} violation mentioning {needle:?}, got {violations:#?}"
    );
}

fn load(dir: &Path) -> Workflows {
    Workflows::load(dir).unwrap()
}

#[test]
fn the_repository_workflows_keep_every_rule() {
    let violations = rules::check_all(&load(&workflows_dir()));
    assert!(violations.is_empty(), "{violations:#?}");
}

#[test]
fn an_unpinned_action_is_caught() {
    let copy = BrokenCopy::new("pin").edit(
        "ci.yml",
        "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683",
        "actions/checkout@v4",
    );
    assert_caught(copy.violations(), "actions-pinned", "actions/checkout@v4");
}

#[test]
fn a_cached_release_build_is_caught() {
    let copy = BrokenCopy::new("cache").edit(
        "ci.yml",
        "      - run: make build ARCH=arm64",
        "      - uses: actions/cache@5a3ec84eff668545956fd18022155c47e93e2684 # v4.2.3\n        with:\n          path: target\n          key: k\n      - run: make build ARCH=arm64",
    );
    assert_caught(copy.violations(), "clean-build", "restores a cache");
}

#[test]
fn a_deploy_that_does_not_wait_for_ci_is_caught() {
    let copy = BrokenCopy::new("needs").edit(
        "ci.yml",
        "    needs: [test, build, msrv, terraform]",
        "    needs: [build]",
    );
    let violations = copy.violations();
    assert_caught(violations.clone(), "deploy-after-ci-on-main", "`test`");
    assert_caught(violations.clone(), "deploy-after-ci-on-main", "`msrv`");
    assert_caught(violations, "deploy-after-ci-on-main", "`terraform`");
}

#[test]
fn a_deploy_from_any_branch_or_after_a_failure_is_caught() {
    let branch = BrokenCopy::new("branch").edit(
        "ci.yml",
        "    if: github.event_name == 'push' && github.ref == 'refs/heads/main'\n    uses: ./.github/workflows/deploy-environment.yml\n    with:\n      environment: dev",
        "    if: github.event_name == 'push'\n    uses: ./.github/workflows/deploy-environment.yml\n    with:\n      environment: dev",
    );
    assert_caught(branch.violations(), "deploy-after-ci-on-main", "refs/heads/main");
    let always = BrokenCopy::new("always").edit(
        "ci.yml",
        "    if: github.event_name == 'push' && github.ref == 'refs/heads/main'\n    uses: ./.github/workflows/deploy-environment.yml\n    with:\n      environment: prod",
        "    if: always() && github.event_name == 'push' && github.ref == 'refs/heads/main'\n    uses: ./.github/workflows/deploy-environment.yml\n    with:\n      environment: prod",
    );
    assert_caught(always.violations(), "deploy-after-ci-on-main", "always()");
    let dispatch = BrokenCopy::new("dispatch").edit(
        "deploy-environment.yml",
        "on:\n  workflow_call:",
        "on:\n  workflow_dispatch:\n  workflow_call:",
    );
    assert_caught(
        dispatch.violations(),
        "deploy-after-ci-on-main",
        "other than by workflow_call",
    );
}

#[test]
fn a_deploy_job_without_the_head_check_is_caught() {
    let copy = BrokenCopy::new("head").edit(
        "deploy-environment.yml",
        "      # The approval may come after main moved on: an older plan is never applied.\n      - name: Deploy only main's current head",
        "      - name: Not checking anything\n        run: echo\n      - name: Deploy only main's current head",
    );
    assert_caught(
        copy.violations(),
        "deploy-after-ci-on-main",
        "main's current head",
    );
}

#[test]
fn a_plan_behind_the_gate_or_an_apply_without_it_is_caught() {
    let gated = BrokenCopy::new("gated").edit(
        "deploy-environment.yml",
        "    environment: ${{ inputs.environment }}-plan",
        "    environment: ${{ inputs.environment }}",
    );
    assert_caught(
        gated.violations(),
        "plan-before-gate",
        "inside the environment's gate",
    );
    let replan = BrokenCopy::new("replan").edit(
        "deploy-environment.yml",
        "        run: make tf-apply-plan ENV=\"$ENV\"",
        "        run: make tf-plan ENV=\"$ENV\" && make tf-apply-plan ENV=\"$ENV\"",
    );
    assert_caught(replan.violations(), "plan-before-gate", "plan of its own");
    let unseen = BrokenCopy::new("unseen").edit(
        "deploy-environment.yml",
        "          } >> \"$GITHUB_STEP_SUMMARY\"",
        "          } > /dev/null",
    );
    assert_caught(unseen.violations(), "plan-before-gate", "step summary");
}

#[test]
fn a_smoke_test_in_the_apply_job_or_outside_its_environment_is_caught() {
    let in_apply = BrokenCopy::new("smoke-in-apply").edit(
        "deploy-environment.yml",
        "        run: make smoke-inputs ENV=\"$ENV\" >> \"$GITHUB_OUTPUT\"",
        "        run: make smoke-inputs ENV=\"$ENV\" >> \"$GITHUB_OUTPUT\" && make smoke ENV=\"$ENV\"",
    );
    assert_caught(
        in_apply.violations(),
        "plan-before-gate",
        "would read the signing secret",
    );
    let elsewhere = BrokenCopy::new("smoke-env").edit(
        "deploy-environment.yml",
        "    environment: ${{ inputs.environment }}-smoke",
        "    environment: ${{ inputs.environment }}",
    );
    assert_caught(elsewhere.violations(), "plan-before-gate", "<env>-smoke");
    let early = BrokenCopy::new("smoke-early").edit(
        "deploy-environment.yml",
        "    needs: apply\n",
        "    needs: plan\n",
    );
    assert_caught(early.violations(), "plan-before-gate", "before the apply");
}
