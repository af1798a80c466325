//! Span attribute names used across the pipeline, in one place so producer, consumer and tests
//! agree. OpenTelemetry semantic conventions where one exists, `webhook.*` / `trace.*` otherwise.

pub const WEBHOOK_EVENT_ID: &str = "webhook.event_id";
pub const WEBHOOK_TYPE: &str = "webhook.type";
pub const WEBHOOK_DUPLICATE: &str = "webhook.duplicate";
pub const WEBHOOK_OUTCOME: &str = "webhook.outcome";
/// On the worker's invocation span: messages that failed, and those never started.
pub const WEBHOOK_FAILED_MESSAGE_COUNT: &str = "webhook.failed_message_count";
pub const WEBHOOK_NOT_STARTED_DEADLINE: &str = "webhook.not_started.deadline";
pub const WEBHOOK_NOT_STARTED_GROUP_BLOCKED: &str = "webhook.not_started.fifo_group_blocked";

pub const TRACE_HAS_UPSTREAM_CONTEXT: &str = "trace.has_upstream_context";
pub const TRACE_UPSTREAM_CARRIER: &str = "trace.upstream_carrier";
pub const TRACE_UPSTREAM_SAMPLED: &str = "trace.upstream_sampled";
pub const TRACE_MODE: &str = "trace.mode";

pub const MESSAGING_SYSTEM: &str = "messaging.system";
pub const MESSAGING_SYSTEM_SQS: &str = "aws_sqs";
pub const MESSAGING_OPERATION_NAME: &str = "messaging.operation.name";
pub const MESSAGING_OPERATION_TYPE: &str = "messaging.operation.type";
pub const MESSAGING_DESTINATION_NAME: &str = "messaging.destination.name";
pub const MESSAGING_MESSAGE_ID: &str = "messaging.message.id";
pub const MESSAGING_BATCH_MESSAGE_COUNT: &str = "messaging.batch.message_count";

pub const FAAS_TRIGGER: &str = "faas.trigger";
pub const FAAS_INVOCATION_ID: &str = "faas.invocation_id";
pub const FAAS_COLDSTART: &str = "faas.coldstart";
pub const CLOUD_RESOURCE_ID: &str = "cloud.resource_id";
pub const CLOUD_ACCOUNT_ID: &str = "cloud.account.id";

pub const HTTP_RESPONSE_STATUS_CODE: &str = "http.response.status_code";

pub const DB_SYSTEM_NAME: &str = "db.system.name";
pub const DB_SYSTEM_DYNAMODB: &str = "aws.dynamodb";
pub const DB_OPERATION_NAME: &str = "db.operation.name";
pub const AWS_DYNAMODB_TABLE_NAMES: &str = "aws.dynamodb.table_names";
pub const RPC_SYSTEM: &str = "rpc.system";
pub const RPC_SERVICE: &str = "rpc.service";
pub const RPC_METHOD: &str = "rpc.method";
pub const CLOUD_REGION: &str = "cloud.region";

pub const ERROR_TYPE: &str = "error.type";
pub const EXCEPTION_EVENT: &str = "exception";
pub const EXCEPTION_TYPE: &str = "exception.type";
pub const EXCEPTION_MESSAGE: &str = "exception.message";
