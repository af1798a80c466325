variable "name" {
  description = "Function name; also names its role (<name>-role) and log group (/aws/lambda/<name>)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,59}$", var.name))
    error_message = "Use at most 59 letters, digits, '-' and '_' (the role name adds -role)."
  }
}

variable "description" {
  description = "What the function does."
  type        = string
  default     = ""
}

variable "service_name" {
  description = "OTEL_SERVICE_NAME: the service name in traces and Application Signals."
  type        = string
}

variable "zip_path" {
  description = "Path of the bootstrap.zip built by `make build`."
  type        = string

  validation {
    condition     = endswith(var.zip_path, ".zip")
    error_message = "zip_path must point at the function's .zip artifact (make build writes dist/<function>/bootstrap.zip)."
  }
}

variable "architecture" {
  description = "Instruction set of the artifact: arm64 (default, cheaper) or x86_64. The ADOT layer must match."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture is arm64 or x86_64."
  }
}

variable "memory_size" {
  description = "Memory in MB (CPU scales with it)."
  type        = number
  default     = 128

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240
    error_message = "Lambda memory is 128 to 10240 MB."
  }
}

variable "timeout" {
  description = "Invocation timeout in seconds."
  type        = number
  default     = 10

  validation {
    condition     = var.timeout >= 1 && var.timeout <= 900
    error_message = "Lambda timeouts are 1 to 900 seconds."
  }
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions (a ceiling that also protects the rest of the account); -1 for none."
  type        = number
  default     = -1
}

variable "environment" {
  description = "Environment variables of the function, on top of the telemetry ones."
  type        = map(string)
  default     = {}
}

variable "telemetry_transport" {
  description = "How spans leave the function: \"adot-collector\" (the ADOT collector layer, OTLP on localhost) or \"xray-udp\" (OTLP over UDP to the Lambda X-Ray daemon, no extension)."
  type        = string
  default     = "adot-collector"

  validation {
    condition     = contains(["adot-collector", "xray-udp"], var.telemetry_transport)
    error_message = "telemetry_transport is \"adot-collector\" or \"xray-udp\"."
  }
}

variable "adot_layer_arns" {
  description = "ADOT collector layer ARN per region, then per architecture (amd64 / arm64); used with telemetry_transport = \"adot-collector\"."
  type        = map(map(string))
}

variable "log_level" {
  description = "Application log level (Lambda advanced logging; the function reads it as AWS_LAMBDA_LOG_LEVEL)."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"], var.log_level)
    error_message = "log_level is TRACE, DEBUG, INFO, WARN, ERROR or FATAL."
  }
}

variable "log_retention_days" {
  description = "CloudWatch Logs retention in days."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "CloudWatch Logs accepts 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653 days."
  }
}

variable "log_kms_key_arn" {
  description = "KMS key to encrypt the log group; null uses CloudWatch Logs' default encryption."
  type        = string
  default     = null
}

variable "environment_kms_key_arn" {
  description = "KMS key to encrypt environment variables at rest; null uses the Lambda-managed key (they hold no secrets: the signing secret stays in Secrets Manager)."
  type        = string
  default     = null
}

variable "policy_json" {
  description = "The function's own least-privilege IAM policy (JSON), beside logging, X-Ray and Application Signals."
  type        = string
  default     = null
}

variable "alarm_actions" {
  description = "ARNs notified when the error alarm changes state."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags for every resource of the function."
  type        = map(string)
  default     = {}
}

variable "role_path" {
  description = "IAM path of the execution role: the deploy role may only manage roles under its environment's path."
  type        = string
  default     = "/"

  validation {
    condition     = can(regex("^/([A-Za-z0-9+=,.@_-]+/)*$", var.role_path))
    error_message = "role_path starts and ends with '/' (for example /webhooks/dev/)."
  }
}

variable "permissions_boundary_arn" {
  description = "Permissions boundary of the execution role (the one terraform/bootstrap creates per environment); null for none."
  type        = string
  default     = null
}
