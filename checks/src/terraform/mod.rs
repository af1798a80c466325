//! The Terraform rules: what `terraform validate` cannot see without the provider. Every
//! attribute against the AWS provider's schema ([`schema`]); the bootstrap's roles against the
//! calls each makes ([`permissions`], the deploy-permissions table) and against reaching another
//! environment, and the functions' boundary ([`deploy_role`], on the [`iam`] evaluator and IAM's
//! action and condition-key data); the pipeline's invariants ([`rules`]); and the inputs/outputs
//! reference in each module README ([`module_reference`]). [`check_data`] finds the offline data
//! they read.

pub mod check_data;
pub mod deploy_role;
pub mod iam;
pub mod module_reference;
pub mod permissions;
pub mod rules;
pub mod schema;
