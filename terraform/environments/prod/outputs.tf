output "endpoint_url" {
  description = "Webhook URL to register in Stripe."
  value       = module.pipeline.endpoint_url
}

output "queue_url" {
  description = "URL of the event queue."
  value       = module.pipeline.queue_url
}

output "dlq_url" {
  description = "URL of the dead-letter queue."
  value       = module.pipeline.dlq_url
}

output "table_name" {
  description = "Name of the DynamoDB table."
  value       = module.pipeline.table_name
}

output "signing_secret_arn" {
  description = "The Stripe signing secret terraform/bootstrap created for this environment."
  value       = module.pipeline.signing_secret_arn
}

output "log_group_names" {
  description = "The functions' log groups (webhook-api's, webhook-worker's, then webhook-notifier's): make trace queries them."
  value       = module.pipeline.log_group_names
}

output "dashboard_url" {
  description = "The environment's CloudWatch dashboard."
  value       = module.pipeline.dashboard_url
}

output "notifier_failures_url" {
  description = "The notifier's on-failure queue: make trace reads its depth for a notification still pending."
  value       = module.pipeline.notifier_failures_url
}
