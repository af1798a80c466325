variable "region" {
  description = "Region of the state bucket and the environments."
  type        = string
}

variable "project" {
  description = "Project name: the prefix of every resource the deploy roles may manage (<project>-<env>-...)."
  type        = string
  default     = "webhooks"
}

variable "environments" {
  description = "Environments to create a GitHub deploy role for; each matches a GitHub environment of the same name."
  type        = list(string)
  default     = ["dev", "prod"]
}

variable "github_repository" {
  description = "The GitHub repository (owner/name) whose workflows may assume the deploy roles."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository is owner/name."
  }
}

variable "state_bucket_name" {
  description = "Name of the S3 bucket for Terraform state (globally unique)."
  type        = string
}

variable "create_github_oidc_provider" {
  description = "Create the account's GitHub OIDC provider; false if the account already has one."
  type        = bool
  default     = true
}

variable "transaction_search" {
  description = "Send every span to CloudWatch Logs (aws/spans) with X-Ray Transaction Search, for the whole account in this region."
  type        = bool
  default     = true
}

variable "transaction_search_indexing_percentage" {
  description = "Share of spans X-Ray also indexes as trace summaries (1% is free)."
  type        = number
  default     = 1

  validation {
    condition     = var.transaction_search_indexing_percentage >= 0 && var.transaction_search_indexing_percentage <= 100
    error_message = "transaction_search_indexing_percentage is a percentage, from 0 to 100."
  }
}

variable "signing_secret_kms_key_arn" {
  description = "Customer-managed KMS key for the environments' signing secrets; null uses the AWS-managed key (aws/secretsmanager)."
  type        = string
  default     = null
}

variable "signing_secret_recovery_window_days" {
  description = "Days a deleted signing secret can be recovered. Secrets Manager accepts 0 (delete at once) or 7 to 30."
  type        = number
  default     = 30

  validation {
    condition     = var.signing_secret_recovery_window_days == 0 || (var.signing_secret_recovery_window_days >= 7 && var.signing_secret_recovery_window_days <= 30)
    error_message = "signing_secret_recovery_window_days is 0 (delete at once) or 7 to 30."
  }
}
