//! Checks of the path to AWS that run without an account: the GitHub workflows' job graph.
//!
//! - every action is pinned to a full commit SHA;
//! - the artifacts are built from a clean checkout (no cache in the job that runs `make build`);
//! - a deploy runs only after every CI job of the same run passed, only for a push to main, and
//!   each deploy job first checks that its commit is still main's head (a re-run never rolls
//!   back);
//! - per environment, the plan is made and uploaded before the environment's gate, the job
//!   behind the gate applies exactly that plan, and a job of its own in `<env>-smoke` (the only
//!   GitHub environment whose role reads the signing secret) then runs the smoke test.
//!
//! actionlint and zizmor (in `make check-workflows`) check the rest.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use yaml_rust2::{Yaml, YamlLoader};

use crate::Violation;

/// The reusable workflow that deploys one environment.
pub const DEPLOY_WORKFLOW: &str = "deploy-environment.yml";

/// Why the workflows could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// A workflow file could not be read or parsed.
    #[error("cannot read {path}: {detail}")]
    Read {
        /// The file.
        path: String,
        /// What went wrong.
        detail: String,
    },
}

/// Every workflow file of `.github/workflows`, by file name.
#[derive(Debug, Clone)]
pub struct Workflows {
    files: BTreeMap<String, Yaml>,
}

impl Workflows {
    /// Every workflow file of `dir`.
    pub fn load(dir: &Path) -> Result<Self, CheckError> {
        let read_error = |path: &Path, detail: String| CheckError::Read {
            path: path.display().to_string(),
            detail,
        };
        let mut files = BTreeMap::new();
        let entries = std::fs::read_dir(dir).map_err(|error| read_error(dir, error.to_string()))?;
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if !path.extension().is_some_and(|ext| ext == "yml" || ext == "yaml") {
                continue;
            }
            let text =
                std::fs::read_to_string(&path).map_err(|error| read_error(&path, error.to_string()))?;
            let document = YamlLoader::load_from_str(&text)
                .map_err(|error| read_error(&path, error.to_string()))?
                .into_iter()
                .next()
                .unwrap_or(Yaml::Null);
            files.insert(entry.file_name().to_string_lossy().into_owned(), document);
        }
        Ok(Self { files })
    }

    fn jobs(&self) -> impl Iterator<Item = (&str, &str, &Yaml)> {
        self.files.iter().flat_map(|(file, document)| {
            document["jobs"]
                .as_hash()
                .into_iter()
                .flatten()
                .filter_map(move |(name, job)| Some((file.as_str(), name.as_str()?, job)))
        })
    }
}

fn steps(job: &Yaml) -> impl Iterator<Item = &Yaml> {
    job["steps"].as_vec().into_iter().flatten()
}

fn text(yaml: &Yaml) -> &str {
    yaml.as_str().unwrap_or_default()
}

/// The commands a job runs, joined.
fn runs(job: &Yaml) -> String {
    steps(job)
        .map(|step| text(&step["run"]))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether commands run the smoke test: `operator smoke` (the built binary or through cargo) or
/// `make smoke`.
fn runs_smoke_test(runs: &str) -> bool {
    runs.split_whitespace()
        .collect::<Vec<_>>()
        .windows(2)
        .any(|words| words[1] == "smoke" && (words[0] == "make" || words[0].ends_with("operator")))
}

fn needs(job: &Yaml) -> Vec<&str> {
    match &job["needs"] {
        Yaml::String(one) => vec![one.as_str()],
        Yaml::Array(many) => many.iter().filter_map(Yaml::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Every rule.
pub fn check_all(workflows: &Workflows) -> Vec<Violation> {
    let mut violations = actions_are_pinned(workflows);
    violations.extend(artifacts_come_from_a_clean_checkout(workflows));
    violations.extend(deploys_follow_ci_on_main(workflows));
    violations.extend(plans_come_before_the_gate(workflows));
    violations
}

/// `uses:` names a full commit SHA (or a workflow of this repository).
pub fn actions_are_pinned(workflows: &Workflows) -> Vec<Violation> {
    let mut violations = Vec::new();
    for (file, name, job) in workflows.jobs() {
        let uses = std::iter::once(&job["uses"]).chain(steps(job).map(|step| &step["uses"]));
        for reference in uses.filter_map(Yaml::as_str) {
            if reference.starts_with("./") {
                continue;
            }
            let pinned = reference.rsplit_once('@').is_some_and(|(_, version)| {
                version.len() == 40 && version.bytes().all(|b| b.is_ascii_hexdigit())
            });
            if !pinned {
                violations.push(Violation {
                    rule: "actions-pinned",
                    location: format!("{file}: job {name}"),
                    message: format!("{reference} is not pinned to a full commit SHA"),
                });
            }
        }
    }
    violations
}

/// The job that builds the release artifacts restores no cache.
pub fn artifacts_come_from_a_clean_checkout(workflows: &Workflows) -> Vec<Violation> {
    let mut violations = Vec::new();
    for (file, name, job) in workflows.jobs() {
        if !runs(job).contains("make build") {
            continue;
        }
        for step in steps(job) {
            if text(&step["uses"]).starts_with("actions/cache") {
                violations.push(Violation {
                    rule: "clean-build",
                    location: format!("{file}: job {name}"),
                    message: "the job that runs `make build` restores a cache: a fresh clone's build is not what it proves".to_owned(),
                });
            }
        }
    }
    violations
}

/// Jobs that deploy: they call the reusable deploy workflow.
fn deploy_jobs(workflows: &Workflows) -> Vec<(&str, &str, &Yaml)> {
    workflows
        .jobs()
        .filter(|(_, _, job)| text(&job["uses"]).ends_with(DEPLOY_WORKFLOW))
        .collect()
}

/// Every deploy job needs, directly or through another, every CI job of its workflow; runs only
/// for a push to main; and cannot run when one of them failed.
pub fn deploys_follow_ci_on_main(workflows: &Workflows) -> Vec<Violation> {
    let rule = "deploy-after-ci-on-main";
    let mut violations = Vec::new();
    let deploys = deploy_jobs(workflows);
    if deploys.is_empty() {
        violations.push(Violation {
            rule,
            location: ".github/workflows".to_owned(),
            message: format!("no job calls {DEPLOY_WORKFLOW}"),
        });
    }
    for (file, name, job) in &deploys {
        let location = format!("{file}: job {name}");
        let Some(all_jobs) = workflows.files[*file]["jobs"].as_hash() else {
            continue;
        };
        let by_name: BTreeMap<&str, &Yaml> = all_jobs
            .iter()
            .filter_map(|(key, job)| Some((key.as_str()?, job)))
            .collect();
        let ci_jobs: BTreeSet<&str> = by_name
            .iter()
            .filter(|(_, job)| !text(&job["uses"]).ends_with(DEPLOY_WORKFLOW))
            .map(|(name, _)| *name)
            .collect();
        let mut reached = BTreeSet::new();
        let mut pending = needs(job);
        while let Some(next) = pending.pop() {
            if reached.insert(next) {
                pending.extend(by_name.get(next).map(|job| needs(job)).unwrap_or_default());
            }
        }
        for ci in &ci_jobs {
            if !reached.contains(ci) {
                violations.push(Violation {
                    rule,
                    location: location.clone(),
                    message: format!(
                        "does not wait for CI job `{ci}`: a commit that fails it would still deploy"
                    ),
                });
            }
        }
        let condition = text(&job["if"]);
        for required in ["github.ref == 'refs/heads/main'", "github.event_name == 'push'"] {
            if !condition.contains(required) {
                violations.push(Violation {
                    rule,
                    location: location.clone(),
                    message: format!("its `if` lacks {required}: another branch or trigger could deploy"),
                });
            }
        }
        for bypass in ["always()", "failure()", "cancelled()"] {
            if condition.contains(bypass) {
                violations.push(Violation {
                    rule,
                    location: location.clone(),
                    message: format!("its `if` uses {bypass}, which runs it after a failed CI job"),
                });
            }
        }
    }
    let Some(deploy) = workflows.files.get(DEPLOY_WORKFLOW) else {
        return violations;
    };
    let triggers = &deploy["on"];
    if triggers.as_hash().is_none_or(|on| on.len() != 1) || triggers["workflow_call"].is_badvalue() {
        violations.push(Violation {
            rule,
            location: DEPLOY_WORKFLOW.to_owned(),
            message: "is triggered other than by workflow_call: it could run without CI".to_owned(),
        });
    }
    for (name, job) in deploy["jobs"].as_hash().into_iter().flatten() {
        let first_run = steps(job)
            .next()
            .map(|step| text(&step["run"]))
            .unwrap_or_default();
        let guards = first_run.contains("refs/heads/main")
            && first_run.contains("GITHUB_SHA")
            && first_run.contains("commits/main");
        if !guards {
            violations.push(Violation {
                rule,
                location: format!("{DEPLOY_WORKFLOW}: job {}", name.as_str().unwrap_or_default()),
                message: "its first step does not check that the commit is main's current head".to_owned(),
            });
        }
    }
    violations
}

/// In the deploy workflow: a plan job outside the environment's gate saves and uploads the plan;
/// the job inside the gate needs it, downloads it and applies exactly it; the smoke job, alone in
/// `<env>-smoke`, needs the apply.
pub fn plans_come_before_the_gate(workflows: &Workflows) -> Vec<Violation> {
    let rule = "plan-before-gate";
    let mut violations = Vec::new();
    let mut fail = |location: &str, message: &str| {
        violations.push(Violation {
            rule,
            location: location.to_owned(),
            message: message.to_owned(),
        })
    };
    let Some(deploy) = workflows.files.get(DEPLOY_WORKFLOW) else {
        fail(DEPLOY_WORKFLOW, "is missing");
        return violations;
    };
    let jobs: Vec<(&str, &Yaml)> = deploy["jobs"]
        .as_hash()
        .into_iter()
        .flatten()
        .filter_map(|(name, job)| Some((name.as_str()?, job)))
        .collect();
    let gate = "${{ inputs.environment }}";
    let environment = |job: &Yaml| text(&job["environment"]).to_owned();
    let plan = jobs.iter().find(|(_, job)| runs(job).contains("make tf-plan"));
    let apply = jobs
        .iter()
        .find(|(_, job)| runs(job).contains("make tf-apply-plan"));
    let (Some((plan_name, plan)), Some((_, apply))) = (plan, apply) else {
        fail(
            DEPLOY_WORKFLOW,
            "needs a job that runs `make tf-plan` and one that runs `make tf-apply-plan`",
        );
        return violations;
    };
    let location = format!("{DEPLOY_WORKFLOW}: job {plan_name}");
    if environment(plan) == gate || runs(plan).contains("apply") {
        fail(
            &location,
            "plans inside the environment's gate (or applies): reviewers would approve before there is a plan to read",
        );
    }
    let uploads_plan = steps(plan).any(|step| {
        text(&step["uses"]).starts_with("actions/upload-artifact")
            && text(&step["with"]["path"]).contains("tfplan")
    });
    if !uploads_plan {
        fail(&location, "does not upload the saved plan");
    }
    if !runs(plan).contains("GITHUB_STEP_SUMMARY") || !runs(plan).contains("show") {
        fail(
            &location,
            "does not write `terraform show` of the plan to the step summary",
        );
    }
    let location = format!("{DEPLOY_WORKFLOW}: apply job");
    if environment(apply) != gate {
        fail(&location, "does not run in the environment's gate");
    }
    if !needs(apply).contains(plan_name) {
        fail(&location, "does not need the plan job");
    }
    let downloads_plan = steps(apply).any(|step| {
        text(&step["uses"]).starts_with("actions/download-artifact")
            && text(&step["with"]["name"]).starts_with("plan-")
    });
    if !downloads_plan {
        fail(&location, "does not download the reviewed plan");
    }
    if runs(apply).contains("make tf-plan") || runs(apply).contains("terraform plan") {
        fail(
            &location,
            "makes a plan of its own instead of applying the reviewed one",
        );
    }
    let apply_runs = runs(apply);
    if runs_smoke_test(&apply_runs) {
        fail(
            &location,
            "runs the smoke test: its role would read the signing secret",
        );
    }
    let smoke = jobs.iter().find(|(_, job)| runs_smoke_test(&runs(job)));
    let Some((smoke_name, smoke)) = smoke else {
        fail(
            DEPLOY_WORKFLOW,
            "has no job that runs the smoke test after the apply",
        );
        return violations;
    };
    let location = format!("{DEPLOY_WORKFLOW}: job {smoke_name}");
    let apply_name = jobs
        .iter()
        .find(|(_, job)| runs(job).contains("make tf-apply-plan"))
        .map(|(name, _)| *name)
        .unwrap_or_default();
    if !needs(smoke).contains(&apply_name) {
        fail(
            &location,
            "does not need the apply job: it could run before the apply",
        );
    }
    if environment(smoke) != format!("{gate}-smoke") {
        fail(
            &location,
            "does not run in the environment <env>-smoke, whose role alone reads the signing secret",
        );
    }
    for (name, job) in &jobs {
        if *name != *smoke_name && environment(job) == format!("{gate}-smoke") {
            fail(
                &format!("{DEPLOY_WORKFLOW}: job {name}"),
                "runs in <env>-smoke, the smoke test's environment, whose role reads the signing secret",
            );
        }
    }
    violations
}
