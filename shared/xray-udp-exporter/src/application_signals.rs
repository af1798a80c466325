//! The span attributes CloudWatch Application Signals reads, as the ADOT SDKs add them in Lambda
//! (see this crate's README for the sources), and the sampler that keeps unsampled spans
//! recorded so Application Signals still counts every request.
//!
//! In Lambda the ADOT SDKs emit no Application Signals metrics themselves: the service computes
//! them from these span attributes. Every span of a function shares one local operation,
//! `<function name>/FunctionHandler`.

use opentelemetry::trace::{Link, SpanKind, TraceId};
use opentelemetry::{Array, Context, KeyValue, Value};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SamplingDecision, SamplingResult, ShouldSample, SpanData};

use crate::attributes as attr;

/// The service a span belongs to, as Application Signals names it (the `service.name`).
pub const AWS_LOCAL_SERVICE: &str = "aws.local.service";
/// The operation a span serves: `<function>/FunctionHandler` for a Lambda function.
pub const AWS_LOCAL_OPERATION: &str = "aws.local.operation";
/// The service a CLIENT, PRODUCER or message CONSUMER span calls, e.g. `AWS::SQS`.
pub const AWS_REMOTE_SERVICE: &str = "aws.remote.service";
/// The remote call, e.g. `SendMessage` or `TransactWriteItems`.
pub const AWS_REMOTE_OPERATION: &str = "aws.remote.operation";
/// The remote resource's CloudFormation type, e.g. `AWS::SQS::Queue`.
pub const AWS_REMOTE_RESOURCE_TYPE: &str = "aws.remote.resource.type";
/// The remote resource's name, e.g. the queue or table name.
pub const AWS_REMOTE_RESOURCE_IDENTIFIER: &str = "aws.remote.resource.identifier";
/// The remote resource's CloudFormation primary identifier (a queue's URL).
pub const AWS_CLOUDFORMATION_PRIMARY_IDENTIFIER: &str = "aws.remote.resource.cfn.primary.identifier";
/// `LOCAL_ROOT` on a service's entry span, else the span's kind, as the ADOT SDKs set it.
pub const AWS_SPAN_KIND: &str = "aws.span.kind";

const LOCAL_ROOT: &str = "LOCAL_ROOT";
const UNKNOWN_SERVICE: &str = "UnknownService";
const UNKNOWN_REMOTE_SERVICE: &str = "UnknownRemoteService";
const UNKNOWN_REMOTE_OPERATION: &str = "UnknownRemoteOperation";

/// Adds the Application Signals attributes to finished spans of one Lambda function.
#[derive(Debug, Clone)]
pub struct ApplicationSignals {
    local_service: String,
    local_operation: String,
}

/// What a span stands for in Application Signals.
#[derive(Debug, PartialEq, Eq)]
enum Role {
    /// A request the function serves: the invocation.
    Service,
    /// A call to something else: SQS, DynamoDB, or the queue a message came from.
    Dependency,
    /// Work inside the function: no metrics.
    Internal,
}

impl ApplicationSignals {
    /// For the function `function_name` (`AWS_LAMBDA_FUNCTION_NAME`). The service is the
    /// resource's `service.name`, set when the exporter receives the resource.
    pub fn new(function_name: &str) -> Self {
        Self {
            local_service: UNKNOWN_SERVICE.to_owned(),
            local_operation: format!("{function_name}/FunctionHandler"),
        }
    }

    /// Takes the service name from the exporter's resource (`service.name`).
    pub fn set_resource(&mut self, resource: &Resource) {
        let service = resource
            .get(&opentelemetry::Key::from_static_str("service.name"))
            .map(|name| name.as_str().into_owned())
            .filter(|name| !name.starts_with("unknown_service"));
        self.local_service = service.unwrap_or_else(|| UNKNOWN_SERVICE.to_owned());
    }

    /// Adds the Application Signals attributes to each span of an export batch.
    pub fn annotate(&self, spans: &mut [SpanData]) {
        for span in spans {
            self.annotate_span(span);
        }
    }

    fn annotate_span(&self, span: &mut SpanData) {
        let kind = span.span_kind.clone();
        let local_root =
            span.parent_span_id == opentelemetry::trace::SpanId::INVALID || span.parent_span_is_remote;
        let added = match role(span, local_root) {
            Role::Internal => return,
            Role::Service => vec![KeyValue::new(
                AWS_SPAN_KIND,
                if local_root { LOCAL_ROOT } else { "SERVER" },
            )],
            Role::Dependency => dependency_attributes(span, &kind),
        };
        span.attributes
            .push(KeyValue::new(AWS_LOCAL_SERVICE, self.local_service.clone()));
        span.attributes
            .push(KeyValue::new(AWS_LOCAL_OPERATION, self.local_operation.clone()));
        span.attributes.extend(added);
    }
}

/// The ADOT rules, with one deliberate difference: a message's `process` span is always a
/// dependency (the queue), even when its parent is the remote producer. ADOT would make it a
/// second local root and count each message as another call of the function.
fn role(span: &SpanData, local_root: bool) -> Role {
    let processes_message = span.span_kind == SpanKind::Consumer
        && string_attribute(span, attr::MESSAGING_OPERATION_TYPE).as_deref() == Some("process");
    match span.span_kind {
        SpanKind::Client | SpanKind::Producer => Role::Dependency,
        SpanKind::Consumer if processes_message => Role::Dependency,
        SpanKind::Server => Role::Service,
        _ if local_root => Role::Service,
        _ => Role::Internal,
    }
}

fn dependency_attributes(span: &SpanData, kind: &SpanKind) -> Vec<KeyValue> {
    let rpc_service = string_attribute(span, attr::RPC_SERVICE)
        .filter(|_| string_attribute(span, attr::RPC_SYSTEM).as_deref() == Some(attr::RPC_SYSTEM_AWS_API));
    let messaging_system = string_attribute(span, attr::MESSAGING_SYSTEM);
    let db_system = string_attribute(span, attr::DB_SYSTEM_NAME);
    let remote_service = match (rpc_service, messaging_system.as_deref(), db_system.as_deref()) {
        (Some(service), _, _) => format!("AWS::{service}"),
        (None, Some(attr::MESSAGING_SYSTEM_SQS), _) => "AWS::SQS".to_owned(),
        (None, _, Some(attr::DB_SYSTEM_DYNAMODB)) => "AWS::DynamoDB".to_owned(),
        (None, Some(system), _) => system.to_owned(),
        (None, None, Some(system)) => system.to_owned(),
        (None, None, None) => UNKNOWN_REMOTE_SERVICE.to_owned(),
    };
    let remote_operation = string_attribute(span, attr::RPC_METHOD)
        .or_else(|| string_attribute(span, attr::MESSAGING_OPERATION_NAME))
        .or_else(|| string_attribute(span, attr::DB_OPERATION_NAME))
        .unwrap_or_else(|| UNKNOWN_REMOTE_OPERATION.to_owned());

    let mut attributes = vec![
        KeyValue::new(AWS_SPAN_KIND, span_kind_name(kind)),
        KeyValue::new(AWS_REMOTE_OPERATION, remote_operation),
    ];
    let resource = match remote_service.as_str() {
        "AWS::SQS" => sqs_queue(span),
        "AWS::SNS" => sns_topic(span),
        "AWS::DynamoDB" => dynamodb_table(span),
        _ => None,
    };
    if let Some(resource) = resource {
        attributes.push(KeyValue::new(AWS_REMOTE_RESOURCE_TYPE, resource.kind));
        attributes.push(KeyValue::new(
            AWS_REMOTE_RESOURCE_IDENTIFIER,
            escape_delimiters(&resource.identifier),
        ));
        attributes.push(KeyValue::new(
            AWS_CLOUDFORMATION_PRIMARY_IDENTIFIER,
            escape_delimiters(&resource.primary_identifier),
        ));
    }
    attributes.push(KeyValue::new(AWS_REMOTE_SERVICE, remote_service));
    attributes
}

struct RemoteResource {
    kind: &'static str,
    identifier: String,
    /// The resource's CloudFormation primary identifier: the queue URL, the table name.
    primary_identifier: String,
}

fn sqs_queue(span: &SpanData) -> Option<RemoteResource> {
    if let Some(url) = string_attribute(span, attr::AWS_SQS_QUEUE_URL) {
        let name = url
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        return (!name.is_empty()).then_some(RemoteResource {
            kind: "AWS::SQS::Queue",
            identifier: name,
            primary_identifier: url,
        });
    }
    string_attribute(span, attr::MESSAGING_DESTINATION_NAME).map(|name| RemoteResource {
        kind: "AWS::SQS::Queue",
        identifier: name.clone(),
        primary_identifier: name,
    })
}

/// The topic a publish goes to: its name, and its ARN (the topic's CloudFormation identifier).
fn sns_topic(span: &SpanData) -> Option<RemoteResource> {
    let arn = string_attribute(span, attr::AWS_SNS_TOPIC_ARN)?;
    let name = arn.rsplit(':').next().unwrap_or_default().to_owned();
    (!name.is_empty()).then_some(RemoteResource {
        kind: "AWS::SNS::Topic",
        identifier: name,
        primary_identifier: arn,
    })
}

fn dynamodb_table(span: &SpanData) -> Option<RemoteResource> {
    let value = span
        .attributes
        .iter()
        .find(|kv| kv.key.as_str() == attr::AWS_DYNAMODB_TABLE_NAMES)
        .map(|kv| &kv.value)?;
    // Only a single table identifies the resource, as in the ADOT SDKs.
    let table = match value {
        Value::Array(Array::String(names)) if names.len() == 1 => names[0].as_str().to_owned(),
        Value::String(name) => name.as_str().to_owned(),
        _ => return None,
    };
    Some(RemoteResource {
        kind: "AWS::DynamoDB::Table",
        identifier: table.clone(),
        primary_identifier: table,
    })
}

fn string_attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .and_then(|kv| match &kv.value {
            Value::String(value) => Some(value.as_str().to_owned()),
            _ => None,
        })
}

fn span_kind_name(kind: &SpanKind) -> &'static str {
    match kind {
        SpanKind::Client => "CLIENT",
        SpanKind::Server => "SERVER",
        SpanKind::Producer => "PRODUCER",
        SpanKind::Consumer => "CONSUMER",
        SpanKind::Internal => "INTERNAL",
    }
}

/// Application Signals joins identifiers with `|` and escapes with `^`.
fn escape_delimiters(value: &str) -> String {
    value.replace('^', "^^").replace('|', "^|")
}

/// Turns every "drop" of the wrapped sampler into "record only": unsampled spans are still
/// exported (as `T1U`), so Application Signals counts every request while X-Ray keeps only the
/// sampled traces. The ADOT SDKs' `AlwaysRecordSampler`.
#[derive(Debug, Clone)]
pub struct AlwaysRecordSampler(Sampler);

impl AlwaysRecordSampler {
    /// Wraps `inner`, whose sampling decisions X-Ray keeps.
    pub fn new(inner: Sampler) -> Self {
        Self(inner)
    }
}

impl ShouldSample for AlwaysRecordSampler {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        span_kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        let mut result = self
            .0
            .should_sample(parent_context, trace_id, name, span_kind, attributes, links);
        if result.decision == SamplingDecision::Drop {
            result.decision = SamplingDecision::RecordOnly;
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceState};
    use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};
    use std::borrow::Cow;
    use std::time::SystemTime;

    fn span(kind: SpanKind, parent: Option<bool>, attributes: Vec<KeyValue>) -> SpanData {
        SpanData {
            span_context: SpanContext::new(
                TraceId::from(1),
                SpanId::from(2),
                TraceFlags::SAMPLED,
                false,
                TraceState::default(),
            ),
            parent_span_id: if parent.is_some() {
                SpanId::from(3)
            } else {
                SpanId::INVALID
            },
            parent_span_is_remote: parent.unwrap_or(false),
            span_kind: kind,
            name: Cow::Borrowed("span"),
            start_time: SystemTime::UNIX_EPOCH,
            end_time: SystemTime::UNIX_EPOCH,
            attributes,
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: opentelemetry::trace::Status::Unset,
            instrumentation_scope: opentelemetry::InstrumentationScope::builder("test").build(),
        }
    }

    fn annotated(span: SpanData) -> Vec<(String, String)> {
        let mut signals = ApplicationSignals::new("webhooks-dev-webhook-worker");
        signals.set_resource(
            &Resource::builder_empty()
                .with_service_name("webhook-worker")
                .build(),
        );
        let mut spans = vec![span];
        signals.annotate(&mut spans);
        let mut added: Vec<(String, String)> = spans[0]
            .attributes
            .iter()
            .filter(|kv| kv.key.as_str().starts_with("aws.") && kv.key.as_str() != attr::AWS_SQS_QUEUE_URL)
            .filter(|kv| kv.key.as_str() != attr::AWS_DYNAMODB_TABLE_NAMES)
            .map(|kv| (kv.key.to_string(), kv.value.as_str().into_owned()))
            .collect();
        added.sort();
        added
    }

    fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut pairs: Vec<(String, String)> = expected
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        pairs.sort();
        pairs
    }

    #[test]
    fn the_invocation_is_the_services_local_root_operation() {
        for (kind, parent) in [(SpanKind::Server, Some(true)), (SpanKind::Consumer, None)] {
            assert_eq!(
                annotated(span(
                    kind,
                    parent,
                    vec![KeyValue::new(
                        opentelemetry_semantic_conventions::attribute::FAAS_TRIGGER,
                        "pubsub"
                    )]
                )),
                pairs(&[
                    (AWS_LOCAL_SERVICE, "webhook-worker"),
                    (AWS_LOCAL_OPERATION, "webhooks-dev-webhook-worker/FunctionHandler"),
                    (AWS_SPAN_KIND, "LOCAL_ROOT"),
                ])
            );
        }
    }

    #[test]
    fn sending_to_sqs_is_a_queue_dependency() {
        let send = span(
            SpanKind::Producer,
            Some(false),
            vec![
                KeyValue::new(attr::RPC_SYSTEM, "aws-api"),
                KeyValue::new(attr::RPC_SERVICE, "SQS"),
                KeyValue::new(attr::RPC_METHOD, "SendMessage"),
                KeyValue::new(
                    attr::AWS_SQS_QUEUE_URL,
                    "https://sqs.eu-west-1.amazonaws.com/123456789012/webhooks-dev-events",
                ),
            ],
        );
        assert_eq!(
            annotated(send),
            pairs(&[
                (AWS_LOCAL_SERVICE, "webhook-worker"),
                (AWS_LOCAL_OPERATION, "webhooks-dev-webhook-worker/FunctionHandler"),
                (AWS_REMOTE_SERVICE, "AWS::SQS"),
                (AWS_REMOTE_OPERATION, "SendMessage"),
                (AWS_REMOTE_RESOURCE_TYPE, "AWS::SQS::Queue"),
                (AWS_REMOTE_RESOURCE_IDENTIFIER, "webhooks-dev-events"),
                (
                    AWS_CLOUDFORMATION_PRIMARY_IDENTIFIER,
                    "https://sqs.eu-west-1.amazonaws.com/123456789012/webhooks-dev-events"
                ),
                (AWS_SPAN_KIND, "PRODUCER"),
            ])
        );
    }

    #[test]
    fn publishing_to_sns_is_a_topic_dependency() {
        let arn = "arn:aws:sns:eu-west-1:123456789012:webhooks-dev-events";
        let publish = span(
            SpanKind::Producer,
            Some(false),
            vec![
                KeyValue::new(attr::RPC_SYSTEM, "aws-api"),
                KeyValue::new(attr::RPC_SERVICE, "SNS"),
                KeyValue::new(attr::RPC_METHOD, "Publish"),
                KeyValue::new(attr::AWS_SNS_TOPIC_ARN, arn),
            ],
        );
        let added = annotated(publish);
        for expected in pairs(&[
            (AWS_REMOTE_SERVICE, "AWS::SNS"),
            (AWS_REMOTE_OPERATION, "Publish"),
            (AWS_REMOTE_RESOURCE_TYPE, "AWS::SNS::Topic"),
            (AWS_REMOTE_RESOURCE_IDENTIFIER, "webhooks-dev-events"),
            (AWS_CLOUDFORMATION_PRIMARY_IDENTIFIER, arn),
        ]) {
            assert!(added.contains(&expected), "{expected:?} in {added:?}");
        }
    }

    #[test]
    fn processing_a_message_is_a_queue_dependency_even_with_a_remote_parent() {
        let process = span(
            SpanKind::Consumer,
            Some(true),
            vec![
                KeyValue::new(attr::MESSAGING_SYSTEM, attr::MESSAGING_SYSTEM_SQS),
                KeyValue::new(attr::MESSAGING_OPERATION_NAME, "process"),
                KeyValue::new(attr::MESSAGING_OPERATION_TYPE, "process"),
                KeyValue::new(attr::MESSAGING_DESTINATION_NAME, "webhooks-dev-events"),
            ],
        );
        let added = annotated(process);
        assert!(
            added.contains(&(AWS_SPAN_KIND.into(), "CONSUMER".into())),
            "{added:?}"
        );
        assert!(
            added.contains(&(AWS_REMOTE_SERVICE.into(), "AWS::SQS".into())),
            "{added:?}"
        );
        assert!(
            added.contains(&(AWS_REMOTE_OPERATION.into(), "process".into())),
            "{added:?}"
        );
        assert!(
            added.contains(&(
                AWS_REMOTE_RESOURCE_IDENTIFIER.into(),
                "webhooks-dev-events".into()
            )),
            "{added:?}"
        );
    }

    #[test]
    fn a_dynamodb_call_names_its_table() {
        let call = span(
            SpanKind::Client,
            Some(false),
            vec![
                KeyValue::new(attr::DB_SYSTEM_NAME, attr::DB_SYSTEM_DYNAMODB),
                KeyValue::new(attr::RPC_SYSTEM, "aws-api"),
                KeyValue::new(attr::RPC_SERVICE, "DynamoDB"),
                KeyValue::new(attr::RPC_METHOD, "TransactWriteItems"),
                KeyValue::new(
                    attr::AWS_DYNAMODB_TABLE_NAMES,
                    Value::Array(Array::String(vec!["webhooks|dev^events".into()])),
                ),
            ],
        );
        let added = annotated(call);
        for expected in [
            (AWS_REMOTE_SERVICE, "AWS::DynamoDB"),
            (AWS_REMOTE_OPERATION, "TransactWriteItems"),
            (AWS_REMOTE_RESOURCE_TYPE, "AWS::DynamoDB::Table"),
            (AWS_REMOTE_RESOURCE_IDENTIFIER, "webhooks^|dev^^events"),
            (AWS_SPAN_KIND, "CLIENT"),
        ] {
            assert!(
                added.contains(&(expected.0.into(), expected.1.into())),
                "{expected:?} in {added:?}"
            );
        }
    }

    #[test]
    fn internal_spans_are_left_alone() {
        assert!(annotated(span(SpanKind::Internal, Some(false), Vec::new())).is_empty());
    }

    #[test]
    fn an_unknown_service_name_is_reported_as_unknown() {
        let mut signals = ApplicationSignals::new("fn");
        signals.set_resource(&Resource::builder_empty().build());
        let mut spans = vec![span(SpanKind::Server, None, Vec::new())];
        signals.annotate(&mut spans);
        assert!(
            spans[0]
                .attributes
                .contains(&KeyValue::new(AWS_LOCAL_SERVICE, UNKNOWN_SERVICE))
        );
    }

    #[test]
    fn dropped_spans_are_recorded_instead() {
        let sampler = AlwaysRecordSampler::new(Sampler::AlwaysOff);
        let result = sampler.should_sample(None, TraceId::from(1), "x", &SpanKind::Server, &[], &[]);
        assert_eq!(result.decision, SamplingDecision::RecordOnly);
        let sampler = AlwaysRecordSampler::new(Sampler::AlwaysOn);
        let result = sampler.should_sample(None, TraceId::from(1), "x", &SpanKind::Server, &[], &[]);
        assert_eq!(result.decision, SamplingDecision::RecordAndSample);
    }
}
