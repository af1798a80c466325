//! The Makefile's deploy targets, run for real against stand-in `terraform` and `aws` commands
//! in a copy of the repository's Makefile and Terraform roots.

// Integration tests: a failed expectation is a failed test, not a crash on input.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use hcl::Value;
use terraform_config::Module;

use crate::broken_copy::copy_dir;

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The Makefile, its Python requirement files and the Terraform tree, in a temporary
/// directory with stand-ins for `terraform` (init chatters on stdout, as the real one does) and
/// `aws` (credentials are fine); removed on drop.
struct Sandbox {
    dir: PathBuf,
}

impl Sandbox {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("make-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        copy(&repository().join("Makefile"), &dir.join("Makefile"));
        copy_dir(&repository().join("tools/python"), &dir.join("tools/python"));
        copy_dir(&repository().join("terraform"), &dir.join("terraform"));
        let bin = dir.join("fake-bin");
        std::fs::create_dir_all(&bin).unwrap();
        script(
            &bin.join("terraform"),
            "#!/bin/sh\ncase \"$1\" in -chdir=*) shift ;; esac\ncase \"$1\" in\n  init) echo 'Initializing the backend...'; echo 'Terraform has been successfully initialized!' ;;\n  output) echo '{\"signing_secret_arn\":{\"value\":\"arn:aws:secretsmanager:eu-west-1:1:secret:webhooks-dev/s\"}}' ;;\n  *) echo \"unexpected terraform $*\" >&2; exit 1 ;;\nesac\n",
        );
        script(&bin.join("aws"), "#!/bin/sh\nexit 0\n");
        Self { dir }
    }

    fn make(&self, args: &[&str]) -> Output {
        let path = format!(
            "{}:{}",
            self.dir.join("fake-bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        std::process::Command::new("make")
            .current_dir(&self.dir)
            .env("PATH", path)
            .env_remove("MAKEFLAGS")
            .env_remove("MAKELEVEL")
            .env_remove("MFLAGS")
            // Paths under the sandbox's own target/, whatever the caller's build uses.
            .env_remove("CARGO_TARGET_DIR")
            .args(args)
            .output()
            .unwrap()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(from, to).unwrap();
}

fn script(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn make_outputs_prints_only_json_for_the_readmes_secret_command() {
    let sandbox = Sandbox::new("outputs");
    std::fs::write(
        sandbox.dir.join("terraform/environments/dev/backend.hcl"),
        "bucket = \"b\"\n",
    )
    .unwrap();
    for args in [&["-s", "outputs", "ENV=dev"][..], &["outputs", "ENV=dev"][..]] {
        let output = sandbox.make(args);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "make {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let parsed: serde_json::Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|error| panic!("make {args:?} printed more than JSON ({error}):\n{stdout}"));
        assert_eq!(
            parsed["signing_secret_arn"]["value"],
            "arn:aws:secretsmanager:eu-west-1:1:secret:webhooks-dev/s"
        );
        assert!(String::from_utf8_lossy(&output.stderr).contains("Initializing the backend"));
    }
}

#[test]
fn make_backend_config_keys_the_state_by_the_project_the_grants_use() {
    let sandbox = Sandbox::new("backend");
    let output = sandbox.make(&[
        "-s",
        "backend-config",
        "ENV=prod",
        "TF_STATE_BUCKET=my-state",
        "AWS_REGION=eu-west-1",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let backend =
        std::fs::read_to_string(sandbox.dir.join("terraform/environments/prod/backend.hcl")).unwrap();
    assert!(
        backend.contains("key    = \"webhooks/prod/terraform.tfstate\""),
        "{backend}"
    );
    assert!(
        backend.contains("bucket = \"my-state\"") && backend.contains("region = \"eu-west-1\""),
        "{backend}"
    );

    // One project name: the Makefile's key prefix, the IAM grants (bootstrap) and the resource
    // names (pipeline).
    let makefile = std::fs::read_to_string(repository().join("Makefile")).unwrap();
    let project = makefile
        .lines()
        .find_map(|line| line.strip_prefix("PROJECT := "))
        .expect("the Makefile names PROJECT");
    for module in ["terraform/bootstrap", "terraform/modules/pipeline"] {
        let default = Module::load(repository().join(module))
            .unwrap()
            .variable_default("project")
            .unwrap();
        assert_eq!(default, Some(Value::from(project)), "{module}'s project");
    }
    for environment in ["dev", "prod"] {
        let example = std::fs::read_to_string(repository().join(format!(
            "terraform/environments/{environment}/backend.hcl.example"
        )))
        .unwrap();
        assert!(
            example.contains(&format!("\"{project}/{environment}/terraform.tfstate\"")),
            "{example}"
        );
    }
}

#[test]
fn deploy_targets_stop_with_one_line_before_anything_runs() {
    let sandbox = Sandbox::new("env");
    let output = sandbox.make(&["-s", "outputs"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("set ENV to the environment to act on"));
    let output = sandbox.make(&["-s", "outputs", "ENV=dev"]);
    assert_eq!(output.status.code(), Some(2), "no backend.hcl");
    assert!(String::from_utf8_lossy(&output.stderr).contains("backend.hcl is missing"));
}

#[test]
fn demo_and_build_install_only_the_local_stacks_tools() {
    // The static checks' virtualenv (checkov and its 300 MB) is for `make test` alone.
    let sandbox = Sandbox::new("front-door");
    for target in ["demo", "build", "emulator", "up"] {
        let output = sandbox.make(&["-n", target]);
        let plan = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "make -n {target}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            plan.contains("python3 -m venv .venv\n"),
            "make {target} installs .venv:\n{plan}"
        );
        assert!(
            !plan.contains(".venv-checks"),
            "make {target} would install .venv-checks:\n{plan}"
        );
    }
    let output = sandbox.make(&["-n", "test"]);
    assert!(String::from_utf8_lossy(&output.stdout).contains(".venv-checks"));
}

#[test]
fn make_trace_and_redrive_run_the_operator_locally_or_against_the_environment() {
    let sandbox = Sandbox::new("operator");
    let plan = |args: &[&str]| {
        let output = sandbox.make(args);
        assert!(
            output.status.success(),
            "make {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let local = plan(&["-n", "trace", "EVENT=evt_1"]);
    assert!(
        local.contains("operator trace evt_1 --local target/local-pipeline/up/state.json"),
        "{local}"
    );
    let aws = plan(&["-n", "trace", "EVENT=evt_1", "ENV=dev"]);
    assert!(
        aws.contains("output -json > target/operator/dev-outputs.json"),
        "{aws}"
    );
    assert!(
        aws.contains("operator trace evt_1 --environment dev --outputs target/operator/dev-outputs.json"),
        "{aws}"
    );
    let redrive = plan(&["-n", "redrive", "ENV=prod"]);
    assert!(
        redrive.contains("operator redrive --environment prod --outputs target/operator/prod-outputs.json"),
        "{redrive}"
    );
    // No event: one line, before anything is built.
    let missing = sandbox.make(&["trace"]);
    assert!(!missing.status.success());
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("set EVENT to a Stripe event id"), "{stderr}");
    assert!(!String::from_utf8_lossy(&missing.stdout).contains("cargo build"));
}
