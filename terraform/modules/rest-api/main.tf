# API Gateway REST API with one route, POST /webhooks/stripe, proxied to the intake function.
# REST rather than HTTP API: only REST APIs have X-Ray active tracing, which starts the trace at
# the gateway. Access logs go to their own log group.

resource "aws_api_gateway_rest_api" "this" {
  name        = var.name
  description = "Stripe webhooks for ${var.function_name}"

  endpoint_configuration {
    types = ["REGIONAL"]
  }

  tags = var.tags

  # The deploy role may set the API's tags only when it creates it (its Environment tag is what
  # the role's access to the API is checked against): later tag changes are an administrator's.
  lifecycle {
    create_before_destroy = true
    ignore_changes        = [tags, tags_all]
  }
}

resource "aws_api_gateway_resource" "webhooks" {
  rest_api_id = aws_api_gateway_rest_api.this.id
  parent_id   = aws_api_gateway_rest_api.this.root_resource_id
  path_part   = "webhooks"
}

resource "aws_api_gateway_resource" "stripe" {
  rest_api_id = aws_api_gateway_rest_api.this.id
  parent_id   = aws_api_gateway_resource.webhooks.id
  path_part   = "stripe"
}

resource "aws_api_gateway_method" "post" {
  #checkov:skip=CKV_AWS_59:Stripe cannot present API credentials; every request is authenticated by its Stripe-Signature HMAC, verified before anything else.
  #checkov:skip=CKV2_AWS_53:The body is validated by the function (signature first, then the event schema); a gateway model would have to duplicate Stripe's evolving schema.
  rest_api_id   = aws_api_gateway_rest_api.this.id
  resource_id   = aws_api_gateway_resource.stripe.id
  http_method   = "POST"
  authorization = "NONE"
}

resource "aws_api_gateway_integration" "post" {
  rest_api_id             = aws_api_gateway_rest_api.this.id
  resource_id             = aws_api_gateway_resource.stripe.id
  http_method             = aws_api_gateway_method.post.http_method
  type                    = "AWS_PROXY"
  integration_http_method = "POST"
  uri                     = var.function_invoke_arn
}

resource "aws_api_gateway_deployment" "this" {
  rest_api_id = aws_api_gateway_rest_api.this.id

  # A new deployment whenever the route or its integration changes.
  triggers = {
    redeployment = sha1(jsonencode([
      aws_api_gateway_resource.webhooks.id,
      aws_api_gateway_resource.stripe.id,
      aws_api_gateway_method.post.id,
      aws_api_gateway_integration.post.id,
      aws_api_gateway_integration.post.uri,
    ]))
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_cloudwatch_log_group" "access" {
  #checkov:skip=CKV_AWS_338:Retention is each environment's choice (log_retention_days); these are operational logs, not an audit trail.
  name              = "/aws/apigateway/${var.name}/access"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn
  tags              = var.tags
}

# API Gateway would create this group itself on the first logged error, without retention and
# outside Terraform; created here first, it is kept for log_retention_days and destroyed with the API.
resource "aws_cloudwatch_log_group" "execution" {
  #checkov:skip=CKV_AWS_338:Retention is each environment's choice (log_retention_days); these are operational logs, not an audit trail.
  name              = "API-Gateway-Execution-Logs_${aws_api_gateway_rest_api.this.id}/${var.stage_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn
  tags              = var.tags
}

resource "aws_api_gateway_stage" "this" {
  #checkov:skip=CKV_AWS_120:Webhook deliveries are unique POSTs; caching them would be wrong.
  #checkov:skip=CKV2_AWS_29:A WAF web ACL is an account-level choice (attach one with aws_wafv2_web_acl_association); the signature check rejects forged requests before any work.
  #checkov:skip=CKV2_AWS_51:Stripe does not present client certificates.
  rest_api_id          = aws_api_gateway_rest_api.this.id
  deployment_id        = aws_api_gateway_deployment.this.id
  stage_name           = var.stage_name
  xray_tracing_enabled = true

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.access.arn
    format = jsonencode({
      requestId      = "$context.requestId"
      xrayTraceId    = "$context.xrayTraceId"
      ip             = "$context.identity.sourceIp"
      requestTime    = "$context.requestTime"
      httpMethod     = "$context.httpMethod"
      resourcePath   = "$context.resourcePath"
      status         = "$context.status"
      responseLength = "$context.responseLength"
      latencyMs      = "$context.responseLatency"
      integrationErr = "$context.integration.error"
    })
  }

  tags = var.tags

  # Tags are set at creation only, like the API's.
  lifecycle {
    ignore_changes = [tags, tags_all]
  }
}

# Which requests X-Ray traces. API Gateway applies the account's sampling rules to each request
# (a function follows the header it is invoked with and cannot sample on its own); without this
# rule the default one traces 1 request a second and 5% of the rest. X-Ray names the stage's
# service <api>/<stage>; the path matches with or without the stage in front.
resource "aws_xray_sampling_rule" "webhooks" {
  rule_name      = substr("${var.name}-webhooks", 0, 32)
  priority       = 100
  version        = 1
  reservoir_size = var.trace_sampling_reservoir
  fixed_rate     = var.trace_sampling_rate
  service_name   = "${var.name}/${var.stage_name}"
  service_type   = "*"
  http_method    = "POST"
  url_path       = "*/webhooks/stripe"
  host           = "*"
  resource_arn   = "*"
  tags           = var.tags
}

resource "aws_api_gateway_method_settings" "all" {
  #checkov:skip=CKV_AWS_225:Webhook deliveries are unique POSTs; caching them would be wrong.
  rest_api_id = aws_api_gateway_rest_api.this.id
  stage_name  = aws_api_gateway_stage.this.stage_name
  method_path = "*/*"

  settings {
    metrics_enabled        = true
    logging_level          = "ERROR"
    data_trace_enabled     = false
    throttling_burst_limit = var.throttling_burst_limit
    throttling_rate_limit  = var.throttling_rate_limit
  }

  depends_on = [aws_cloudwatch_log_group.execution]
}

# 5XX: webhook-api failed or could not queue (503); Stripe retries, but nothing is being accepted.
resource "aws_cloudwatch_metric_alarm" "server_errors" {
  alarm_name          = "${var.name}-api-5xx"
  alarm_description   = "${var.name}'s webhook endpoint answered 5XX: events are not being accepted (Stripe retries them)."
  namespace           = "AWS/ApiGateway"
  metric_name         = "5XXError"
  dimensions          = { ApiName = aws_api_gateway_rest_api.this.name, Stage = aws_api_gateway_stage.this.stage_name }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 2
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
  tags                = var.tags
}

resource "aws_lambda_permission" "invoke" {
  statement_id  = "AllowApiGatewayInvoke"
  action        = "lambda:InvokeFunction"
  function_name = var.function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_api_gateway_rest_api.this.execution_arn}/${aws_api_gateway_stage.this.stage_name}/POST/webhooks/stripe"
}
