# The third hop (notifier_enabled): the table's stream -> webhook-notifier -> SES. The event
# source mapping passes only inserts of pending notification items; a batch that keeps failing
# is bisected and retried a bounded number of times, and what is left goes to the
# notifier-failures queue, whose alarm fires on the first message.

locals {
  notifier_count        = var.notifier_enabled ? 1 : 0
  notification_identity = coalesce(var.notification_identity, var.notification_sender, "none")
  # The partition of notification items (event-table: NOTIFICATION#<event id>).
  notification_partition = "NOTIFICATION#"
}

# Where a stream batch goes once its retries or its age run out: a record of the batch (shard,
# sequence numbers), not the items, which stay in the table as pending.
resource "aws_sqs_queue" "notifier_failures" {
  count                     = local.notifier_count
  name                      = local.names.notifier_failures
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = var.kms_key_arn == null ? true : null
  kms_master_key_id         = var.kms_key_arn
  tags                      = local.tags
}

resource "aws_cloudwatch_metric_alarm" "notifier_failures" {
  count               = local.notifier_count
  alarm_name          = "${local.names.notifier_failures}-not-empty"
  alarm_description   = "Notifications failed after ${var.notifier_maximum_retry_attempts} retries or ${var.notifier_maximum_record_age_seconds} s: customers were not told of a failed payment. The queue's messages name the stream records; make trace names the events."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.notifier_failures[0].name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = local.tags
}

data "aws_iam_policy_document" "notifier" {
  # What Lambda reads the stream with (the mapping uses the function's role).
  statement {
    sid       = "ReadTableStream"
    actions   = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"]
    resources = ["${module.table.table_arn}/stream/*"]
  }

  # ListStreams names no resource; it lists stream ARNs only.
  statement {
    sid       = "ListTableStreams"
    actions   = ["dynamodb:ListStreams"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = [local.dashboard_region]
    }
  }

  # The status read and the conditional pending -> sent update, on notification items only.
  statement {
    sid       = "MarkNotifications"
    actions   = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
    resources = [module.table.table_arn]

    condition {
      test     = "ForAllValues:StringLike"
      variable = "dynamodb:LeadingKeys"
      values   = ["${local.notification_partition}*"]
    }
  }

  statement {
    sid       = "SendNotifications"
    actions   = ["ses:SendEmail"]
    resources = ["arn:${data.aws_partition.current.partition}:ses:${local.dashboard_region}:${data.aws_caller_identity.current.account_id}:identity/${local.notification_identity}"]

    condition {
      test     = "StringEquals"
      variable = "ses:FromAddress"
      values   = [coalesce(var.notification_sender, "none")]
    }

    # With notification_recipient_override, a test environment may write to that inbox only.
    condition {
      test     = "ForAllValues:StringLike"
      variable = "ses:Recipients"
      values   = [coalesce(var.notification_recipient_override, "*")]
    }
  }

  statement {
    sid       = "ReportFailedRecords"
    actions   = ["sqs:SendMessage"]
    resources = aws_sqs_queue.notifier_failures[*].arn
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

module "notifier" {
  count  = local.notifier_count
  source = "../function"

  name                     = local.names.notifier
  description              = "Emails customers about failed payments, from the table's stream"
  service_name             = "webhook-notifier"
  zip_path                 = var.notifier_zip_path
  architecture             = var.architecture
  memory_size              = var.notifier_memory_size
  timeout                  = var.notifier_timeout_seconds
  telemetry_transport      = var.telemetry_transport
  adot_layer_arns          = var.adot_layer_arns
  log_retention_days       = var.log_retention_days
  policy_json              = data.aws_iam_policy_document.notifier.json
  role_path                = local.role_path
  permissions_boundary_arn = local.permissions_boundary_arn
  alarm_actions            = local.alarm_actions
  tags                     = local.tags

  environment = { for name, value in {
    WEBHOOK_TABLE_NAME              = module.table.table_name
    WEBHOOK_TRACE_MODE              = var.trace_mode
    NOTIFICATION_SENDER             = var.notification_sender
    NOTIFICATION_RECIPIENT_OVERRIDE = var.notification_recipient_override
  } : name => value if value != null }
}

resource "aws_lambda_event_source_mapping" "notifier" {
  count                              = local.notifier_count
  event_source_arn                   = module.table.stream_arn
  function_name                      = module.notifier[0].function_arn
  starting_position                  = "TRIM_HORIZON"
  batch_size                         = var.notifier_batch_size
  maximum_batching_window_in_seconds = 1
  function_response_types            = ["ReportBatchItemFailures"]
  bisect_batch_on_function_error     = true
  maximum_retry_attempts             = var.notifier_maximum_retry_attempts
  maximum_record_age_in_seconds      = var.notifier_maximum_record_age_seconds
  # The deploy role reads and changes a mapping only while it carries the environment's tag.
  tags = local.tags

  # Only new notifications: the worker's other writes and the notifier's own updates never
  # invoke it.
  filter_criteria {
    filter {
      pattern = jsonencode({
        eventName = ["INSERT"]
        dynamodb = {
          NewImage = {
            pk     = { S = [{ prefix = local.notification_partition }] }
            status = { S = ["pending"] }
          }
        }
      })
    }
  }

  destination_config {
    on_failure {
      destination_arn = aws_sqs_queue.notifier_failures[0].arn
    }
  }

  # The first poll must not run before the notifier's role may read the stream.
  depends_on = [module.notifier]
}
