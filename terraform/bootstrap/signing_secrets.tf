# Each environment's Stripe signing secret, created here without a value so that the value can
# be put (README, "The signing secrets") before the environment's first deploy: the first
# pipeline run's smoke test then signs a webhook and proves the trace. The environments read
# the secret by name; its value never passes through any Terraform state.

resource "aws_secretsmanager_secret" "signing" {
  #checkov:skip=CKV2_AWS_57:A Stripe endpoint secret is rotated in Stripe's dashboard, not by a Lambda rotation function; the API accepts several secrets during the switch.
  for_each                = toset(var.environments)
  name                    = "${var.project}-${each.key}/stripe-webhook-secret"
  description             = "Stripe webhook endpoint signing secret(s) (whsec_...) of ${var.project}-${each.key}, comma-separated during rotation."
  kms_key_id              = var.signing_secret_kms_key_arn
  recovery_window_in_days = var.signing_secret_recovery_window_days
}
