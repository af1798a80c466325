# The whole webhook pipeline: API Gateway -> webhook-api -> SQS (+ DLQ) -> event source mapping
# -> webhook-worker -> DynamoDB, with the signing secret, least-privilege roles and alarms; an
# SNS topic or an EventBridge rule may deliver into the queue too (fan_out.tf).
# Names and tags come from the locals below; the local pipeline (tools/local-pipeline) reads them and
# this module's variable defaults, so the emulator is provisioned exactly like AWS.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  name_prefix = "${var.project}-${var.environment}"
  # The deploy role manages only roles under this path that carry this boundary; both are made
  # per environment by terraform/bootstrap.
  role_path                = "/${var.project}/${var.environment}/"
  permissions_boundary_arn = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:policy/${local.name_prefix}-function-boundary"
  alarm_actions            = concat(var.alarm_actions, aws_sns_topic.alarms[*].arn)
  # CI passes an unset GitHub variable as "": no subscription then.
  alarm_email = var.alarm_email == "" ? null : var.alarm_email

  # The namespace of the metrics the worker publishes itself (embedded metric format).
  metrics_namespace = "${var.project}/${var.environment}"

  names = {
    api    = "${local.name_prefix}-webhook-api"
    worker = "${local.name_prefix}-webhook-worker"
    # notifier.tf
    notifier          = "${local.name_prefix}-webhook-notifier"
    notifier_failures = "${local.name_prefix}-notifier-failures"
    queue             = "${local.name_prefix}-events"
    table             = "${local.name_prefix}-events"
    secret            = "${local.name_prefix}/stripe-webhook-secret"
  }

  tags = merge(var.tags, {
    Project     = var.project
    Environment = var.environment
    ManagedBy   = "terraform"
  })
}

# The signing secret is created by terraform/bootstrap (per environment, without a value) and
# given its value before the first deploy; the environment only reads it by name. Its value
# never passes through Terraform, and the first pipeline run's smoke test can sign.
data "aws_secretsmanager_secret" "signing" {
  name = local.names.secret
}

# Created here before the bootstrap owned it: leave the secret (and its value) in place when it
# leaves this state; `terraform import` in terraform/bootstrap adopts it (its README says how).
removed {
  from = aws_secretsmanager_secret.signing

  lifecycle {
    destroy = false
  }
}

# Where alarms go when alarm_email is set: a topic with that address subscribed (AWS asks the
# address to confirm the subscription first).
resource "aws_sns_topic" "alarms" {
  #checkov:skip=CKV_AWS_26:CloudWatch alarms cannot publish to a topic encrypted with the AWS-managed SNS key; with kms_key_arn set the topic uses that key, whose policy must let CloudWatch use it. Notifications carry alarm names and metric values, no event data.
  count             = local.alarm_email == null ? 0 : 1
  name              = "${local.name_prefix}-alarms"
  kms_master_key_id = var.kms_key_arn
  tags              = local.tags
}

resource "aws_sns_topic_subscription" "alarm_email" {
  count     = local.alarm_email == null ? 0 : 1
  topic_arn = aws_sns_topic.alarms[0].arn
  protocol  = "email"
  endpoint  = local.alarm_email
}

module "queue" {
  source = "../queue"

  name                       = local.names.queue
  fifo                       = var.fifo
  visibility_timeout_seconds = var.queue_visibility_timeout_seconds
  message_retention_seconds  = var.message_retention_seconds
  max_receive_count          = var.max_receive_count
  kms_key_arn                = var.kms_key_arn
  alarm_actions              = local.alarm_actions
  tags                       = local.tags
}

module "table" {
  source = "../table"

  name                = local.names.table
  deletion_protection = var.deletion_protection
  stream_enabled      = var.notifier_enabled
  kms_key_arn         = var.kms_key_arn
  tags                = local.tags
}

data "aws_iam_policy_document" "api" {
  # The API writes to one destination: the queue, or the topic in front of it.
  dynamic "statement" {
    for_each = local.fan_out_sns ? [] : [module.queue.queue_arn]
    content {
      sid       = "QueueWebhooks"
      actions   = ["sqs:SendMessage"]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = aws_sns_topic.events[*].arn
    content {
      sid       = "PublishWebhooks"
      actions   = ["sns:Publish"]
      resources = [statement.value]
    }
  }

  statement {
    sid       = "ReadSigningSecret"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [data.aws_secretsmanager_secret.signing.arn]
  }

  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]
    content {
      sid       = "UseEncryptionKey"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
    }
  }
}

data "aws_iam_policy_document" "worker" {
  statement {
    sid = "ConsumeWebhooks"
    actions = [
      "sqs:ReceiveMessage",
      "sqs:DeleteMessage",
      "sqs:ChangeMessageVisibility",
      "sqs:GetQueueAttributes",
    ]
    resources = [module.queue.queue_arn]
  }

  # TransactWriteItems is authorised per item action.
  statement {
    sid       = "RecordEvents"
    actions   = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"]
    resources = [module.table.table_arn]
  }

  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]
    content {
      sid       = "UseEncryptionKey"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
    }
  }
}

module "api" {
  source = "../function"

  name                     = local.names.api
  description              = "Verifies, validates and queues Stripe webhooks"
  service_name             = "webhook-api"
  zip_path                 = var.api_zip_path
  architecture             = var.architecture
  memory_size              = var.api_memory_size
  timeout                  = var.api_timeout_seconds
  telemetry_transport      = var.telemetry_transport
  adot_layer_arns          = var.adot_layer_arns
  log_retention_days       = var.log_retention_days
  policy_json              = data.aws_iam_policy_document.api.json
  role_path                = local.role_path
  permissions_boundary_arn = local.permissions_boundary_arn
  alarm_actions            = local.alarm_actions
  tags                     = local.tags

  # WEBHOOK_QUEUE_URL or WEBHOOK_TOPIC_ARN, never both.
  environment = { for name, value in {
    WEBHOOK_QUEUE_URL         = local.fan_out_sns ? null : module.queue.queue_url
    WEBHOOK_TOPIC_ARN         = one(aws_sns_topic.events[*].arn)
    STRIPE_WEBHOOK_SECRET_ARN = data.aws_secretsmanager_secret.signing.arn
  } : name => value if value != null }
}

module "worker" {
  source = "../function"

  name                     = local.names.worker
  description              = "Processes queued Stripe webhooks into DynamoDB"
  service_name             = "webhook-worker"
  zip_path                 = var.worker_zip_path
  architecture             = var.architecture
  memory_size              = var.worker_memory_size
  timeout                  = var.worker_timeout_seconds
  telemetry_transport      = var.telemetry_transport
  adot_layer_arns          = var.adot_layer_arns
  log_retention_days       = var.log_retention_days
  policy_json              = data.aws_iam_policy_document.worker.json
  role_path                = local.role_path
  permissions_boundary_arn = local.permissions_boundary_arn
  alarm_actions            = local.alarm_actions
  tags                     = local.tags

  environment = {
    WEBHOOK_TABLE_NAME      = module.table.table_name
    WEBHOOK_TRACE_MODE      = var.trace_mode
    WEBHOOK_MAX_CONCURRENCY = tostring(var.worker_max_concurrency)
    WEBHOOK_RECORD_TTL_DAYS = tostring(var.record_ttl_days)
    # Read by the dashboard too (dashboard.tf): one name for the worker's own metrics.
    WEBHOOK_METRICS_NAMESPACE = local.metrics_namespace
  }
}

module "http" {
  source = "../rest-api"

  name                = local.name_prefix
  function_name       = module.api.function_name
  function_invoke_arn = module.api.invoke_arn
  log_retention_days  = var.log_retention_days

  trace_sampling_rate      = var.trace_sampling_rate
  trace_sampling_reservoir = var.trace_sampling_reservoir
  alarm_actions            = local.alarm_actions
  tags                     = local.tags
}

resource "aws_lambda_event_source_mapping" "worker" {
  event_source_arn                   = module.queue.queue_arn
  function_name                      = module.worker.function_arn
  batch_size                         = var.batch_size
  maximum_batching_window_in_seconds = var.fifo ? null : var.batching_window_seconds # FIFO mappings take none
  function_response_types            = ["ReportBatchItemFailures"]
  # The deploy role reads and changes a mapping only while it carries the environment's tag.
  tags = local.tags

  # FIFO queues scale by message group instead.
  dynamic "scaling_config" {
    for_each = var.fifo ? [] : [var.max_concurrency]
    content {
      maximum_concurrency = scaling_config.value
    }
  }

  lifecycle {
    precondition {
      condition     = var.queue_visibility_timeout_seconds >= 6 * var.worker_timeout_seconds
      error_message = "The queue's visibility timeout (${var.queue_visibility_timeout_seconds} s) must be at least six times the worker's timeout (${var.worker_timeout_seconds} s), or messages reappear while still being processed."
    }
  }

  # The first poll must not run before the worker's role may receive and delete.
  depends_on = [module.worker]
}
