# One Rust Lambda function from its zip artifact: role with logging, X-Ray and Application
# Signals permissions plus the caller's least-privilege statements, a log group with retention,
# active tracing, and the telemetry transport (ADOT collector layer, or OTLP over UDP to the
# X-Ray daemon without any extension).

data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  adot_architecture = var.architecture == "arm64" ? "arm64" : "amd64"
  adot_layer_arn    = try(var.adot_layer_arns[data.aws_region.current.region][local.adot_architecture], null)
  uses_collector    = var.telemetry_transport == "adot-collector"
  # arn:<partition>:lambda:<region>:<account>:layer:<name>:<version>, split for the data source.
  adot_layer_parts = try(regex("^(arn:[^:]+:lambda:[^:]+:[0-9]{12}:layer:[A-Za-z0-9_-]+):([0-9]+)$", local.adot_layer_arn), null)

  # The function reads these at cold start and fails on an invalid value (docs/architecture.md).
  telemetry_environment = local.uses_collector ? {
    OTEL_SERVICE_NAME           = var.service_name
    OTEL_PROPAGATORS            = "tracecontext,baggage,xray"
    OTEL_TRACES_EXPORTER        = "otlp"
    OTEL_EXPORTER_OTLP_ENDPOINT = "http://localhost:4318"
    OTEL_TRACES_SAMPLER         = "parentbased_always_on"
    } : {
    OTEL_SERVICE_NAME                    = var.service_name
    OTEL_PROPAGATORS                     = "xray"
    OTEL_AWS_APPLICATION_SIGNALS_ENABLED = "true"
    OTEL_TRACES_SAMPLER                  = "parentbased_always_on"
  }
}

data "aws_iam_policy_document" "assume_role" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

# The boundary caps what the role can ever do, whatever policy is put in it: the deploy role may
# only create or change roles that carry it (terraform/bootstrap).
resource "aws_iam_role" "this" {
  name                 = "${var.name}-role"
  path                 = var.role_path
  assume_role_policy   = data.aws_iam_policy_document.assume_role.json
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

# The configured collector layer, resolved at plan time: a wrong ARN or version fails the plan
# (naming the ARN) instead of CreateFunction half-way through an apply.
data "aws_lambda_layer_version" "adot" {
  count      = local.uses_collector ? 1 : 0
  layer_name = local.adot_layer_parts[0]
  version    = tonumber(local.adot_layer_parts[1])

  lifecycle {
    precondition {
      condition     = local.adot_layer_arn != null
      error_message = "No ADOT collector layer ARN for region ${data.aws_region.current.region} and architecture ${local.adot_architecture}: add it to adot_layer_arns, or use telemetry_transport = \"xray-udp\"."
    }

    precondition {
      condition     = local.adot_layer_arn == null || local.adot_layer_parts != null
      error_message = "The ADOT collector layer ARN for region ${data.aws_region.current.region} (${coalesce(local.adot_layer_arn, "none")}) is not a layer version ARN (arn:aws:lambda:<region>:<account>:layer:<name>:<version>)."
    }

    postcondition {
      condition     = length(self.compatible_architectures) == 0 || contains(self.compatible_architectures, var.architecture)
      error_message = "The ADOT collector layer ${self.arn} (region ${data.aws_region.current.region}) is not built for ${var.architecture}."
    }
  }
}

resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_338:Retention is each environment's choice (log_retention_days); these are operational logs, not an audit trail.
  name              = "/aws/lambda/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn
  tags              = var.tags
}

# The log group's fields are indexed by the account's field index policy (terraform/bootstrap),
# which the deploy role cannot write. A per-group policy from an earlier version stays in place
# when it leaves this state (it indexes the same fields).
removed {
  from = aws_cloudwatch_log_index_policy.this

  lifecycle {
    destroy = false
  }
}

# AWSLambdaBasicExecutionRole, narrowed to this function's own log group.
data "aws_iam_policy_document" "logs" {
  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }
}

resource "aws_iam_role_policy" "logs" {
  name   = "logs"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.logs.json
}

resource "aws_iam_role_policy" "function" {
  count  = var.policy_json == null ? 0 : 1
  name   = "function"
  role   = aws_iam_role.this.id
  policy = var.policy_json
}

# X-Ray trace segments (PutTraceSegments has no resource-level permissions) ...
resource "aws_iam_role_policy_attachment" "xray" {
  role       = aws_iam_role.this.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AWSXRayDaemonWriteAccess"
}

# ... and what CloudWatch Application Signals needs from a Lambda function.
resource "aws_iam_role_policy_attachment" "application_signals" {
  role       = aws_iam_role.this.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/CloudWatchLambdaApplicationSignalsExecutionRolePolicy"
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_116:Invoked synchronously (API Gateway) or by an SQS event source mapping, whose failures go to the queue's DLQ; a function DLQ only applies to asynchronous invocations.
  #checkov:skip=CKV_AWS_117:Talks only to public AWS endpoints (SQS, DynamoDB, Secrets Manager); a VPC adds NAT cost and cold-start latency for no isolation gain.
  #checkov:skip=CKV_AWS_272:Artifacts are built and deployed by this repository's pipeline; Lambda code signing would need a signing profile outside its scope.
  function_name                  = var.name
  description                    = var.description
  role                           = aws_iam_role.this.arn
  runtime                        = "provided.al2023"
  handler                        = "bootstrap"
  architectures                  = [var.architecture]
  filename                       = var.zip_path
  source_code_hash               = filebase64sha256(var.zip_path)
  memory_size                    = var.memory_size
  timeout                        = var.timeout
  reserved_concurrent_executions = var.reserved_concurrency
  kms_key_arn                    = var.environment_kms_key_arn
  layers                         = data.aws_lambda_layer_version.adot[*].arn

  tracing_config {
    mode = "Active"
  }

  logging_config {
    log_format            = "JSON"
    log_group             = aws_cloudwatch_log_group.this.name
    application_log_level = var.log_level
    system_log_level      = "WARN"
  }

  environment {
    variables = merge(local.telemetry_environment, var.environment)
  }

  tags = var.tags

  depends_on = [
    aws_cloudwatch_log_group.this,
    aws_iam_role_policy.logs,
    aws_iam_role_policy_attachment.xray,
  ]
}

resource "aws_cloudwatch_metric_alarm" "throttles" {
  alarm_name          = "${var.name}-throttles"
  alarm_description   = "${var.name} invocations were throttled (concurrency limit reached): requests are refused or messages wait."
  namespace           = "AWS/Lambda"
  metric_name         = "Throttles"
  dimensions          = { FunctionName = aws_lambda_function.this.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "errors" {
  alarm_name          = "${var.name}-errors"
  alarm_description   = "${var.name} invocations failed (for the worker: the whole batch was returned to the queue)."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.this.function_name }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags
}
