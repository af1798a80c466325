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
  description = "Put the Stripe signing secret here (aws secretsmanager put-secret-value)."
  value       = module.pipeline.signing_secret_arn
}

output "dashboard_url" {
  description = "The environment's CloudWatch dashboard."
  value       = module.pipeline.dashboard_url
}
