//! Where the pinned offline check data is: the AWS provider's schema (the jsii manifest that
//! `@cdktf/provider-aws` generates from hashicorp/aws) and IAM's actions, resource types and
//! condition keys (`parliament`'s `iam_definition.json`). `make tools` installs both, pinned by
//! hash (tools/python/terraform-data-requirements.txt), into `.venv-checks/terraform-data`.

use std::path::{Path, PathBuf};

/// Overrides the default location.
pub const VARIABLE: &str = "TERRAFORM_CHECK_DATA";

/// The directory holding the data: `$TERRAFORM_CHECK_DATA`, else `.venv-checks/terraform-data`
/// in the workspace that contains `workspace_dir`.
pub fn directory(workspace_dir: &Path) -> PathBuf {
    std::env::var_os(VARIABLE)
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_dir.join(".venv-checks").join("terraform-data"))
}

/// The provider schema manifest.
pub fn provider_schema(dir: &Path) -> PathBuf {
    dir.join("provider-aws.jsii")
}

/// parliament's IAM definitions.
pub fn iam_definitions(dir: &Path) -> PathBuf {
    dir.join("parliament").join("iam_definition.json")
}

/// What to tell someone whose data is missing.
pub fn missing(path: &Path) -> String {
    format!(
        "{} is missing: run `make tools` (it installs the pinned Terraform check data), or set {VARIABLE}",
        path.display()
    )
}
