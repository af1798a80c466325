//! The repository's workflows keep every rule, and each rule catches a deliberately broken copy.

// Integration tests: a failed expectation is a failed test, not a crash on input.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use checks::Violation;
use checks::workflows::{self as rules, Workflows};

use crate::broken_copy::{BrokenCopy, assert_caught};

fn workflows_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.github/workflows")
}

/// A copy of .github/workflows to break on purpose.
fn broken_copy(name: &str) -> BrokenCopy {
    BrokenCopy::of(&workflows_dir(), "workflows", name)
}

/// What the workflow rules find in a copy.
fn violations(copy: &BrokenCopy) -> Vec<Violation> {
    rules::check_all(&Workflows::load(&copy.dir).unwrap())
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
    let copy = broken_copy("pin").edit(
        "ci.yml",
        "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683",
        "actions/checkout@v4",
    );
    assert_caught(violations(&copy), "actions-pinned", "actions/checkout@v4");
}

#[test]
fn a_cached_release_build_is_caught() {
    let copy = broken_copy("cache").edit(
        "ci.yml",
        "      - run: make build ARCH=arm64",
        "      - uses: actions/cache@5a3ec84eff668545956fd18022155c47e93e2684 # v4.2.3\n        with:\n          path: target\n          key: k\n      - run: make build ARCH=arm64",
    );
    assert_caught(violations(&copy), "clean-build", "restores a cache");
}

#[test]
fn a_deploy_that_does_not_wait_for_ci_is_caught() {
    let copy = broken_copy("needs").edit(
        "ci.yml",
        "    needs: [test, build, msrv, terraform]",
        "    needs: [build]",
    );
    let violations = violations(&copy);
    assert_caught(violations.clone(), "deploy-after-ci-on-main", "`test`");
    assert_caught(violations.clone(), "deploy-after-ci-on-main", "`msrv`");
    assert_caught(violations, "deploy-after-ci-on-main", "`terraform`");
}

#[test]
fn a_deploy_from_any_branch_or_after_a_failure_is_caught() {
    let branch = broken_copy("branch").edit(
        "ci.yml",
        "    if: github.event_name == 'push' && github.ref == 'refs/heads/main'\n    uses: ./.github/workflows/deploy-environment.yml\n    with:\n      environment: dev",
        "    if: github.event_name == 'push'\n    uses: ./.github/workflows/deploy-environment.yml\n    with:\n      environment: dev",
    );
    assert_caught(violations(&branch), "deploy-after-ci-on-main", "refs/heads/main");
    let always = broken_copy("always").edit(
        "ci.yml",
        "    if: github.event_name == 'push' && github.ref == 'refs/heads/main'\n    uses: ./.github/workflows/deploy-environment.yml\n    with:\n      environment: prod",
        "    if: always() && github.event_name == 'push' && github.ref == 'refs/heads/main'\n    uses: ./.github/workflows/deploy-environment.yml\n    with:\n      environment: prod",
    );
    assert_caught(violations(&always), "deploy-after-ci-on-main", "always()");
    let dispatch = broken_copy("dispatch").edit(
        "deploy-environment.yml",
        "on:\n  workflow_call:",
        "on:\n  workflow_dispatch:\n  workflow_call:",
    );
    assert_caught(
        violations(&dispatch),
        "deploy-after-ci-on-main",
        "other than by workflow_call",
    );
}

#[test]
fn a_deploy_job_without_the_head_check_is_caught() {
    let copy = broken_copy("head").edit(
        "deploy-environment.yml",
        "      # The approval may come after main moved on: an older plan is never applied.\n      - name: Deploy only main's current head",
        "      - name: Not checking anything\n        run: echo\n      - name: Deploy only main's current head",
    );
    assert_caught(
        violations(&copy),
        "deploy-after-ci-on-main",
        "main's current head",
    );
}

#[test]
fn a_plan_behind_the_gate_or_an_apply_without_it_is_caught() {
    let gated = broken_copy("gated").edit(
        "deploy-environment.yml",
        "    environment: ${{ inputs.environment }}-plan",
        "    environment: ${{ inputs.environment }}",
    );
    assert_caught(
        violations(&gated),
        "plan-before-gate",
        "inside the environment's gate",
    );
    let replan = broken_copy("replan").edit(
        "deploy-environment.yml",
        "        run: make tf-apply-plan ENV=\"$ENV\"",
        "        run: make tf-plan ENV=\"$ENV\" && make tf-apply-plan ENV=\"$ENV\"",
    );
    assert_caught(violations(&replan), "plan-before-gate", "plan of its own");
    let unseen = broken_copy("unseen").edit(
        "deploy-environment.yml",
        "          } >> \"$GITHUB_STEP_SUMMARY\"",
        "          } > /dev/null",
    );
    assert_caught(violations(&unseen), "plan-before-gate", "step summary");
}

#[test]
fn a_smoke_test_in_the_apply_job_or_outside_its_environment_is_caught() {
    let in_apply = broken_copy("smoke-in-apply").edit(
        "deploy-environment.yml",
        "        run: make smoke-inputs ENV=\"$ENV\" >> \"$GITHUB_OUTPUT\"",
        "        run: make smoke-inputs ENV=\"$ENV\" >> \"$GITHUB_OUTPUT\" && make smoke ENV=\"$ENV\"",
    );
    assert_caught(
        violations(&in_apply),
        "plan-before-gate",
        "would read the signing secret",
    );
    let elsewhere = broken_copy("smoke-env").edit(
        "deploy-environment.yml",
        "    environment: ${{ inputs.environment }}-smoke",
        "    environment: ${{ inputs.environment }}",
    );
    assert_caught(violations(&elsewhere), "plan-before-gate", "<env>-smoke");
    let early = broken_copy("smoke-early").edit(
        "deploy-environment.yml",
        "    needs: apply\n",
        "    needs: plan\n",
    );
    assert_caught(violations(&early), "plan-before-gate", "before the apply");
}
