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

variable "notifier_zip_path" {
  description = "webhook-notifier's bootstrap.zip, from make build."
  type        = string
  default     = "../../../dist/webhook-notifier/bootstrap.zip"
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

variable "fan_out" {
  description = "\"none\" (webhook-api sends to the queue) or \"sns\" (it publishes to a topic the queue subscribes to); see the pipeline module."
  type        = string
  default     = "none"
}

variable "fan_out_raw_message_delivery" {
  description = "With fan_out = \"sns\": raw message delivery on the queue's subscription."
  type        = bool
  default     = true
}

variable "stripe_event_bus_name" {
  description = "Stripe's partner event bus (aws.partner/stripe.com/...) to route to the queue; \"\" for none."
  type        = string
  default     = ""
}

variable "notifier_enabled" {
  description = "The notifier hop (table stream -> webhook-notifier -> SES); false where notifications are sent elsewhere (in CI: the NOTIFIER_ENABLED variable)."
  type        = bool
  default     = true
}

variable "notification_sender" {
  description = "The verified SES address notifications are sent from; required with notifier_enabled (in CI: the NOTIFICATION_SENDER variable)."
  type        = string
  default     = ""
}

variable "notification_recipient_override" {
  description = "Send every notification to this inbox instead of the customer's; \"\" for the customer's own address (in CI: the NOTIFICATION_RECIPIENT_OVERRIDE variable)."
  type        = string
  default     = ""
}
