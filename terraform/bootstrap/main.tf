# One-time account set-up for deploying from GitHub Actions: per environment a Terraform state
# bucket, a plan role (read-only, assumable by the GitHub environment <env>-plan), a deploy role
# (assumable only by the GitHub environment <env>, allowed only what the pipeline needs, on that
# environment's resources) and a smoke-test role (<env>-smoke: the signing secret, the record,
# the trace); the GitHub OIDC provider; and what is one per account (account.tf). Its own state
# stays local: it is applied once per account, by an administrator, and rarely changes.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account   = data.aws_caller_identity.current.account_id
  partition = data.aws_partition.current.partition
  oidc_url  = "token.actions.githubusercontent.com"
  oidc_arn = var.create_github_oidc_provider ? aws_iam_openid_connect_provider.github[0].arn : (
    "arn:${local.partition}:iam::${local.account}:oidc-provider/${local.oidc_url}"
  )
  environments = toset(var.environments)
  # Several environments in one account: the few actions IAM cannot hold to one environment's
  # resources are then granted to none of them (README, "One account or several").
  shared_account = length(var.environments) > 1
  # The tag every environment's resources carry (the pipeline module's tags), which the policies
  # check where a resource's name cannot tell its environment (API Gateway ids, mapping UUIDs).
  environment_tag = "Environment"
}

# One bucket per environment: no role of one environment can list, read or lock the other's
# state, and a plan may list its own bucket (Terraform's first plan needs a 404 for the missing
# state object, which S3 gives only to a caller who may list).
resource "aws_s3_bucket" "state" {
  #checkov:skip=CKV_AWS_144:Cross-region replication of a small state bucket is a disaster-recovery choice left to the account owner; versioning protects against overwrites.
  #checkov:skip=CKV_AWS_18:Access logs for the state bucket would need a second bucket; CloudTrail records who reads and writes state.
  #checkov:skip=CKV2_AWS_62:No consumer needs event notifications for state changes.
  #checkov:skip=CKV_AWS_145:SSE-S3 encrypts the state at rest; a customer key can be set with a bucket encryption override.
  for_each = local.environments
  bucket   = "${var.state_bucket_prefix}-${each.key}"
}

resource "aws_s3_bucket_versioning" "state" {
  for_each = local.environments
  bucket   = aws_s3_bucket.state[each.key].id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "state" {
  for_each = local.environments
  bucket   = aws_s3_bucket.state[each.key].id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_public_access_block" "state" {
  for_each                = local.environments
  bucket                  = aws_s3_bucket.state[each.key].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_lifecycle_configuration" "state" {
  for_each = local.environments
  bucket   = aws_s3_bucket.state[each.key].id

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
  for_each = local.environments

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"]
    resources = [aws_s3_bucket.state[each.key].arn, "${aws_s3_bucket.state[each.key].arn}/*"]

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
  for_each = local.environments
  bucket   = aws_s3_bucket.state[each.key].id
  policy   = data.aws_iam_policy_document.state_tls_only[each.key].json
}

resource "aws_iam_openid_connect_provider" "github" {
  count          = var.create_github_oidc_provider ? 1 : 0
  url            = "https://${local.oidc_url}"
  client_id_list = ["sts.amazonaws.com"]
}

# The GitHub environment each role's jobs run in: <env>-plan plans (no reviewers), <env> applies
# (prod's reviewers approve here), <env>-smoke runs the smoke test (the only job that may read
# the signing secret).
locals {
  github_environments = merge(
    { for env in var.environments : "deploy-${env}" => env },
    { for env in var.environments : "plan-${env}" => "${env}-plan" },
    { for env in var.environments : "smoke-${env}" => "${env}-smoke" },
  )
  # The subject GitHub issues once the repository's OIDC subject template includes
  # job_workflow_ref (README, "Who can deploy"): a job in that GitHub environment, running the
  # deploy workflow as it is on main. Another workflow, or this one from another branch, is
  # refused even in the same GitHub environment.
  deploy_workflow = "${var.github_repository}/.github/workflows/deploy-environment.yml@refs/heads/main"

  # What a plan reads comes from the table the checks hold every role to: each resource type's
  # read and list-tags calls. A plain action name (a JSON string) reads a resource named after
  # the environment; a call with a request context (a JSON object) is scoped by a statement of
  # its own in the plan policy.
  plan_table_reads = flatten([
    for row in jsondecode(file("${path.module}/deploy-permissions.json")).types : concat(row.read, row.list_tags)
  ])
  plan_named_reads = sort(distinct([for call in local.plan_table_reads : call if startswith(jsonencode(call), "\"")]))
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

    condition {
      test     = "StringEquals"
      variable = "${local.oidc_url}:sub"
      values   = ["repo:${var.github_repository}:environment:${each.value}:job_workflow_ref:${local.deploy_workflow}"]
    }
  }
}

resource "aws_iam_role" "deploy" {
  for_each             = local.environments
  name                 = "${var.project}-${each.key}-github-deploy"
  assume_role_policy   = data.aws_iam_policy_document.github_trust["deploy-${each.key}"].json
  max_session_duration = 3600
}

resource "aws_iam_role" "plan" {
  for_each             = local.environments
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

  # The notifier: its table's stream (ListStreams names no resource), and email from the
  # account's SES identities (the function's own policy names the one sender).
  statement {
    sid       = "TableStreams"
    actions   = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"]
    resources = ["arn:${local.partition}:dynamodb:${var.region}:${local.account}:table/${var.project}-${each.key}-*/stream/*"]
  }

  statement {
    sid       = "ListTableStreams"
    actions   = ["dynamodb:ListStreams"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = [var.region]
    }
  }

  statement {
    sid       = "Email"
    actions   = ["ses:SendEmail"]
    resources = ["arn:${local.partition}:ses:${var.region}:${local.account}:identity/*"]
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

# What `terraform apply` of one environment needs, on that environment's resources only.
# terraform/bootstrap/deploy-permissions.json lists, per resource type, the calls the AWS
# provider makes; checks/'s Terraform rules check this policy against it, and check that
# each call is denied on the other environment's resources.
data "aws_iam_policy_document" "deploy" {
  for_each = local.environments

  statement {
    sid       = "StateList"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.state[each.key].arn]
  }

  statement {
    sid       = "StateObjects"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.state[each.key].arn}/${var.project}/${each.key}/*"]
  }

  statement {
    sid = "Functions"
    actions = [
      "lambda:CreateFunction", "lambda:DeleteFunction", "lambda:GetFunction", "lambda:GetFunctionConfiguration",
      "lambda:GetFunctionCodeSigningConfig", "lambda:UpdateFunctionCode", "lambda:UpdateFunctionConfiguration",
      "lambda:ListVersionsByFunction", "lambda:TagResource", "lambda:UntagResource", "lambda:ListTags",
      "lambda:AddPermission", "lambda:RemovePermission", "lambda:GetPolicy", "lambda:PutFunctionConcurrency",
      "lambda:DeleteFunctionConcurrency",
    ]
    resources = ["arn:${local.partition}:lambda:${var.region}:${local.account}:function:${var.project}-${each.key}-*"]
  }

  statement {
    sid       = "AdotLayer"
    actions   = ["lambda:GetLayerVersion"]
    resources = ["arn:${local.partition}:lambda:${var.region}:901920570463:layer:aws-otel-collector-*"]
  }

  # CreateEventSourceMapping has no resource type: narrowed by the function it targets, and the
  # mapping must be created with the environment's tag, which the statements below check.
  statement {
    sid       = "CreateEventSourceMappings"
    actions   = ["lambda:CreateEventSourceMapping"]
    resources = ["*"]

    condition {
      test     = "ArnLike"
      variable = "lambda:FunctionArn"
      values   = ["arn:${local.partition}:lambda:${var.region}:${local.account}:function:${var.project}-${each.key}-*"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/${local.environment_tag}"
      values   = [each.key]
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

  # Reading a mapping and its tags (every refresh), and removing tags: a mapping's ARN is a
  # random UUID, so the environment is told by the mapping's own tag.
  statement {
    sid       = "ReadEventSourceMappings"
    actions   = ["lambda:GetEventSourceMapping", "lambda:ListTags", "lambda:UntagResource"]
    resources = ["arn:${local.partition}:lambda:${var.region}:${local.account}:event-source-mapping:*"]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${local.environment_tag}"
      values   = [each.key]
    }
  }

  # Tagging carries the environment's tag, on a mapping that has it or has no tags yet (its
  # creation): another environment's mapping can never be re-tagged into this one.
  statement {
    sid       = "TagEventSourceMappings"
    actions   = ["lambda:TagResource"]
    resources = ["arn:${local.partition}:lambda:${var.region}:${local.account}:event-source-mapping:*"]

    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/${local.environment_tag}"
      values   = [each.key]
    }

    condition {
      test     = "StringEqualsIfExists"
      variable = "aws:ResourceTag/${local.environment_tag}"
      values   = [each.key]
    }
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

  # Belt and braces: whatever an allow above grows into, the GitHub roles and the boundaries are
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
      "arn:${local.partition}:iam::${local.account}:role/${var.project}-*-github-*",
      "arn:${local.partition}:iam::${local.account}:policy/${var.project}-*-function-boundary",
    ]
  }

  statement {
    sid       = "NeverRemoveABoundary"
    effect    = "Deny"
    actions   = ["iam:DeleteRolePermissionsBoundary"]
    resources = ["arn:${local.partition}:iam::${local.account}:role/*"]
  }

  # The environment's tag is what the tag-checked statements read: it is set when a resource is
  # created and never removed.
  statement {
    sid       = "NeverUntagTheEnvironment"
    effect    = "Deny"
    actions   = ["lambda:UntagResource", "logs:UntagResource"]
    resources = ["*"]

    condition {
      test     = "ForAnyValue:StringEquals"
      variable = "aws:TagKeys"
      values   = [local.environment_tag]
    }
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
      "dynamodb:UntagResource",
    ]
    resources = ["arn:${local.partition}:dynamodb:${var.region}:${local.account}:table/${var.project}-${each.key}-*"]
  }

  statement {
    sid = "LogGroups"
    actions = [
      "logs:CreateLogGroup", "logs:DeleteLogGroup", "logs:PutRetentionPolicy", "logs:DeleteRetentionPolicy",
      "logs:TagResource", "logs:UntagResource", "logs:ListTagsForResource", "logs:AssociateKmsKey",
      "logs:DisassociateKmsKey",
    ]
    resources = [
      "arn:${local.partition}:logs:${var.region}:${local.account}:log-group:/aws/lambda/${var.project}-${each.key}-*",
      "arn:${local.partition}:logs:${var.region}:${local.account}:log-group:/aws/apigateway/${var.project}-${each.key}/*",
    ]
  }

  # API Gateway names its execution log group after the API's random id: the group is created
  # with the environment's tag and changed only while it carries it.
  statement {
    sid       = "CreateExecutionLogGroups"
    actions   = ["logs:CreateLogGroup", "logs:TagResource"]
    resources = ["arn:${local.partition}:logs:${var.region}:${local.account}:log-group:API-Gateway-Execution-Logs_*"]

    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/${local.environment_tag}"
      values   = [each.key]
    }

    condition {
      test     = "StringEqualsIfExists"
      variable = "aws:ResourceTag/${local.environment_tag}"
      values   = [each.key]
    }
  }

  statement {
    sid = "ExecutionLogGroups"
    actions = [
      "logs:DeleteLogGroup", "logs:PutRetentionPolicy", "logs:DeleteRetentionPolicy", "logs:UntagResource",
      "logs:ListTagsForResource", "logs:AssociateKmsKey", "logs:DisassociateKmsKey",
    ]
    resources = ["arn:${local.partition}:logs:${var.region}:${local.account}:log-group:API-Gateway-Execution-Logs_*"]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${local.environment_tag}"
      values   = [each.key]
    }
  }

  # Reads IAM defines no resource type for: `*`, held to the environment's region. In one
  # account they see every environment's (README, "One account or several").
  statement {
    sid       = "ReadsWithoutResourceTypes"
    actions   = ["logs:DescribeLogGroups", "sns:GetSubscriptionAttributes", "xray:GetSamplingRules"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = [var.region]
    }
  }

  # Changing or removing a topic's subscription: IAM defines no resource type or condition key
  # for either, so they reach every subscription in the account. Granted only to an environment
  # with its account to itself; in a shared account an administrator makes these changes.
  dynamic "statement" {
    for_each = local.shared_account ? [] : ["subscriptions"]
    content {
      sid       = "SubscriptionChanges"
      actions   = ["sns:SetSubscriptionAttributes", "sns:Unsubscribe"]
      resources = ["*"]

      condition {
        test     = "StringEquals"
        variable = "aws:RequestedRegion"
        values   = [var.region]
      }
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

  # The rule that routes the environment's own Stripe partner event bus (stripe_event_bus_names)
  # to its queue; a rule's ARN holds its bus's name. Targets are held to the environment's
  # queues: every target of the request, and at least one.
  dynamic "statement" {
    for_each = { for env, bus in var.stripe_event_bus_names : env => bus if env == each.key }
    content {
      sid = "StripeEventRule"
      actions = [
        "events:PutRule", "events:DescribeRule", "events:DeleteRule", "events:RemoveTargets",
        "events:ListTargetsByRule", "events:ListTagsForResource", "events:TagResource", "events:UntagResource",
      ]
      resources = ["arn:${local.partition}:events:${var.region}:${local.account}:rule/${statement.value}/${var.project}-${each.key}-*"]
    }
  }

  dynamic "statement" {
    for_each = { for env, bus in var.stripe_event_bus_names : env => bus if env == each.key }
    content {
      sid       = "StripeEventTargets"
      actions   = ["events:PutTargets"]
      resources = ["arn:${local.partition}:events:${var.region}:${local.account}:rule/${statement.value}/${var.project}-${each.key}-*"]

      condition {
        test     = "ForAllValues:ArnLike"
        variable = "events:TargetArn"
        values   = ["arn:${local.partition}:sqs:${var.region}:${local.account}:${var.project}-${each.key}-*"]
      }

      condition {
        test     = "Null"
        variable = "events:TargetArn"
        values   = ["false"]
      }
    }
  }

  statement {
    sid = "Topics"
    actions = [
      "sns:CreateTopic", "sns:DeleteTopic", "sns:GetTopicAttributes", "sns:SetTopicAttributes", "sns:Subscribe",
      "sns:ListTagsForResource", "sns:TagResource", "sns:UntagResource",
    ]
    resources = ["arn:${local.partition}:sns:${var.region}:${local.account}:${var.project}-${each.key}-*"]
  }

  # The secret is this root's (signing_secrets.tf): the environment reads its metadata by name.
  # Its value is read only by the smoke-test role (smoke.tf).
  statement {
    sid       = "SigningSecret"
    actions   = ["secretsmanager:DescribeSecret", "secretsmanager:GetResourcePolicy"]
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

  # A REST API's id is random: it is created with the environment's tag, and it and everything
  # under it (which inherit the API's tags for access control) are changed only while it carries
  # that tag. Tags are never changed afterwards (IAM defines no tag key for /tags/<arn>), so the
  # API's tag cannot be rewritten into another environment's.
  statement {
    sid       = "CreateRestApis"
    actions   = ["apigateway:POST"]
    resources = ["arn:${local.partition}:apigateway:${var.region}::/restapis"]

    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/${local.environment_tag}"
      values   = [each.key]
    }
  }

  statement {
    sid       = "RestApis"
    actions   = ["apigateway:GET", "apigateway:POST", "apigateway:PUT", "apigateway:PATCH", "apigateway:DELETE"]
    resources = ["arn:${local.partition}:apigateway:${var.region}::/restapis/*"]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${local.environment_tag}"
      values   = [each.key]
    }
  }
}

# Plans run before prod's approval, so they use a role that can read what a refresh reads and
# write nothing but the state lock: approving a plan is the only way to change an environment.
data "aws_iam_policy_document" "plan" {
  for_each = local.environments

  statement {
    sid       = "StateList"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.state[each.key].arn]
  }

  statement {
    sid       = "StateRead"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.state[each.key].arn}/${var.project}/${each.key}/*"]
  }

  statement {
    sid       = "StateLock"
    actions   = ["s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.state[each.key].arn}/${var.project}/${each.key}/*.tflock"]
  }

  # Reads of resources named after the environment: every plain read and list-tags call of the
  # deploy-permissions table (local.plan_named_reads), on the environment's names. A new resource
  # type's reads arrive with its row; a new kind of ARN needs its pattern here.
  statement {
    sid     = "ReadNamedResources"
    actions = local.plan_named_reads
    resources = concat([
      "arn:${local.partition}:lambda:${var.region}:${local.account}:function:${var.project}-${each.key}-*",
      "arn:${local.partition}:lambda:${var.region}:901920570463:layer:aws-otel-collector-*",
      "arn:${local.partition}:iam::${local.account}:role/${var.project}/${each.key}/*",
      "arn:${local.partition}:sqs:${var.region}:${local.account}:${var.project}-${each.key}-*",
      "arn:${local.partition}:dynamodb:${var.region}:${local.account}:table/${var.project}-${each.key}-*",
      "arn:${local.partition}:logs:${var.region}:${local.account}:log-group:/aws/lambda/${var.project}-${each.key}-*",
      "arn:${local.partition}:logs:${var.region}:${local.account}:log-group:/aws/apigateway/${var.project}-${each.key}/*",
      "arn:${local.partition}:cloudwatch:${var.region}:${local.account}:alarm:${var.project}-${each.key}-*",
      "arn:${local.partition}:cloudwatch::${local.account}:dashboard/${var.project}-${each.key}-*",
      "arn:${local.partition}:sns:${var.region}:${local.account}:${var.project}-${each.key}-*",
      "arn:${local.partition}:xray:${var.region}:${local.account}:sampling-rule/${var.project}-${each.key}-*",
      "arn:${local.partition}:secretsmanager:${var.region}:${local.account}:secret:${var.project}-${each.key}/*",
      ], [
      for env, bus in var.stripe_event_bus_names :
      "arn:${local.partition}:events:${var.region}:${local.account}:rule/${bus}/${var.project}-${each.key}-*" if env == each.key
    ])
  }

  statement {
    sid       = "ReadEventSourceMappings"
    actions   = ["lambda:GetEventSourceMapping", "lambda:ListTags"]
    resources = ["arn:${local.partition}:lambda:${var.region}:${local.account}:event-source-mapping:*"]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${local.environment_tag}"
      values   = [each.key]
    }
  }

  statement {
    sid       = "ReadExecutionLogGroups"
    actions   = ["logs:ListTagsForResource"]
    resources = ["arn:${local.partition}:logs:${var.region}:${local.account}:log-group:API-Gateway-Execution-Logs_*"]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${local.environment_tag}"
      values   = [each.key]
    }
  }

  statement {
    sid       = "ReadsWithoutResourceTypes"
    actions   = ["logs:DescribeLogGroups", "sns:GetSubscriptionAttributes", "xray:GetSamplingRules"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = [var.region]
    }
  }

  statement {
    sid       = "ReadRestApis"
    actions   = ["apigateway:GET"]
    resources = ["arn:${local.partition}:apigateway:${var.region}::/restapis/*"]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${local.environment_tag}"
      values   = [each.key]
    }
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
