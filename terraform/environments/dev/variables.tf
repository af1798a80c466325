variable "region" {
  description = "AWS region to deploy to."
  type        = string
}

variable "api_zip_path" {
  description = "webhook-api's bootstrap.zip, from make build."
  type        = string
  default     = "../../../dist/webhook-api/bootstrap.zip"
}

variable "worker_zip_path" {
  description = "webhook-worker's bootstrap.zip, from make build."
  type        = string
  default     = "../../../dist/webhook-worker/bootstrap.zip"
}

variable "architecture" {
  description = "Architecture of the artifacts (make build ARCH=...)."
  type        = string
  default     = "arm64"
}

variable "telemetry_transport" {
  description = "\"xray-udp\" (no extension; see terraform/environments/README.md) or \"adot-collector\"."
  type        = string
  default     = "xray-udp"
}

variable "log_retention_days" {
  description = "Log retention in days."
  type        = number
}

variable "alarm_actions" {
  description = "ARNs the alarms notify (for example an existing SNS topic)."
  type        = list(string)
  default     = []
}

variable "alarm_email" {
  description = "Address subscribed to the alarm topic the pipeline creates; null for none (in CI: the dev environment's ALARM_EMAIL variable)."
  type        = string
  default     = null
}
