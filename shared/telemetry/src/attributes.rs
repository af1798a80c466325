//! Span attribute names used across the pipeline, in one place so producer, consumer and tests
//! agree: OpenTelemetry's semantic conventions where one exists (re-exported from
//! `opentelemetry-semantic-conventions`), the project's own `webhook.*` and `trace.*` otherwise.

pub use opentelemetry_semantic_conventions::attribute::{
    AWS_DYNAMODB_TABLE_NAMES, AWS_SNS_TOPIC_ARN, AWS_SQS_QUEUE_URL, CLOUD_REGION, CLOUD_RESOURCE_ID,
    DB_OPERATION_NAME, DB_SYSTEM_NAME, ERROR_TYPE, EXCEPTION_MESSAGE, EXCEPTION_TYPE, FAAS_COLDSTART,
    FAAS_INVOCATION_ID, FAAS_TRIGGER, HTTP_REQUEST_METHOD, HTTP_RESPONSE_STATUS_CODE, HTTP_ROUTE,
    MESSAGING_BATCH_MESSAGE_COUNT, MESSAGING_DESTINATION_NAME, MESSAGING_MESSAGE_CONVERSATION_ID,
    MESSAGING_MESSAGE_ID, MESSAGING_OPERATION_NAME, MESSAGING_OPERATION_TYPE, MESSAGING_SYSTEM, RPC_METHOD,
    URL_PATH,
};

/// The Stripe event id (`evt_...`), on every span that handles one event.
pub const WEBHOOK_EVENT_ID: &str = "webhook.event_id";
/// The Stripe event type, e.g. `invoice.payment_failed`.
pub const WEBHOOK_TYPE: &str = "webhook.type";
/// `true` when the event had been recorded before: a redelivery, no second effect.
pub const WEBHOOK_DUPLICATE: &str = "webhook.duplicate";
/// What the worker did with the event: `applied`, `ignored` or `duplicate`.
pub const WEBHOOK_OUTCOME: &str = "webhook.outcome";
/// What the message body was: `none` (the event itself), `sns` (a notification envelope) or
/// `eventbridge` (an EventBridge event); see `webhook_event::Envelope`.
pub const WEBHOOK_ENVELOPE: &str = "webhook.envelope";
/// On the worker's invocation span: messages that failed, and those never started.
pub const WEBHOOK_FAILED_MESSAGE_COUNT: &str = "webhook.failed_message_count";
/// Messages left unstarted because the invocation's deadline was near.
pub const WEBHOOK_NOT_STARTED_DEADLINE: &str = "webhook.not_started.deadline";
/// Messages left unstarted because an earlier message of their FIFO group failed.
pub const WEBHOOK_NOT_STARTED_GROUP_BLOCKED: &str = "webhook.not_started.fifo_group_blocked";

// X-Ray and Application Signals read an AWS SDK call's service from `rpc.system` and
// `rpc.service`; their home is the exporter that derives Application Signals' dependencies.
pub use xray_udp_exporter::{
    DB_SYSTEM_DYNAMODB, MESSAGING_SYSTEM_SQS, RPC_SERVICE, RPC_SYSTEM, RPC_SYSTEM_AWS_API,
};

/// The attributes X-Ray indexes as annotations, so filter expressions can find them (both
/// transports: the collector's `awsxray` exporter and X-Ray's OTLP ingestion read it). Attribute
/// names become annotation keys with `.` as `_`: `webhook.event_id` is `webhook_event_id`.
pub const AWS_XRAY_ANNOTATIONS: &str = "aws.xray.annotations";

/// Why a DynamoDB transaction was cancelled, one reason per item (no convention exists yet).
pub const AWS_DYNAMODB_CANCELLATION_REASONS: &str = "aws.dynamodb.cancellation_reasons";

/// Whether the message carried a producer's trace context.
pub const TRACE_HAS_UPSTREAM_CONTEXT: &str = "trace.has_upstream_context";
/// Where that context was found (see [`crate::UpstreamCarrier`]).
pub const TRACE_UPSTREAM_CARRIER: &str = "trace.upstream_carrier";
/// The producer's sampling decision.
pub const TRACE_UPSTREAM_SAMPLED: &str = "trace.upstream_sampled";
/// `parent` or `link`: how the message span relates to the producer (see [`crate::TraceMode`]).
pub const TRACE_MODE: &str = "trace.mode";

// Well-known values of the attributes above.

/// `messaging.system` for SNS.
pub const MESSAGING_SYSTEM_SNS: &str = "aws.sns";
/// `messaging.operation.type` (and name) of the producer's send.
pub const MESSAGING_OPERATION_SEND: &str = "send";
/// `messaging.operation.name` of an SNS publish (its type is `send`).
pub const MESSAGING_OPERATION_PUBLISH: &str = "publish";
/// `messaging.operation.type` (and name) of a message's processing.
pub const MESSAGING_OPERATION_PROCESS: &str = "process";

/// The span event OpenTelemetry records an error as.
pub const EXCEPTION_EVENT: &str = "exception";
