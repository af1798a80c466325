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
  description = "Every environment in this account (README, \"One account or several\"): each gets its state bucket, roles, boundary, signing secret and operator policy. Names are lowercase letters and digits, so that no environment's name prefix matches another's."
  type        = list(string)
  default     = ["dev", "prod"]

  validation {
    condition     = length(var.environments) > 0 && alltrue([for env in var.environments : length(regexall("^[a-z0-9]+$", env)) > 0])
    error_message = "environments are one or more names of lowercase letters and digits (no \"-\": webhooks-dev-* must not match an environment named dev-x)."
  }
}

variable "github_repository" {
  description = "The GitHub repository (owner/name) whose workflows may assume the deploy roles."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository is owner/name."
  }
}

variable "state_bucket_prefix" {
  description = "Prefix of the environments' Terraform state buckets, one per environment: <prefix>-<env> (globally unique)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,50}[a-z0-9]$", var.state_bucket_prefix))
    error_message = "state_bucket_prefix is 3 to 52 lowercase letters, digits, dots and hyphens, so that <prefix>-<env> is a valid bucket name."
  }
}

variable "stripe_event_bus_names" {
  description = "Per environment, the Stripe partner event bus its rule may read (the environment's stripe_event_bus_name); an environment without one gets no EventBridge permissions."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for bus in values(var.stripe_event_bus_names) : can(regex("^aws\\.partner/stripe\\.com/[A-Za-z0-9._/-]+$", bus))])
    error_message = "Each stripe_event_bus_names value is the partner event bus name Stripe created, aws.partner/stripe.com/<id>."
  }

  validation {
    condition     = alltrue([for env in keys(var.stripe_event_bus_names) : contains(var.environments, env)])
    error_message = "stripe_event_bus_names names only environments of this account (environments)."
  }
}

variable "log_index_fields" {
  description = "Log fields CloudWatch Logs indexes in every function log group of the project (/aws/lambda/<project>-*), so that make trace reads only one event's lines."
  type        = list(string)
  default     = ["webhook.event_id", "trace_id"]

  validation {
    condition     = length(var.log_index_fields) >= 1 && length(var.log_index_fields) <= 20
    error_message = "log_index_fields holds 1 to 20 field names (CloudWatch Logs indexes at most 20 per policy)."
  }
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
