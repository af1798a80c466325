variable "name" {
  description = "Queue name; the DLQ is \"<name>-dlq\" (FIFO queues get the .fifo suffix)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,70}$", var.name))
    error_message = "Use at most 70 letters, digits, '-' and '_' (room for the -dlq and .fifo suffixes)."
  }
}

variable "fifo" {
  description = "Create FIFO queues (ordered per message group; the worker then processes in group order)."
  type        = bool
  default     = false
}

variable "visibility_timeout_seconds" {
  description = "How long a received message stays invisible; at least six times the consumer's timeout (AWS guidance for Lambda)."
  type        = number

  validation {
    condition     = var.visibility_timeout_seconds >= 0 && var.visibility_timeout_seconds <= 43200
    error_message = "SQS accepts a visibility timeout from 0 to 43200 seconds."
  }
}

variable "message_retention_seconds" {
  description = "How long an unprocessed message is kept."
  type        = number
  default     = 345600

  validation {
    condition     = var.message_retention_seconds >= 60 && var.message_retention_seconds <= 1209600
    error_message = "SQS retains messages from 60 seconds to 14 days (1209600)."
  }
}

variable "dlq_retention_seconds" {
  description = "How long a dead-lettered message is kept; longer than the queue's so nothing expires before it is looked at."
  type        = number
  default     = 1209600

  validation {
    condition     = var.dlq_retention_seconds >= 60 && var.dlq_retention_seconds <= 1209600
    error_message = "SQS retains messages from 60 seconds to 14 days (1209600)."
  }
}

variable "max_receive_count" {
  description = "Receives before a message moves to the DLQ (AWS suggests at least 5 behind a Lambda event source mapping)."
  type        = number
  default     = 5

  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000
    error_message = "maxReceiveCount is from 1 to 1000."
  }
}

variable "max_message_age_seconds" {
  description = "Alarm when the oldest message has waited longer than this."
  type        = number
  default     = 900
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key for SSE; null uses SQS-managed encryption (SSE-SQS)."
  type        = string
  default     = null
}

variable "alarm_actions" {
  description = "ARNs notified when an alarm changes state (for example an SNS topic)."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags for the queues and alarms."
  type        = map(string)
  default     = {}
}
