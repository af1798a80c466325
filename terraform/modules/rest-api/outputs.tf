output "endpoint_url" {
  description = "The URL to register in Stripe: https://.../<stage>/webhooks/stripe."
  value       = "${aws_api_gateway_stage.this.invoke_url}/webhooks/stripe"
}

output "rest_api_name" {
  description = "The REST API's name: the ApiName dimension of its CloudWatch metrics."
  value       = aws_api_gateway_rest_api.this.name
}

output "rest_api_id" {
  description = "The REST API's id."
  value       = aws_api_gateway_rest_api.this.id
}

output "stage_name" {
  description = "The deployed stage."
  value       = aws_api_gateway_stage.this.stage_name
}

output "access_log_group_name" {
  description = "The access log group."
  value       = aws_cloudwatch_log_group.access.name
}

output "execution_log_group_name" {
  description = "The execution log group (API-Gateway-Execution-Logs_<id>/<stage>)."
  value       = aws_cloudwatch_log_group.execution.name
}
