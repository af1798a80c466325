# The webhook table: the key schema and TTL attribute are the worker's contract
# (services/webhook-worker/src/store/dynamodb.rs), checked by the Terraform tests.

resource "aws_dynamodb_table" "this" {
  name                        = var.name
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  range_key                   = "sk"
  deletion_protection_enabled = var.deletion_protection
  # The notifier's source: each new notification item, with the trace context it carries.
  stream_enabled   = var.stream_enabled
  stream_view_type = var.stream_enabled ? "NEW_IMAGE" : null

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "S"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  tags = var.tags
}
