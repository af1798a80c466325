variable "name" {
  description = "Table name."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{3,255}$", var.name))
    error_message = "A DynamoDB table name is 3-255 characters of letters, digits, '_', '-' and '.'."
  }
}

variable "deletion_protection" {
  description = "Refuse deletion of the table (set true for production)."
  type        = bool
  default     = true
}

variable "stream_enabled" {
  description = "Keep a DynamoDB stream of new item images (the notifier reads it)."
  type        = bool
  default     = false
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key for encryption at rest; null uses the AWS-managed DynamoDB key."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for the table."
  type        = map(string)
  default     = {}
}
