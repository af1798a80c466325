output "state_bucket" {
  description = "Put this in each environment's backend.hcl (bucket = ...)."
  value       = aws_s3_bucket.state.bucket
}

output "deploy_role_arns" {
  description = "Per environment: set it as the AWS_ROLE_ARN variable of the GitHub environment of the same name (it applies)."
  value       = { for env, role in aws_iam_role.deploy : env => role.arn }
}

output "plan_role_arns" {
  description = "Per environment: set it as the AWS_ROLE_ARN variable of the GitHub environment <env>-plan (it plans, read-only)."
  value       = { for env, role in aws_iam_role.plan : env => role.arn }
}

output "operator_policy_arns" {
  description = "Per environment: attach it to whoever operates the environment (make trace, make redrive, the dashboard)."
  value       = { for env, policy in aws_iam_policy.operator : env => policy.arn }
}

output "signing_secret_arns" {
  description = "Per environment: the secret to put the Stripe endpoint's signing secret in before its first deploy (README, \"The signing secrets\")."
  value       = { for env, secret in aws_secretsmanager_secret.signing : env => secret.arn }
}
