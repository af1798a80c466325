# Transaction Search: X-Ray writes every span to the CloudWatch Logs group aws/spans, where Logs
# Insights finds any attribute (`filter @message like "evt_..."`, what `make trace` prints), and
# indexes a share of them as trace summaries.
#
# It is set here, not per environment, because it is an account-and-region setting: every
# environment in the region shares it, and destroying one environment must not switch it off for
# the others. hashicorp/aws 6.x has no resource for the segment destination. The awscc provider
# has one (awscc_xray_transaction_search_config), but it would bring a second provider, its lock
# file entries and Cloud Control permissions into this root for one setting; instead, the Logs
# resource policy is a real resource and the destination is set by the AWS CLI (which
# `make deploy` already needs) from a terraform_data resource, re-run whenever its inputs change.
# `transaction-search.sh` is idempotent and waits until the destination is active.

data "aws_iam_policy_document" "transaction_search" {
  statement {
    sid       = "TransactionSearchXRayAccess"
    actions   = ["logs:PutLogEvents"]
    resources = [for group in ["aws/spans", "/aws/application-signals/data"] : "arn:${local.partition}:logs:${var.region}:${local.account}:log-group:${group}:*"]

    principals {
      type        = "Service"
      identifiers = ["xray.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:xray:${var.region}:${local.account}:*"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

resource "aws_cloudwatch_log_resource_policy" "transaction_search" {
  count           = var.transaction_search ? 1 : 0
  policy_name     = "TransactionSearchXRayAccess"
  policy_document = data.aws_iam_policy_document.transaction_search.json
}

resource "terraform_data" "transaction_search" {
  count            = var.transaction_search ? 1 : 0
  triggers_replace = [var.region, var.transaction_search_indexing_percentage]

  provisioner "local-exec" {
    command = "${path.module}/transaction-search.sh"
    environment = {
      AWS_REGION          = var.region
      INDEXING_PERCENTAGE = tostring(var.transaction_search_indexing_percentage)
    }
  }

  depends_on = [aws_cloudwatch_log_resource_policy.transaction_search]
}
