# The hops in front of the queue: an SNS topic webhook-api publishes to (fan_out = "sns"), and an
# EventBridge rule on Stripe's partner event bus (stripe_event_bus_name). Both deliver into the
# event queue, so the worker is the same; what neither could deliver lands in the undeliverable
# queue, with an alarm. The queue's policy admits exactly these two senders.

locals {
  fan_out_sns = var.fan_out == "sns"
  eventbridge = var.stripe_event_bus_name != ""
  # The undeliverable queue exists when something but the API delivers to the event queue.
  undeliverable = local.fan_out_sns || local.eventbridge
  fifo_suffix   = var.fifo ? ".fifo" : ""

  hop_names = {
    topic         = "${local.name_prefix}-events${local.fifo_suffix}"
    undeliverable = "${local.name_prefix}-undeliverable${local.fifo_suffix}"
    rule          = "${local.name_prefix}-stripe-events"
  }

  # What sends to the queues besides the API, by statement id.
  senders = merge(
    { for arn in aws_sns_topic.events[*].arn : "Topic" => { service = "sns.amazonaws.com", source_arn = arn } },
    { for arn in aws_cloudwatch_event_rule.stripe[*].arn : "StripeRule" => { service = "events.amazonaws.com", source_arn = arn } },
  )
  delivery_queues = { for name, queue in {
    events        = { arn = module.queue.queue_arn, url = module.queue.queue_url }
    undeliverable = { arn = one(aws_sqs_queue.undeliverable[*].arn), url = one(aws_sqs_queue.undeliverable[*].url) }
  } : name => queue if local.undeliverable }
}

# A FIFO topic deduplicates on the id the API sets (the event id), not on content.
resource "aws_sns_topic" "events" {
  count             = local.fan_out_sns ? 1 : 0
  name              = local.hop_names.topic
  fifo_topic        = var.fifo
  kms_master_key_id = coalesce(var.kms_key_arn, "alias/aws/sns")
  tracing_config    = var.fan_out_topic_tracing
  tags              = local.tags
}

# Only webhook-api's role may publish; everyone else, in this account or not, is refused.
data "aws_iam_policy_document" "topic" {
  count = local.fan_out_sns ? 1 : 0

  statement {
    sid       = "ApiPublishes"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.events[0].arn]
    principals {
      type        = "AWS"
      identifiers = [module.api.role_arn]
    }
  }

  statement {
    sid       = "NoOtherPublisher"
    effect    = "Deny"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.events[0].arn]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "ArnNotEquals"
      variable = "aws:PrincipalArn"
      values   = [module.api.role_arn]
    }
  }
}

resource "aws_sns_topic_policy" "events" {
  count  = local.fan_out_sns ? 1 : 0
  arn    = aws_sns_topic.events[0].arn
  policy = data.aws_iam_policy_document.topic[0].json
}

resource "aws_sns_topic_subscription" "queue" {
  count                = local.fan_out_sns ? 1 : 0
  topic_arn            = aws_sns_topic.events[0].arn
  protocol             = "sqs"
  endpoint             = module.queue.queue_arn
  raw_message_delivery = var.fan_out_raw_message_delivery
  # Notifications SNS could not deliver (a queue policy or key that refuses it) are kept.
  redrive_policy = jsonencode({ deadLetterTargetArn = aws_sqs_queue.undeliverable[0].arn })

  # SNS must be allowed to send before the first notification.
  depends_on = [aws_sqs_queue_policy.delivery]
}

# With active tracing SNS writes its own segments to X-Ray, which X-Ray's resource policy must
# allow: terraform/bootstrap sets it for every environment's event topic (the deploy role cannot
# write it). A policy this module made in an earlier version stays when it leaves this state.
removed {
  from = aws_xray_resource_policy.sns

  lifecycle {
    destroy = false
  }
}

# Stripe's events on its partner event bus, all of them, into the event queue.
resource "aws_cloudwatch_event_rule" "stripe" {
  count          = local.eventbridge ? 1 : 0
  name           = local.hop_names.rule
  description    = "Stripe events from ${var.stripe_event_bus_name} to ${local.names.queue}"
  event_bus_name = var.stripe_event_bus_name
  event_pattern  = jsonencode({ source = [{ prefix = "aws.partner/stripe.com" }] })
  tags           = local.tags
}

resource "aws_cloudwatch_event_target" "queue" {
  count          = local.eventbridge ? 1 : 0
  rule           = aws_cloudwatch_event_rule.stripe[0].name
  event_bus_name = var.stripe_event_bus_name
  target_id      = "event-queue"
  arn            = module.queue.queue_arn

  # A FIFO queue needs a group: one for all of Stripe's events keeps their order.
  dynamic "sqs_target" {
    for_each = var.fifo ? ["stripe"] : []
    content {
      message_group_id = sqs_target.value
    }
  }

  retry_policy {
    maximum_event_age_in_seconds = 86400
    maximum_retry_attempts       = 185
  }

  dead_letter_config {
    arn = aws_sqs_queue.undeliverable[0].arn
  }

  depends_on = [aws_sqs_queue_policy.delivery]
}

# Whatever SNS or EventBridge could not put on the event queue, kept 14 days for redrive.
resource "aws_sqs_queue" "undeliverable" {
  count                     = local.undeliverable ? 1 : 0
  name                      = local.hop_names.undeliverable
  fifo_queue                = var.fifo
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = var.kms_key_arn == null ? true : null
  kms_master_key_id         = var.kms_key_arn
  tags                      = local.tags
}

# Both queues admit exactly the topic and the rule, each service by the ARN of what sends: the
# event queue for delivery, the undeliverable queue for what delivery gave up on. The API and the
# worker reach the event queue through their roles.
data "aws_iam_policy_document" "delivery" {
  for_each = local.delivery_queues

  dynamic "statement" {
    for_each = local.senders
    content {
      sid       = "${statement.key}Delivers"
      actions   = ["sqs:SendMessage"]
      resources = [each.value.arn]
      principals {
        type        = "Service"
        identifiers = [statement.value.service]
      }
      condition {
        test     = "ArnEquals"
        variable = "aws:SourceArn"
        values   = [statement.value.source_arn]
      }
    }
  }
}

resource "aws_sqs_queue_policy" "delivery" {
  for_each  = local.delivery_queues
  queue_url = each.value.url
  policy    = data.aws_iam_policy_document.delivery[each.key].json
}

resource "aws_cloudwatch_metric_alarm" "undeliverable" {
  count               = local.undeliverable ? 1 : 0
  alarm_name          = "${local.name_prefix}-undeliverable-not-empty"
  alarm_description   = "SNS or EventBridge could not deliver events to ${local.names.queue}; they wait in ${local.hop_names.undeliverable}. Check the queue's policy and key, then redrive."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.undeliverable[0].name }
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
