# What an operator needs to answer "what happened to this event?" in one environment and to
# retry what failed: `make trace EVENT=... ENV=<env>` and `make redrive ENV=<env>`
# (tools/operator): the event's record, its log lines, its traces (read as AWS serves them), the
# DLQ, and the dashboard. Attach it to the people or roles who operate the environment; it
# writes only what a redrive moves.
# checks/ (the Terraform rules) checks it against the operator's calls in deploy-permissions.json
# (every call allowed, no action unused).

data "aws_iam_policy_document" "operator" {
  for_each = toset(var.environments)

  statement {
    sid       = "EventRecords"
    actions   = ["dynamodb:GetItem"]
    resources = ["arn:${local.partition}:dynamodb:${var.region}:${local.account}:table/${var.project}-${each.key}-events"]
  }

  # Peeking at the DLQ without consuming it, and moving its messages back (SQS's move task acts
  # with the caller's permissions on both queues).
  statement {
    sid = "DeadLetters"
    actions = [
      "sqs:GetQueueAttributes", "sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:DeleteMessage",
      "sqs:StartMessageMoveTask", "sqs:ListMessageMoveTasks",
    ]
    resources = ["arn:${local.partition}:sqs:${var.region}:${local.account}:${var.project}-${each.key}-events-dlq"]
  }

  statement {
    sid       = "RedriveDestination"
    actions   = ["sqs:SendMessage"]
    resources = ["arn:${local.partition}:sqs:${var.region}:${local.account}:${var.project}-${each.key}-events"]
  }

  # Every event's log lines, sampled or not: Logs Insights over the two functions' log groups.
  statement {
    sid     = "EventLogLines"
    actions = ["logs:StartQuery", "logs:GetQueryResults"]
    resources = [
      for function in ["webhook-api", "webhook-worker"] :
      "arn:${local.partition}:logs:${var.region}:${local.account}:log-group:/aws/lambda/${var.project}-${each.key}-${function}:*"
    ]
  }

  statement {
    sid       = "Dashboard"
    actions   = ["cloudwatch:GetDashboard"]
    resources = ["arn:${local.partition}:cloudwatch::${local.account}:dashboard/${var.project}-${each.key}-*"]
  }

  # Actions IAM defines no resource type for: `*`, held to the environment's region.
  statement {
    sid = "ReadWithoutResourceTypes"
    actions = [
      "xray:GetTraceSegmentDestination", "xray:BatchGetTraces", "xray:StartTraceRetrieval", "xray:ListRetrievedTraces",
      "xray:GetTraceSummaries", "cloudwatch:GetMetricData",
    ]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = [var.region]
    }
  }
}

resource "aws_iam_policy" "operator" {
  for_each    = toset(var.environments)
  name        = "${var.project}-${each.key}-operator"
  description = "Trace one event, peek at and redrive the DLQ, read the dashboard of ${var.project}-${each.key}."
  policy      = data.aws_iam_policy_document.operator[each.key].json
}
