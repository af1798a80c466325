# What an account holds once, whatever the number of environments in it: API Gateway's logging
# role, the service-linked roles the first apply needs, and the two account-level policies the
# environments' deploy roles are not allowed to write (IAM cannot hold either to one environment):
# X-Ray's resource policy for SNS active tracing and the Logs field index policy.

# API Gateway writes access logs with an account-wide role: set once here, not per environment.
data "aws_iam_policy_document" "apigateway_trust" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["apigateway.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "apigateway_logs" {
  name               = "${var.project}-apigateway-cloudwatch"
  assume_role_policy = data.aws_iam_policy_document.apigateway_trust.json
}

resource "aws_iam_role_policy_attachment" "apigateway_logs" {
  role       = aws_iam_role.apigateway_logs.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
}

resource "aws_api_gateway_account" "this" {
  cloudwatch_role_arn = aws_iam_role.apigateway_logs.arn
  depends_on          = [aws_iam_role_policy_attachment.apigateway_logs]
}

# API Gateway's service-linked role (ops.apigateway.amazonaws.com), and Application Signals'
# discovery (application-signals:StartDiscovery), which creates its service-linked role: without
# it Application Signals does not read the spans the functions send. Both are one per account;
# the script is idempotent and runs again when the region changes.
resource "terraform_data" "service_linked_roles" {
  triggers_replace = [var.region]

  provisioner "local-exec" {
    command = "${path.module}/service-linked-roles.sh"
    environment = {
      AWS_REGION = var.region
    }
  }
}

# SNS writes its own segments for a topic with active tracing (the pipeline's
# fan_out_topic_tracing = "Active"): X-Ray must let it, for every environment's event topic.
data "aws_iam_policy_document" "sns_tracing" {
  statement {
    sid       = "SnsActiveTracing"
    actions   = ["xray:PutTraceSegments", "xray:GetSamplingRules", "xray:GetSamplingTargets"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["sns.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [for env in var.environments : "arn:${local.partition}:sns:${var.region}:${local.account}:${var.project}-${env}-events*"]
    }
  }
}

resource "aws_xray_resource_policy" "sns_tracing" {
  policy_name     = "${var.project}-sns-tracing"
  policy_document = data.aws_iam_policy_document.sns_tracing.json
}

# Every function log group of the project indexes the event id and the trace id, so that a
# Logs Insights query with filterIndex (make trace) reads one event's lines, not the group.
resource "aws_cloudwatch_log_account_policy" "field_index" {
  policy_name        = "${var.project}-field-index"
  policy_type        = "FIELD_INDEX_POLICY"
  policy_document    = jsonencode({ Fields = var.log_index_fields })
  selection_criteria = "LogGroupNamePrefix IN [\"/aws/lambda/${var.project}-\"]"
}
