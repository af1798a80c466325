output "state_buckets" {
  description = "Per environment: its state bucket, the TF_STATE_BUCKET variable of the GitHub environments <env>-plan and <env>."
  value       = { for env, bucket in aws_s3_bucket.state : env => bucket.bucket }
}

output "deploy_role_arns" {
  description = "Per environment: set it as the AWS_ROLE_ARN variable of the GitHub environment of the same name (it applies)."
  value       = { for env, role in aws_iam_role.deploy : env => role.arn }
}

output "smoke_role_arns" {
  description = "Per environment: set it as the AWS_ROLE_ARN variable of the GitHub environment <env>-smoke (the smoke test, the only job that reads the signing secret)."
  value       = { for env, role in aws_iam_role.smoke : env => role.arn }
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
