//! CLIENT spans for AWS SDK calls the functions make, named and attributed as the AWS SDK
//! instrumentations do (`<Service>.<Operation>`, `rpc.*`, `cloud.region`), so X-Ray and
//! Application Signals see the dependency the same way from every function.

use opentelemetry::{Array, StringValue, Value};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::attributes as attr;

/// A CLIENT span for `service`'s `operation` (`"SES"`, `"SendEmail"`) in `region`. Instrument
/// the SDK call's future with it.
pub fn aws_client_span(
    service: &'static str,
    operation: &'static str,
    region: Option<String>,
) -> tracing::Span {
    tracing::info_span!(
        "aws",
        otel.name = format!("{service}.{operation}"),
        otel.kind = "client",
        { attr::RPC_SYSTEM } = attr::RPC_SYSTEM_AWS_API,
        { attr::RPC_SERVICE } = service,
        { attr::RPC_METHOD } = operation,
        { attr::CLOUD_REGION } = region.unwrap_or_default(),
    )
}

/// A CLIENT span for a DynamoDB `operation` on `table`, with the database conventions too
/// (`db.system.name`, `db.operation.name`, `aws.dynamodb.table_names`).
pub fn dynamodb_client_span(operation: &'static str, table: &str, region: Option<String>) -> tracing::Span {
    let span = aws_client_span("DynamoDB", operation, region);
    span.set_attribute(attr::DB_SYSTEM_NAME, attr::DB_SYSTEM_DYNAMODB);
    span.set_attribute(attr::DB_OPERATION_NAME, operation);
    span.set_attribute(
        attr::AWS_DYNAMODB_TABLE_NAMES,
        Value::Array(Array::String(vec![StringValue::from(table.to_owned())])),
    );
    span
}
