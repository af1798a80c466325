# Defaults here are the pipeline's settings; the local pipeline reads the same defaults.

variable "project" {
  description = "Project name, the first part of every resource name."
  type        = string
  default     = "webhooks"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.project))
    error_message = "project is 2-21 lowercase letters, digits and '-', starting with a letter."
  }
}

variable "environment" {
  description = "Environment name (dev, prod, ...), the second part of every resource name."
  type        = string

  validation {
    condition     = length(regexall("^[a-z][a-z0-9]{1,15}$", var.environment)) > 0
    error_message = "environment is 2-16 lowercase letters and digits, starting with a letter (no '-': <project>-dev-* must not match an environment named dev-x)."
  }
}

variable "api_zip_path" {
  description = "webhook-api's bootstrap.zip (make build: dist/webhook-api/bootstrap.zip)."
  type        = string
}

variable "worker_zip_path" {
  description = "webhook-worker's bootstrap.zip (make build: dist/webhook-worker/bootstrap.zip)."
  type        = string
}

variable "architecture" {
  description = "Architecture of both artifacts: arm64 or x86_64 (make build ARCH=...)."
  type        = string
  default     = "arm64"
}

variable "telemetry_transport" {
  description = "\"xray-udp\" (OTLP over UDP to the X-Ray daemon, no extension: what Application Signals reads) or \"adot-collector\" (the ADOT collector layer, OTLP on localhost)."
  type        = string
  default     = "xray-udp"
}

# From the ADOT documentation's collector layer table (aws-otel.github.io, "AWS Distro for
# OpenTelemetry Lambda Support For Go": aws-otel-collector-<amd64|arm64>-ver-0-117-0:1, ADOT
# Collector v0.43.0, the newest collector-only layer), read 2026-12-01. AWS marks these layers
# legacy; each entry is resolved at plan time, and `make check-layers ENV=...` checks them all.
variable "adot_layer_arns" {
  description = "ADOT collector layer ARN per region and architecture (amd64 / arm64), for telemetry_transport = \"adot-collector\". Each is resolved at plan time; a region missing here fails the plan with a clear message."
  type        = map(map(string))
  default = {
    "us-east-1" = {
      amd64 = "arn:aws:lambda:us-east-1:901920570463:layer:aws-otel-collector-amd64-ver-0-117-0:1"
      arm64 = "arn:aws:lambda:us-east-1:901920570463:layer:aws-otel-collector-arm64-ver-0-117-0:1"
    }
    "us-east-2" = {
      amd64 = "arn:aws:lambda:us-east-2:901920570463:layer:aws-otel-collector-amd64-ver-0-117-0:1"
      arm64 = "arn:aws:lambda:us-east-2:901920570463:layer:aws-otel-collector-arm64-ver-0-117-0:1"
    }
    "us-west-2" = {
      amd64 = "arn:aws:lambda:us-west-2:901920570463:layer:aws-otel-collector-amd64-ver-0-117-0:1"
      arm64 = "arn:aws:lambda:us-west-2:901920570463:layer:aws-otel-collector-arm64-ver-0-117-0:1"
    }
    "eu-west-1" = {
      amd64 = "arn:aws:lambda:eu-west-1:901920570463:layer:aws-otel-collector-amd64-ver-0-117-0:1"
      arm64 = "arn:aws:lambda:eu-west-1:901920570463:layer:aws-otel-collector-arm64-ver-0-117-0:1"
    }
    "eu-central-1" = {
      amd64 = "arn:aws:lambda:eu-central-1:901920570463:layer:aws-otel-collector-amd64-ver-0-117-0:1"
      arm64 = "arn:aws:lambda:eu-central-1:901920570463:layer:aws-otel-collector-arm64-ver-0-117-0:1"
    }
    "ap-southeast-2" = {
      amd64 = "arn:aws:lambda:ap-southeast-2:901920570463:layer:aws-otel-collector-amd64-ver-0-117-0:1"
      arm64 = "arn:aws:lambda:ap-southeast-2:901920570463:layer:aws-otel-collector-arm64-ver-0-117-0:1"
    }
  }
}

variable "trace_mode" {
  description = "WEBHOOK_TRACE_MODE of the worker: parent (one trace end to end) or link."
  type        = string
  default     = "parent"

  validation {
    condition     = contains(["parent", "link"], var.trace_mode)
    error_message = "trace_mode is parent or link."
  }
}

variable "fifo" {
  description = "Use a FIFO queue (the worker then processes each message group in order)."
  type        = bool
  default     = false
}

variable "api_memory_size" {
  description = "webhook-api memory in MB."
  type        = number
  default     = 128
}

variable "trace_sampling_rate" {
  description = "Share of webhook requests X-Ray traces beyond the reservoir (0 to 1). 1 traces every event; docs/operating.md gives the cost per million events at each rate. Every event is in the logs whatever the rate."
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
}

variable "api_timeout_seconds" {
  description = "webhook-api timeout; API Gateway itself gives up after 29 s."
  type        = number
  default     = 10
}

variable "worker_memory_size" {
  description = "webhook-worker memory in MB."
  type        = number
  default     = 256
}

variable "worker_timeout_seconds" {
  description = "webhook-worker timeout in seconds."
  type        = number
  default     = 30
}

variable "batch_size" {
  description = "Messages per worker invocation (the event source mapping's batch size): up to 10 on FIFO queues and on standard queues without a batching window, up to 10000 with one."
  type        = number
  default     = 10

  validation {
    condition     = var.batch_size >= 1 && var.batch_size <= 10000
    error_message = "An SQS event source mapping takes 1 to 10000 messages per batch."
  }

  validation {
    condition     = !var.fifo || var.batch_size <= 10
    error_message = "A FIFO queue's event source mapping takes at most 10 messages per batch."
  }

  validation {
    condition     = var.fifo || var.batch_size <= 10 || var.batching_window_seconds >= 1
    error_message = "A batch of more than 10 messages needs a batching window of at least 1 second (batching_window_seconds); without one Lambda rejects the event source mapping."
  }
}

variable "batching_window_seconds" {
  description = "How long the event source mapping waits to fill a batch (standard queues; FIFO mappings take no window, so set 0 with fifo = true)."
  type        = number
  default     = 5

  validation {
    condition     = var.batching_window_seconds >= 0 && var.batching_window_seconds <= 300
    error_message = "The batching window is 0 to 300 seconds."
  }

  validation {
    condition     = !var.fifo || var.batching_window_seconds == 0
    error_message = "An event source mapping for a FIFO queue does not accept a batching window: set batching_window_seconds = 0 with fifo = true."
  }
}

variable "worker_max_concurrency" {
  description = "Messages of one standard-queue batch the worker processes at once (WEBHOOK_MAX_CONCURRENCY); FIFO batches run in group order."
  type        = number
  default     = 10

  validation {
    condition     = var.worker_max_concurrency >= 1 && var.worker_max_concurrency <= 1000
    error_message = "worker_max_concurrency is 1 to 1000, the range the worker accepts (it refuses to start otherwise)."
  }
}

variable "max_concurrency" {
  description = "Most worker invocations the event source mapping runs at once (standard queues)."
  type        = number
  default     = 10

  validation {
    condition     = var.max_concurrency >= 2 && var.max_concurrency <= 1000
    error_message = "The event source mapping's maximum concurrency is 2 to 1000."
  }
}

variable "queue_visibility_timeout_seconds" {
  description = "The queue's visibility timeout: at least six times worker_timeout_seconds (AWS guidance)."
  type        = number
  default     = 180

  validation {
    condition     = var.queue_visibility_timeout_seconds >= 6 * var.worker_timeout_seconds
    error_message = "queue_visibility_timeout_seconds must be at least six times worker_timeout_seconds."
  }
}

variable "message_retention_seconds" {
  description = "How long the queue keeps an unprocessed message."
  type        = number
  default     = 345600
}

variable "max_receive_count" {
  description = "Receives before a message moves to the DLQ; at least 5 (AWS's guidance for Lambda event source mappings), so throttled invocations do not dead-letter healthy messages."
  type        = number
  default     = 5

  validation {
    condition     = var.max_receive_count >= 5 && var.max_receive_count <= 1000
    error_message = "max_receive_count is 5 to 1000: with fewer, a burst of throttled invocations can move healthy messages to the DLQ (AWS guidance for Lambda event source mappings)."
  }
}

variable "record_ttl_days" {
  description = "Days an event record is kept (the table's TTL); redeliveries within it are recognised as duplicates."
  type        = number
  default     = 90

  validation {
    condition     = var.record_ttl_days >= 1 && var.record_ttl_days <= 3650
    error_message = "record_ttl_days is 1 to 3650, the range the worker accepts (it refuses to start otherwise)."
  }
}

variable "deletion_protection" {
  description = "Protect the table from deletion."
  type        = bool
  default     = true
}

variable "log_retention_days" {
  description = "Retention of the functions' and the API's log groups, in days."
  type        = number
  default     = 30
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key for the queue and the table; null uses AWS-managed keys."
  type        = string
  default     = null
}

variable "alarm_actions" {
  description = "ARNs notified by every alarm (for example an existing SNS topic)."
  type        = list(string)
  default     = []
}

variable "alarm_email" {
  description = "If set (not null or empty), an SNS topic <project>-<environment>-alarms is created with this address subscribed, and every alarm notifies it too."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_email == null || var.alarm_email == "" || can(regex("^[^@[:space:]]+@[^@[:space:]]+$", var.alarm_email))
    error_message = "alarm_email is an e-mail address."
  }
}

variable "tags" {
  description = "Extra tags on every resource."
  type        = map(string)
  default     = {}
}

variable "fan_out" {
  description = "\"none\": webhook-api sends each event to the queue. \"sns\": it publishes to an SNS topic the queue subscribes to, so more consumers' queues can subscribe too."
  type        = string
  default     = "none"

  validation {
    condition     = contains(["none", "sns"], var.fan_out)
    error_message = "fan_out is \"none\" or \"sns\"."
  }
}

variable "fan_out_raw_message_delivery" {
  description = "With fan_out = \"sns\": deliver the event itself (true; the trace context arrives as SQS message attributes) or SNS's JSON envelope around it (false; the worker opens it). Both keep the trace."
  type        = bool
  default     = true
}

variable "fan_out_topic_tracing" {
  description = "With fan_out = \"sns\": the topic's tracing_config. \"PassThrough\" hands the publisher's X-Ray header on to the subscriptions; \"Active\" also sends SNS's own segments to X-Ray (the X-Ray resource policy terraform/bootstrap sets lets it)."
  type        = string
  default     = "PassThrough"

  validation {
    condition     = contains(["PassThrough", "Active"], var.fan_out_topic_tracing)
    error_message = "fan_out_topic_tracing is \"PassThrough\" or \"Active\"."
  }
}

variable "stripe_event_bus_name" {
  description = "Name of the partner event bus Stripe delivers to (aws.partner/stripe.com/...), to route its events to the queue with an EventBridge rule; \"\" for none. The worker reads the Stripe event from the EventBridge envelope's detail."
  type        = string
  default     = ""

  validation {
    condition     = var.stripe_event_bus_name == "" || can(regex("^aws\\.partner/stripe\\.com/[A-Za-z0-9._/-]+$", var.stripe_event_bus_name))
    error_message = "stripe_event_bus_name is \"\" or the partner event bus name Stripe created, aws.partner/stripe.com/<id>."
  }
}

variable "notifier_enabled" {
  description = "Deploy the notifier: the table's stream -> webhook-notifier -> SES email to the customer whose payment failed. Turn it off where notifications are sent elsewhere (pending notification items are then left for that sender)."
  type        = bool
  default     = true
}

variable "notifier_zip_path" {
  description = "webhook-notifier's bootstrap.zip (make build: dist/webhook-notifier/bootstrap.zip); required with notifier_enabled."
  type        = string
  default     = null

  validation {
    condition     = !var.notifier_enabled || var.notifier_zip_path != null
    error_message = "notifier_enabled needs notifier_zip_path; or set notifier_enabled = false."
  }
}

variable "notification_sender" {
  description = "The address notifications are sent from; it, or its domain (notification_identity), must be a verified SES identity of the account and region. Required with notifier_enabled."
  type        = string
  default     = null

  validation {
    condition     = var.notification_sender == null || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.notification_sender))
    error_message = "notification_sender is an email address."
  }

  validation {
    condition     = !var.notifier_enabled || var.notification_sender != null
    error_message = "notifier_enabled needs notification_sender (a verified SES identity); or set notifier_enabled = false."
  }
}

variable "notification_identity" {
  description = "The verified SES identity the sender belongs to: the address itself (default) or its domain."
  type        = string
  default     = null
}

variable "notification_recipient_override" {
  description = "Send every notification to this address instead of the customer's (test environments: customers never get mail, and SES's sandbox sends only to verified addresses). The role may then send to this address only."
  type        = string
  default     = null
}

variable "notifier_memory_size" {
  description = "Memory of webhook-notifier (MB)."
  type        = number
  default     = 128
}

variable "notifier_timeout_seconds" {
  description = "Timeout of webhook-notifier (s)."
  type        = number
  default     = 30
}

variable "notifier_batch_size" {
  description = "Stream records per notifier invocation."
  type        = number
  default     = 10

  validation {
    condition     = var.notifier_batch_size >= 1 && var.notifier_batch_size <= 10000
    error_message = "notifier_batch_size is 1 to 10000."
  }
}

variable "notifier_maximum_retry_attempts" {
  description = "Retries of a failing stream batch (halved by bisection each time) before its records go to the on-failure queue."
  type        = number
  default     = 5

  validation {
    condition     = var.notifier_maximum_retry_attempts >= 0 && var.notifier_maximum_retry_attempts <= 10000
    error_message = "notifier_maximum_retry_attempts is 0 to 10000."
  }
}

variable "notifier_maximum_record_age_seconds" {
  description = "A stream record older than this is not retried but sent to the on-failure queue (a notification days late helps nobody)."
  type        = number
  default     = 3600

  validation {
    condition     = var.notifier_maximum_record_age_seconds == -1 || (var.notifier_maximum_record_age_seconds >= 60 && var.notifier_maximum_record_age_seconds <= 604800)
    error_message = "notifier_maximum_record_age_seconds is -1 (no limit) or 60 to 604800."
  }
}
