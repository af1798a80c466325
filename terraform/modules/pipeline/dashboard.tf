# One CloudWatch dashboard per environment: is the API answering, is the queue draining, is the
# worker failing, and (with fan-out or the Stripe rule) is anything failing to reach the queue. The worker's FailedMessages and BatchSize come from its own log lines (the
# embedded metric format: services/webhook-worker/src/metrics.rs), under local.metrics_namespace.

data "aws_region" "current" {}

locals {
  dashboard_region = data.aws_region.current.region
  api_dimensions   = ["ApiName", module.http.rest_api_name, "Stage", module.http.stage_name]

  dashboard_widgets = concat([
    {
      title   = "API requests, 4xx and 5xx (per minute)"
      stat    = "Sum"
      metrics = [concat(["AWS/ApiGateway", "Count"], local.api_dimensions), concat(["AWS/ApiGateway", "4XXError"], local.api_dimensions), concat(["AWS/ApiGateway", "5XXError"], local.api_dimensions)]
    },
    {
      title   = "API latency p99 (ms)"
      stat    = "p99"
      metrics = [concat(["AWS/ApiGateway", "Latency"], local.api_dimensions), concat(["AWS/ApiGateway", "IntegrationLatency"], local.api_dimensions)]
    },
    {
      title = "Queue depth, oldest message (s), DLQ depth"
      stat  = "Maximum"
      metrics = [
        ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", module.queue.queue_name, { label = "queue depth" }],
        ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", module.queue.queue_name, { label = "oldest message (s)", yAxis = "right" }],
        ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", module.queue.dlq_name, { label = "DLQ depth" }],
      ]
    },
    {
      title   = "Worker invocations, errors, throttles"
      stat    = "Sum"
      metrics = [for metric in ["Invocations", "Errors", "Throttles"] : ["AWS/Lambda", metric, "FunctionName", module.worker.function_name]]
    },
    {
      title = "Worker duration (ms)"
      stat  = "Average"
      metrics = [
        ["AWS/Lambda", "Duration", "FunctionName", module.worker.function_name, { stat = "p99", label = "p99" }],
        ["AWS/Lambda", "Duration", "FunctionName", module.worker.function_name, { label = "average" }],
      ]
    },
    {
      title   = "Worker concurrent executions"
      stat    = "Maximum"
      metrics = [["AWS/Lambda", "ConcurrentExecutions", "FunctionName", module.worker.function_name]]
    },
    {
      title = "Messages reported failed per batch"
      stat  = "Sum"
      metrics = [
        [local.metrics_namespace, "FailedMessages", "FunctionName", module.worker.function_name, { label = "failed (sum)" }],
        [local.metrics_namespace, "FailedMessages", "FunctionName", module.worker.function_name, { stat = "Maximum", label = "failed (most in one batch)" }],
        [local.metrics_namespace, "BatchSize", "FunctionName", module.worker.function_name, { label = "messages (sum)", yAxis = "right" }],
      ]
    },
    {
      title   = "API function invocations, errors, throttles"
      stat    = "Sum"
      metrics = [for metric in ["Invocations", "Errors", "Throttles"] : ["AWS/Lambda", metric, "FunctionName", module.api.function_name]]
    },
    ],
    # With the notifier (notifier.tf): is it keeping up with the stream, is anything failing.
    [for name in module.notifier[*].function_name : {
      title = "Notifier: stream iterator age (ms), errors, failed batches"
      stat  = "Maximum"
      metrics = [
        ["AWS/Lambda", "IteratorAge", "FunctionName", name, { label = "iterator age (ms)" }],
        ["AWS/Lambda", "Errors", "FunctionName", name, { stat = "Sum", label = "invocation errors", yAxis = "right" }],
        ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", local.names.notifier_failures, { label = "batches in notifier-failures", yAxis = "right" }],
      ]
    }],
    # With fan-out or the Stripe rule (fan_out.tf): what SNS and EventBridge failed to deliver.
    [for name in aws_sqs_queue.undeliverable[*].name : {
      title = "Deliveries into the queue: SNS failures, undeliverable depth"
      stat  = "Sum"
      metrics = concat(
        [for topic in aws_sns_topic.events[*].name : ["AWS/SNS", "NumberOfNotificationsFailed", "TopicName", topic, { label = "SNS notifications failed" }]],
        [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", name, { stat = "Maximum", label = "undeliverable depth", yAxis = "right" }]],
      )
    }],
  )
}

locals {
  # Notifications sent, found unsendable or failed, from the notifier's own log lines (one per
  # stream record: services/webhook-notifier/src/batch.rs).
  notification_widgets = [for group in module.notifier[*].log_group_name : {
    type   = "log"
    x      = (length(local.dashboard_widgets) % 2) * 12
    y      = floor(length(local.dashboard_widgets) / 2) * 6
    width  = 12
    height = 6
    properties = {
      title  = "Notifications: sent, already sent, unsendable, failed (per 5 min)"
      region = local.dashboard_region
      view   = "timeSeries"
      query  = "SOURCE '${group}' | filter ispresent(outcome) | stats count(*) by outcome, bin(5m)"
    }
  }]
}

resource "aws_cloudwatch_dashboard" "pipeline" {
  dashboard_name = "${local.name_prefix}-pipeline"
  dashboard_body = jsonencode({
    widgets = concat([
      for index, widget in local.dashboard_widgets : {
        type   = "metric"
        x      = (index % 2) * 12
        y      = floor(index / 2) * 6
        width  = 12
        height = 6
        properties = {
          title   = widget.title
          region  = local.dashboard_region
          view    = "timeSeries"
          period  = 60
          stat    = widget.stat
          metrics = widget.metrics
        }
      }
    ], local.notification_widgets)
  })
}
