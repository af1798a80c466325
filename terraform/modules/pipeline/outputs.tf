output "endpoint_url" {
  description = "Webhook URL to register in Stripe."
  value       = module.http.endpoint_url
}

output "queue_url" {
  description = "URL of the event queue."
  value       = module.queue.queue_url
}

output "dlq_url" {
  description = "URL of the dead-letter queue."
  value       = module.queue.dlq_url
}

output "table_name" {
  description = "Name of the DynamoDB table."
  value       = module.table.table_name
}

output "signing_secret_arn" {
  description = "The Secrets Manager secret holding the Stripe signing secret (terraform/bootstrap creates it)."
  value       = data.aws_secretsmanager_secret.signing.arn
}

output "api_function_name" {
  description = "Name of the webhook-api function."
  value       = module.api.function_name
}

output "dashboard_url" {
  description = "The environment's CloudWatch dashboard: API, queue, DLQ and worker health in one view."
  value       = "https://${data.aws_region.current.region}.console.aws.amazon.com/cloudwatch/home?region=${data.aws_region.current.region}#dashboards/dashboard/${aws_cloudwatch_dashboard.pipeline.dashboard_name}"
}

output "worker_function_name" {
  description = "Name of the webhook-worker function."
  value       = module.worker.function_name
}

output "topic_arn" {
  description = "The SNS topic webhook-api publishes to (fan_out = \"sns\"); more consumers' queues may subscribe to it. null without fan-out."
  value       = one(aws_sns_topic.events[*].arn)
}

output "undeliverable_queue_url" {
  description = "Where SNS and EventBridge put what they could not deliver to the event queue; null when neither is used."
  value       = one(aws_sqs_queue.undeliverable[*].url)
}

output "log_group_names" {
  description = "The functions' log groups, webhook-api's first: every event's lines, sampled or not (make trace queries them)."
  value       = concat([module.api.log_group_name, module.worker.log_group_name], module.notifier[*].log_group_name)
}

output "notifier_failures_url" {
  description = "The notifier's on-failure queue (stream batches that exhausted their retries); null without the notifier."
  value       = one(aws_sqs_queue.notifier_failures[*].url)
}
