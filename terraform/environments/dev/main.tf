# The dev environment: the whole pipeline with dev's settings.

module "pipeline" {
  source = "../../modules/pipeline"

  environment         = "dev"
  api_zip_path        = var.api_zip_path
  worker_zip_path     = var.worker_zip_path
  architecture        = var.architecture
  telemetry_transport = var.telemetry_transport
  deletion_protection = false
  log_retention_days  = var.log_retention_days
  alarm_actions       = var.alarm_actions
  alarm_email         = var.alarm_email
  # Every dev request traced (prod keeps the module's default; the README has the costs).
  trace_sampling_rate = 1

  fan_out                      = var.fan_out
  fan_out_raw_message_delivery = var.fan_out_raw_message_delivery
  stripe_event_bus_name        = var.stripe_event_bus_name

  # CI passes an unset GitHub variable as "".
  notifier_enabled                = var.notifier_enabled
  notifier_zip_path               = var.notifier_zip_path
  notification_sender             = var.notification_sender == "" ? null : var.notification_sender
  notification_recipient_override = var.notification_recipient_override == "" ? null : var.notification_recipient_override
}
