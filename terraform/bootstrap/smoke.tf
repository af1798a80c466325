# The post-deploy smoke test's own role, assumable only by a job in the GitHub environment
# <env>-smoke running the deploy workflow from main: it signs a webhook with the environment's
# signing secret, reads the event's record, and reads its trace back. Only this job can read the
# secret's value; the apply job (whose every step comes from the merged commit) cannot.

resource "aws_iam_role" "smoke" {
  for_each             = local.environments
  name                 = "${var.project}-${each.key}-github-smoke"
  assume_role_policy   = data.aws_iam_policy_document.github_trust["smoke-${each.key}"].json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "smoke" {
  for_each = local.environments

  # DescribeSecret tells a secret without a value from a missing one.
  statement {
    sid       = "SigningSecret"
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    resources = ["arn:${local.partition}:secretsmanager:${var.region}:${local.account}:secret:${var.project}-${each.key}/*"]
  }

  statement {
    sid       = "EventRecord"
    actions   = ["dynamodb:GetItem"]
    resources = ["arn:${local.partition}:dynamodb:${var.region}:${local.account}:table/${var.project}-${each.key}-events"]
  }

  # The trace read as AWS serves it: where segments go, then BatchGetTraces or a trace
  # retrieval. X-Ray defines no resource type for traces.
  statement {
    sid = "Traces"
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
}

resource "aws_iam_role_policy" "smoke" {
  for_each = local.environments
  name     = "smoke-${each.key}"
  role     = aws_iam_role.smoke[each.key].id
  policy   = data.aws_iam_policy_document.smoke[each.key].json
}
