# Non-secret settings of prod. The signing secret is never here: it goes into Secrets Manager.
region             = "eu-west-1"
log_retention_days = 90
