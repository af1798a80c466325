# One-time account set-up for deploying from GitHub Actions: the Terraform state bucket, the
# GitHub OIDC provider, per environment a plan role (read-only, assumable by the GitHub
# environment <env>-plan) and a deploy role (assumable only by the GitHub environment <env>,
# allowed only what the pipeline needs, on that environment's resources), and API Gateway's
# account-wide CloudWatch logging role. Its own state stays local: it is applied once, by an
# administrator, and rarely changes.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account   = data.aws_caller_identity.current.account_id
  partition = data.aws_partition.current.partition
  oidc_url  = "token.actions.githubusercontent.com"
  oidc_arn = var.create_github_oidc_provider ? aws_iam_openid_connect_provider.github[0].arn : (
    "arn:${local.partition}:iam::${local.account}:oidc-provider/${local.oidc_url}"
  )
}

resource "aws_s3_bucket" "state" {
  #checkov:skip=CKV_AWS_144:Cross-region replication of a small state bucket is a disaster-recovery choice left to the account owner; versioning protects against overwrites.
  #checkov:skip=CKV_AWS_18:Access logs for the state bucket would need a second bucket; CloudTrail records who reads and writes state.
  #checkov:skip=CKV2_AWS_62:No consumer needs event notifications for state changes.
  #checkov:skip=CKV_AWS_145:SSE-S3 encrypts the state at rest; a customer key can be set with a bucket encryption override.
  bucket = var.state_bucket_name
}

resource "aws_s3_bucket_versioning" "state" {
  bucket = aws_s3_bucket.state.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "state" {
  bucket = aws_s3_bucket.state.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_public_access_block" "state" {
  bucket                  = aws_s3_bucket.state.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_lifecycle_configuration" "state" {
  bucket = aws_s3_bucket.state.id

  rule {
    id     = "expire-old-state-versions"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = 90
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

data "aws_iam_policy_document" "state_tls_only" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"]
    resources = [aws_s3_bucket.state.arn, "${aws_s3_bucket.state.arn}/*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account}:root"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "state" {
  bucket = aws_s3_bucket.state.id
  policy = data.aws_iam_policy_document.state_tls_only.json
}

resource "aws_iam_openid_connect_provider" "github" {
  count          = var.create_github_oidc_provider ? 1 : 0
  url            = "https://${local.oidc_url}"
  client_id_list = ["sts.amazonaws.com"]
}

# The GitHub environment a role's jobs run in: <env> (reviewers, for prod) applies, <env>-plan
# (no reviewers) plans.
locals {
  github_environments = merge(
    { for env in var.environments : "deploy-${env}" => env },
    { for env in var.environments : "plan-${env}" => "${env}-plan" },
  )
}

data "aws_iam_policy_document" "github_trust" {
  for_each = local.github_environments

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.oidc_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.oidc_url}:aud"
      values   = ["sts.amazonaws.com"]
    }

    # Only jobs running in that GitHub environment (with its reviewers and branch rules).
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_url}:sub"
      values   = ["repo:${var.github_repository}:environment:${each.value}"]
    }
  }
}

resource "aws_iam_role" "deploy" {
  for_each             = toset(var.environments)
  name                 = "${var.project}-${each.key}-github-deploy"
  assume_role_policy   = data.aws_iam_policy_document.github_trust["deploy-${each.key}"].json
  max_session_duration = 3600
}

resource "aws_iam_role" "plan" {
  for_each             = toset(var.environments)
  name                 = "${var.project}-${each.key}-github-plan"
  assume_role_policy   = data.aws_iam_policy_document.github_trust["plan-${each.key}"].json
  max_session_duration = 3600
}

# The most a function role of an environment can ever do, whatever policy a deploy puts in it:
# what the functions use (docs/architecture.md), on that environment's resources. The deploy
# role may create and change function roles only with this boundary on them.
data "aws_iam_policy_document" "function_boundary" {
  for_each = toset(var.environments)

  statement {
    sid       = "OwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["arn:${local.partition}:logs:${var.region}:${local.account}:log-group:/aws/lambda/${var.project}-${each.key}-*:*"]
  }

  # What AWSXRayDaemonWriteAccess and CloudWatchLambdaApplicationSignalsExecutionRolePolicy grant
  # (the latter also the Application Signals log group, below).
  statement {
    sid = "Tracing"
    actions = [
      "xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets",
      "xray:GetSamplingStatisticSummaries",
    ]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = [var.region]
    }
  }

  statement {
    sid       = "ApplicationSignalsLogs"
    actions   = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["arn:${local.partition}:logs:${var.region}:${local.account}:log-group:/aws/application-signals/data:*"]
  }

  statement {
    sid = "Queues"
    actions = [
      "sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes",
    ]
    resources = ["arn:${local.partition}:sqs:${var.region}:${local.account}:${var.project}-${each.key}-*"]
  }

  statement {
    sid       = "Topics"
    actions   = ["sns:Publish"]
    resources = ["arn:${local.partition}:sns:${var.region}:${local.account}:${var.project}-${each.key}-*"]
  }

  statement {
    sid       = "Table"
    actions   = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem", "dynamodb:GetItem"]
    resources = ["arn:${local.partition}:dynamodb:${var.region}:${local.account}:table/${var.project}-${each.key}-*"]
  }

  statement {
    sid       = "SigningSecret"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = ["arn:${local.partition}:secretsmanager:${var.region}:${local.account}:secret:${var.project}-${each.key}/*"]
  }

  # A customer-managed key (kms_key_arn), used only through the services above.
  statement {
    sid       = "EncryptionKeys"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["arn:${local.partition}:kms:${var.region}:${local.account}:key/*"]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values = [
        "sqs.${var.region}.amazonaws.com", "sns.${var.region}.amazonaws.com", "dynamodb.${var.region}.amazonaws.com",
        "secretsmanager.${var.region}.amazonaws.com",
      ]
    }
  }
}

resource "aws_iam_policy" "function_boundary" {
  for_each    = toset(var.environments)
  name        = "${var.project}-${each.key}-function-boundary"
  description = "Permissions boundary of every ${each.key} function role: the most it can ever be allowed."
  policy      = data.aws_iam_policy_document.function_boundary[each.key].json
}

# What `terraform apply` of one environment needs, on that environment's resources only, plus
# what the post-deploy smoke test reads (the signing secret, one table item, the trace).
# terraform/bootstrap/deploy-permissions.json lists, per resource type, the calls the AWS
# provider makes; tools/terraform-config's tests check this policy against it.
data "aws_iam_policy_document" "deploy" {
  for_each = toset(var.environments)

  statement {
    sid       = "StateList"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.state.arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.project}/${each.key}/*"]
    }
  }

  statement {
    sid       = "StateObjects"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.state.arn}/${var.project}/${each.key}/*"]
  }

  statement {
    sid = "Functions"
    actions = [
      "lambda:CreateFunction", "lambda:DeleteFunction", "lambda:GetFunction", "lambda:GetFunctionConfiguration",
      "lambda:GetFunctionCodeSigningConfig", "lambda:UpdateFunctionCode", "lambda:UpdateFunctionConfiguration",
      "lambda:ListVersionsByFunction", "lambda:TagResource", "lambda:UntagResource", "lambda:ListTags",
      "lambda:AddPermission", "lambda:RemovePermission", "lambda:GetPolicy", "lambda:PutFunctionConcurrency",
      "lambda:DeleteFunctionConcurrency", "lambda:GetFunctionConcurrency",
    ]
    resources = ["arn:${local.partition}:lambda:${var.region}:${local.account}:function:${var.project}-${each.key}-*"]
  }

  statement {
    sid       = "AdotLayer"
    actions   = ["lambda:GetLayerVersion"]
    resources = ["arn:${local.partition}:lambda:${var.region}:901920570463:layer:aws-otel-collector-*"]
  }

  # CreateEventSourceMapping has no resource type: narrowed by the function it targets.
  statement {
    sid       = "CreateEventSourceMappings"
    actions   = ["lambda:CreateEventSourceMapping"]
    resources = ["*"]

    condition {
      test     = "ArnLike"
      variable = "lambda:FunctionArn"
      values   = ["arn:${local.partition}:lambda:${var.region}:${local.account}:function:${var.project}-${each.key}-*"]
    }
  }

  # Changes to a mapping are narrowed by its function too (the IAM reference lists the key for
  # both actions).
  statement {
    sid       = "ChangeEventSourceMappings"
    actions   = ["lambda:UpdateEventSourceMapping", "lambda:DeleteEventSourceMapping"]
    resources = ["arn:${local.partition}:lambda:${var.region}:${local.account}:event-source-mapping:*"]

    condition {
      test     = "ArnLike"
      variable = "lambda:FunctionArn"
      values   = ["arn:${local.partition}:lambda:${var.region}:${local.account}:function:${var.project}-${each.key}-*"]
    }
  }

  # Reading a mapping and its tags (every refresh, because of default_tags), and tagging it at
  # creation: on the mapping's ARN without the function condition, which IAM may not evaluate
  # for these actions. A mapping's ARN is a random UUID, so it cannot be narrowed by name.
  statement {
    sid = "ReadAndTagEventSourceMappings"
    actions = [
      "lambda:GetEventSourceMapping", "lambda:ListTags", "lambda:TagResource", "lambda:UntagResource",
    ]
    resources = ["arn:${local.partition}:lambda:${var.region}:${local.account}:event-source-mapping:*"]
  }

  # Function roles live under /<project>/<env>/ (never where the deploy role is) and are created
  # and changed only with the environment's boundary on them, so a merged change cannot give a
  # function, or itself, more than the boundary allows.
  statement {
    sid = "FunctionRolesWithBoundary"
    actions = [
      "iam:CreateRole", "iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:PutRolePermissionsBoundary",
    ]
    resources = ["arn:${local.partition}:iam::${local.account}:role/${var.project}/${each.key}/*"]

    condition {
      test     = "StringEquals"
      variable = "iam:PermissionsBoundary"
      values   = [aws_iam_policy.function_boundary[each.key].arn]
    }
  }

  # Only the two AWS-managed policies the functions need can be attached, and only to a role
  # with the boundary.
  statement {
    sid       = "ManagedPolicies"
    actions   = ["iam:AttachRolePolicy", "iam:DetachRolePolicy"]
    resources = ["arn:${local.partition}:iam::${local.account}:role/${var.project}/${each.key}/*"]

    condition {
      test     = "ArnEquals"
      variable = "iam:PolicyARN"
      values = [
        "arn:${local.partition}:iam::aws:policy/AWSXRayDaemonWriteAccess",
        "arn:${local.partition}:iam::aws:policy/CloudWatchLambdaApplicationSignalsExecutionRolePolicy",
      ]
    }

    condition {
      test     = "StringEquals"
      variable = "iam:PermissionsBoundary"
      values   = [aws_iam_policy.function_boundary[each.key].arn]
    }
  }

  # What needs no boundary condition: reading, tagging and deleting function roles. (No
  # UpdateAssumeRolePolicy: it cannot be conditioned on the boundary; the trust policy is set at
  # creation and names only lambda.amazonaws.com.)
  statement {
    sid = "ReadFunctionRoles"
    actions = [
      "iam:GetRole", "iam:DeleteRole", "iam:TagRole", "iam:UntagRole", "iam:ListRolePolicies", "iam:GetRolePolicy",
      "iam:ListAttachedRolePolicies", "iam:ListInstanceProfilesForRole",
    ]
    resources = ["arn:${local.partition}:iam::${local.account}:role/${var.project}/${each.key}/*"]
  }

  statement {
    sid       = "PassRolesToLambda"
    actions   = ["iam:PassRole"]
    resources = ["arn:${local.partition}:iam::${local.account}:role/${var.project}/${each.key}/*"]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["lambda.amazonaws.com"]
    }
  }

  # Belt and braces: whatever an allow above grows into, the deploy roles and the boundaries are
  # never changed, and no role's boundary is ever removed.
  statement {
    sid    = "NeverTheDeployRolesOrBoundaries"
    effect = "Deny"
    actions = [
      "iam:AttachRolePolicy", "iam:DeleteRole", "iam:DeleteRolePermissionsBoundary", "iam:DeleteRolePolicy",
      "iam:DetachRolePolicy", "iam:PassRole", "iam:PutRolePermissionsBoundary", "iam:PutRolePolicy", "iam:TagRole",
      "iam:UntagRole", "iam:UpdateAssumeRolePolicy", "iam:UpdateRole", "iam:UpdateRoleDescription",
      "iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:DeletePolicyVersion", "iam:SetDefaultPolicyVersion",
      "iam:TagPolicy", "iam:UntagPolicy",
    ]
    resources = [
      "arn:${local.partition}:iam::${local.account}:role/${var.project}-*-github-deploy",
      "arn:${local.partition}:iam::${local.account}:policy/${var.project}-*-function-boundary",
    ]
  }

  statement {
    sid       = "NeverRemoveABoundary"
    effect    = "Deny"
    actions   = ["iam:DeleteRolePermissionsBoundary"]
    resources = ["arn:${local.partition}:iam::${local.account}:role/*"]
  }

  statement {
    sid = "Queues"
    actions = [
      "sqs:CreateQueue", "sqs:DeleteQueue", "sqs:GetQueueAttributes", "sqs:SetQueueAttributes", "sqs:GetQueueUrl",
      "sqs:ListQueueTags", "sqs:TagQueue", "sqs:UntagQueue",
    ]
    resources = ["arn:${local.partition}:sqs:${var.region}:${local.account}:${var.project}-${each.key}-*"]
  }

  statement {
    sid = "Table"
    actions = [
      "dynamodb:CreateTable", "dynamodb:DeleteTable", "dynamodb:DescribeTable", "dynamodb:UpdateTable",
      "dynamodb:DescribeTimeToLive", "dynamodb:UpdateTimeToLive", "dynamodb:DescribeContinuousBackups",
      "dynamodb:UpdateContinuousBackups", "dynamodb:ListTagsOfResource", "dynamodb:TagResource",
      "dynamodb:UntagResource", "dynamodb:GetItem",
    ]
    resources = ["arn:${local.partition}:dynamodb:${var.region}:${local.account}:table/${var.project}-${each.key}-*"]
  }

  statement {
    sid = "LogGroups"
    actions = [
      "logs:CreateLogGroup", "logs:DeleteLogGroup", "logs:PutRetentionPolicy", "logs:DeleteRetentionPolicy",
      "logs:TagResource", "logs:UntagResource", "logs:ListTagsForResource", "logs:ListTagsLogGroup", "logs:TagLogGroup",
      "logs:AssociateKmsKey", "logs:DisassociateKmsKey",
    ]
    # API Gateway names its execution log group after the API's random id.
    resources = [
      "arn:${local.partition}:logs:${var.region}:${local.account}:log-group:/aws/lambda/${var.project}-${each.key}-*",
      "arn:${local.partition}:logs:${var.region}:${local.account}:log-group:/aws/apigateway/${var.project}-${each.key}/*",
      "arn:${local.partition}:logs:${var.region}:${local.account}:log-group:API-Gateway-Execution-Logs_*",
    ]
  }

  # Actions IAM defines no resource type for: `*`, held to the environment's region.
  statement {
    sid = "ActionsWithoutResourceTypes"
    actions = [
      "logs:DescribeLogGroups", "sns:Unsubscribe", "sns:GetSubscriptionAttributes", "sns:SetSubscriptionAttributes",
      "xray:PutResourcePolicy", "xray:ListResourcePolicies", "xray:DeleteResourcePolicy", "xray:GetSamplingRules",
      "logs:PutIndexPolicy", "logs:DescribeIndexPolicies", "logs:DeleteIndexPolicy",
    ]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = [var.region]
    }
  }

  statement {
    sid = "Alarms"
    actions = [
      "cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms", "cloudwatch:DescribeAlarms",
      "cloudwatch:ListTagsForResource", "cloudwatch:TagResource", "cloudwatch:UntagResource",
    ]
    resources = ["arn:${local.partition}:cloudwatch:${var.region}:${local.account}:alarm:${var.project}-${each.key}-*"]
  }

  # Dashboards are global: their ARN has no region.
  statement {
    sid       = "Dashboard"
    actions   = ["cloudwatch:PutDashboard", "cloudwatch:GetDashboard", "cloudwatch:DeleteDashboards"]
    resources = ["arn:${local.partition}:cloudwatch::${local.account}:dashboard/${var.project}-${each.key}-*"]
  }

  # The rule that routes Stripe's partner event bus to the queue (stripe_event_bus_name); a
  # rule's ARN holds its bus's name.
  statement {
    sid = "StripeEventRule"
    actions = [
      "events:PutRule", "events:DescribeRule", "events:DeleteRule", "events:PutTargets", "events:RemoveTargets",
      "events:ListTargetsByRule", "events:ListTagsForResource", "events:TagResource", "events:UntagResource",
    ]
    resources = ["arn:${local.partition}:events:${var.region}:${local.account}:rule/aws.partner/stripe.com/*/${var.project}-${each.key}-*"]
  }

  statement {
    sid = "Topics"
    actions = [
      "sns:CreateTopic", "sns:DeleteTopic", "sns:GetTopicAttributes", "sns:SetTopicAttributes", "sns:Subscribe",
      "sns:ListSubscriptionsByTopic", "sns:ListTagsForResource", "sns:TagResource", "sns:UntagResource",
    ]
    resources = ["arn:${local.partition}:sns:${var.region}:${local.account}:${var.project}-${each.key}-*"]
  }

  # The secret is this root's (signing_secrets.tf): the environment reads it by name, and the
  # smoke test signs with its value.
  statement {
    sid = "SigningSecret"
    actions = [
      "secretsmanager:DescribeSecret", "secretsmanager:GetResourcePolicy", "secretsmanager:GetSecretValue",
    ]
    resources = ["arn:${local.partition}:secretsmanager:${var.region}:${local.account}:secret:${var.project}-${each.key}/*"]
  }

  # The route's X-Ray sampling rule (modules/rest-api).
  statement {
    sid = "SamplingRule"
    actions = [
      "xray:CreateSamplingRule", "xray:UpdateSamplingRule", "xray:DeleteSamplingRule", "xray:TagResource",
      "xray:UntagResource", "xray:ListTagsForResource",
    ]
    resources = ["arn:${local.partition}:xray:${var.region}:${local.account}:sampling-rule/${var.project}-${each.key}-*"]
  }

  # The smoke test reads its event's trace back, as AWS serves it: where segments go, then
  # BatchGetTraces or (Transaction Search) a trace retrieval.
  statement {
    sid = "SmokeTestTraces"
    actions = [
      "xray:GetTraceSegmentDestination", "xray:BatchGetTraces", "xray:StartTraceRetrieval",
      "xray:ListRetrievedTraces",
    ]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = [var.region]
    }
  }

  statement {
    sid     = "RestApis"
    actions = ["apigateway:GET", "apigateway:POST", "apigateway:PUT", "apigateway:PATCH", "apigateway:DELETE"]
    resources = [
      "arn:${local.partition}:apigateway:${var.region}::/restapis",
      "arn:${local.partition}:apigateway:${var.region}::/restapis/*",
      "arn:${local.partition}:apigateway:${var.region}::/tags/*",
    ]
  }
}

# Plans run before prod's approval, so they use a role that can read what a refresh reads and
# write nothing but the state lock: approving a plan is the only way to change an environment.
data "aws_iam_policy_document" "plan" {
  for_each = toset(var.environments)

  statement {
    sid       = "StateList"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.state.arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.project}/${each.key}/*"]
    }
  }

  statement {
    sid       = "StateRead"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.state.arn}/${var.project}/${each.key}/*"]
  }

  statement {
    sid       = "StateLock"
    actions   = ["s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.state.arn}/${var.project}/${each.key}/*.tflock"]
  }

  statement {
    sid = "ReadFunctions"
    actions = [
      "lambda:GetFunction", "lambda:GetFunctionConfiguration", "lambda:GetFunctionCodeSigningConfig",
      "lambda:ListVersionsByFunction", "lambda:ListTags", "lambda:GetPolicy", "lambda:GetFunctionConcurrency",
    ]
    resources = ["arn:${local.partition}:lambda:${var.region}:${local.account}:function:${var.project}-${each.key}-*"]
  }

  statement {
    sid       = "ReadEventSourceMappings"
    actions   = ["lambda:GetEventSourceMapping", "lambda:ListTags"]
    resources = ["arn:${local.partition}:lambda:${var.region}:${local.account}:event-source-mapping:*"]
  }

  statement {
    sid       = "AdotLayer"
    actions   = ["lambda:GetLayerVersion"]
    resources = ["arn:${local.partition}:lambda:${var.region}:901920570463:layer:aws-otel-collector-*"]
  }

  statement {
    sid       = "ReadFunctionRoles"
    actions   = ["iam:GetRole", "iam:ListRolePolicies", "iam:GetRolePolicy", "iam:ListAttachedRolePolicies"]
    resources = ["arn:${local.partition}:iam::${local.account}:role/${var.project}/${each.key}/*"]
  }

  statement {
    sid       = "ReadQueues"
    actions   = ["sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ListQueueTags"]
    resources = ["arn:${local.partition}:sqs:${var.region}:${local.account}:${var.project}-${each.key}-*"]
  }

  statement {
    sid = "ReadTable"
    actions = [
      "dynamodb:DescribeTable", "dynamodb:DescribeTimeToLive", "dynamodb:DescribeContinuousBackups",
      "dynamodb:ListTagsOfResource",
    ]
    resources = ["arn:${local.partition}:dynamodb:${var.region}:${local.account}:table/${var.project}-${each.key}-*"]
  }

  statement {
    sid     = "ReadLogGroups"
    actions = ["logs:ListTagsForResource"]
    resources = [
      "arn:${local.partition}:logs:${var.region}:${local.account}:log-group:/aws/lambda/${var.project}-${each.key}-*",
      "arn:${local.partition}:logs:${var.region}:${local.account}:log-group:/aws/apigateway/${var.project}-${each.key}/*",
      "arn:${local.partition}:logs:${var.region}:${local.account}:log-group:API-Gateway-Execution-Logs_*",
    ]
  }

  statement {
    sid = "ReadWithoutResourceTypes"
    actions = [
      "logs:DescribeLogGroups", "sns:GetSubscriptionAttributes", "xray:ListResourcePolicies", "xray:GetSamplingRules",
      "logs:DescribeIndexPolicies",
    ]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = [var.region]
    }
  }

  statement {
    sid       = "ReadAlarms"
    actions   = ["cloudwatch:DescribeAlarms", "cloudwatch:ListTagsForResource"]
    resources = ["arn:${local.partition}:cloudwatch:${var.region}:${local.account}:alarm:${var.project}-${each.key}-*"]
  }

  statement {
    sid       = "ReadDashboard"
    actions   = ["cloudwatch:GetDashboard"]
    resources = ["arn:${local.partition}:cloudwatch::${local.account}:dashboard/${var.project}-${each.key}-*"]
  }

  statement {
    sid       = "ReadStripeEventRule"
    actions   = ["events:DescribeRule", "events:ListTargetsByRule", "events:ListTagsForResource"]
    resources = ["arn:${local.partition}:events:${var.region}:${local.account}:rule/aws.partner/stripe.com/*/${var.project}-${each.key}-*"]
  }

  statement {
    sid       = "ReadTopics"
    actions   = ["sns:GetTopicAttributes", "sns:ListTagsForResource"]
    resources = ["arn:${local.partition}:sns:${var.region}:${local.account}:${var.project}-${each.key}-*"]
  }

  statement {
    sid       = "ReadSamplingRule"
    actions   = ["xray:ListTagsForResource"]
    resources = ["arn:${local.partition}:xray:${var.region}:${local.account}:sampling-rule/${var.project}-${each.key}-*"]
  }

  statement {
    sid       = "ReadSigningSecret"
    actions   = ["secretsmanager:DescribeSecret", "secretsmanager:GetResourcePolicy"]
    resources = ["arn:${local.partition}:secretsmanager:${var.region}:${local.account}:secret:${var.project}-${each.key}/*"]
  }

  statement {
    sid     = "ReadRestApis"
    actions = ["apigateway:GET"]
    resources = [
      "arn:${local.partition}:apigateway:${var.region}::/restapis",
      "arn:${local.partition}:apigateway:${var.region}::/restapis/*",
      "arn:${local.partition}:apigateway:${var.region}::/tags/*",
    ]
  }
}

resource "aws_iam_role_policy" "plan" {
  for_each = toset(var.environments)
  name     = "plan-${each.key}"
  role     = aws_iam_role.plan[each.key].id
  policy   = data.aws_iam_policy_document.plan[each.key].json
}

resource "aws_iam_role_policy" "deploy" {
  for_each = toset(var.environments)
  name     = "deploy-${each.key}"
  role     = aws_iam_role.deploy[each.key].id
  policy   = data.aws_iam_policy_document.deploy[each.key].json
}

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
