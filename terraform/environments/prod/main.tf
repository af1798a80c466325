# The prod environment: the whole pipeline with prod's settings.

module "pipeline" {
  source = "../../modules/pipeline"

  environment         = "prod"
  api_zip_path        = var.api_zip_path
  worker_zip_path     = var.worker_zip_path
  architecture        = var.architecture
  telemetry_transport = var.telemetry_transport
  deletion_protection = true
  log_retention_days  = var.log_retention_days
  alarm_actions       = var.alarm_actions
  alarm_email         = var.alarm_email

  fan_out                      = var.fan_out
  fan_out_raw_message_delivery = var.fan_out_raw_message_delivery
  stripe_event_bus_name        = var.stripe_event_bus_name

  # CI passes an unset GitHub variable as "".
  notifier_enabled    = var.notifier_enabled
  notifier_zip_path   = var.notifier_zip_path
  notification_sender = var.notification_sender == "" ? null : var.notification_sender
}
