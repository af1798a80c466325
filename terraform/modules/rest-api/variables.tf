variable "name" {
  description = "API name; also names the access log group."
  type        = string
}

variable "function_name" {
  description = "Name of the function the route invokes."
  type        = string
}

variable "function_invoke_arn" {
  description = "Invoke ARN of that function (the function module's invoke_arn output)."
  type        = string
}

variable "stage_name" {
  description = "Stage name; it is the first segment of the endpoint URL's path."
  type        = string
  default     = "live"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,128}$", var.stage_name))
    error_message = "A stage name is letters, digits, '-' and '_'."
  }
}

variable "trace_sampling_rate" {
  description = "Share of webhook requests X-Ray traces beyond the reservoir (0 to 1): the fixed rate of the route's sampling rule. Every request is in the logs whatever the rate."
  type        = number
  default     = 1

  validation {
    condition     = var.trace_sampling_rate >= 0 && var.trace_sampling_rate <= 1
    error_message = "trace_sampling_rate is a share, from 0 to 1."
  }
}

variable "trace_sampling_reservoir" {
  description = "Webhook requests X-Ray traces each second before trace_sampling_rate applies."
  type        = number
  default     = 1

  validation {
    condition     = var.trace_sampling_reservoir >= 0 && floor(var.trace_sampling_reservoir) == var.trace_sampling_reservoir
    error_message = "trace_sampling_reservoir is a whole number of requests per second."
  }
}

variable "throttling_burst_limit" {
  description = "Requests the stage accepts in a burst."
  type        = number
  default     = 200
}

variable "throttling_rate_limit" {
  description = "Steady requests per second the stage accepts (Stripe retries what is throttled)."
  type        = number
  default     = 100
}

variable "log_retention_days" {
  description = "Access log retention in days."
  type        = number
  default     = 30
}

variable "log_kms_key_arn" {
  description = "KMS key for the access log group; null uses CloudWatch Logs' default encryption."
  type        = string
  default     = null
}

variable "alarm_actions" {
  description = "ARNs notified when the 5XX alarm changes state."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags for the API, its stage and log group."
  type        = map(string)
  default     = {}
}
