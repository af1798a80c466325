output "table_name" {
  description = "The table's name."
  value       = aws_dynamodb_table.this.name
}

output "table_arn" {
  description = "The table's ARN."
  value       = aws_dynamodb_table.this.arn
}

output "stream_arn" {
  description = "The table's stream ARN; null without a stream."
  value       = var.stream_enabled ? aws_dynamodb_table.this.stream_arn : null
}
