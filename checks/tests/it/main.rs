//! Every rule on this repository, and each one failing on a deliberately broken copy: one test
//! binary, so the crate links once.

// Integration tests: a failed expectation is a failed test, not a crash on input.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod bootstrap_scripts;
mod broken_copy;
mod make_targets;
mod terraform_alarms_and_logs;
mod terraform_deploy_role;
mod terraform_pipeline_validations;
mod terraform_policy;
mod terraform_provider_schema;
mod workflows;
mod workspace;
