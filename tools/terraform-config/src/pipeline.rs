//! The pipeline's names and settings as Terraform would create them, read from
//! `terraform/modules/pipeline` (variable defaults and naming locals), `modules/queue` (the DLQ's
//! name) and `modules/table` (key schema and TTL attribute).

use std::collections::BTreeMap;
use std::path::Path;

use hcl::eval::{Context, Evaluate};
use hcl::{Map, Value};

use crate::{Module, TerraformError, attribute, nested_blocks, string_attribute};

/// Resource names of one environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineNames {
    /// The API function's name.
    pub api_function: String,
    /// The worker function's name.
    pub worker_function: String,
    /// The event queue's name.
    pub queue: String,
    /// The dead-letter queue's name.
    pub dlq: String,
    /// The DynamoDB table's name.
    pub table: String,
    /// The signing secret's name.
    pub secret: String,
    /// The SNS topic webhook-api publishes to when the pipeline fans out.
    pub topic: String,
    /// Where SNS and EventBridge put what they could not deliver to the queue.
    pub undeliverable_queue: String,
    /// The REST API (X-Ray names its stage's segments `<rest_api>/<stage>`).
    pub rest_api: String,
}

/// How events reach the queue from webhook-api (Terraform's `fan_out`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FanOut {
    /// Sent to the queue.
    None,
    /// Published to the topic the queue subscribes to, with or without raw message delivery.
    Sns {
        /// Whether the subscription delivers the event itself, not SNS's envelope.
        raw_message_delivery: bool,
    },
}

impl FanOut {
    /// `fan_out` and `fan_out_raw_message_delivery` as Terraform spells them.
    pub fn parse(fan_out: &str, raw_message_delivery: bool) -> Option<Self> {
        match fan_out {
            "none" => Some(Self::None),
            "sns" => Some(Self::Sns { raw_message_delivery }),
            _ => None,
        }
    }
}

/// The table's key schema: the worker's contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSchema {
    /// The partition key attribute.
    pub partition_key: String,
    /// The sort key attribute.
    pub sort_key: String,
    /// The TTL attribute.
    pub ttl_attribute: String,
}

/// The notifier hop (`notifier.tf`), when `notifier_enabled`.
#[derive(Debug, Clone, PartialEq)]
pub struct NotifierSettings {
    /// The notifier function's name.
    pub function: String,
    /// The on-failure destination's queue name.
    pub failures_queue: String,
    /// Stream records per invocation.
    pub batch_size: u32,
    /// Retries of a failing batch before it goes to the on-failure destination.
    pub maximum_retry_attempts: u32,
    /// Records older than this go to the on-failure destination (-1: no limit).
    pub maximum_record_age_seconds: i64,
    /// Its memory, in MB.
    pub memory_size: u32,
    /// Its timeout.
    pub timeout_seconds: u32,
    /// The SES sender (`notification_sender`), when set.
    pub sender: Option<String>,
    /// Where every email goes instead of the customer, when set.
    pub recipient_override: Option<String>,
    /// The mapping's filter pattern (Lambda's filter criteria, as JSON).
    pub filter_pattern: serde_json::Value,
}

/// Everything the local pipeline provisions and emulates, as Terraform configures it.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineSettings {
    /// The environment the settings are for.
    pub environment: String,
    /// Every resource name.
    pub names: PipelineNames,
    /// Whether the queue is FIFO.
    pub fifo: bool,
    /// What stands in front of the queue.
    pub fan_out: FanOut,
    /// The event source mapping's batch size.
    pub batch_size: u32,
    /// Messages of one standard batch the worker processes at once (WEBHOOK_MAX_CONCURRENCY).
    pub worker_max_concurrency: u32,
    /// The mapping's batching window.
    pub batching_window_seconds: u32,
    /// Receives before a message is dead-lettered.
    pub max_receive_count: u32,
    /// The queue's visibility timeout.
    pub queue_visibility_timeout_seconds: u32,
    /// How long the queue keeps a message.
    pub message_retention_seconds: u32,
    /// The worker's timeout.
    pub worker_timeout_seconds: u32,
    /// The API's timeout.
    pub api_timeout_seconds: u32,
    /// The API's memory, in MB.
    pub api_memory_size: u32,
    /// The worker's memory, in MB.
    pub worker_memory_size: u32,
    /// `parent` or `link` (`WEBHOOK_TRACE_MODE`).
    pub trace_mode: String,
    /// How long event records are kept.
    pub record_ttl_days: u32,
    /// `adot-collector` or `xray-udp`: how spans leave the functions.
    pub telemetry_transport: String,
    /// The table's key schema and TTL attribute.
    pub table: TableSchema,
    /// The REST API's stage: the first segment of the webhook URL's path.
    pub stage_name: String,
    /// The route's X-Ray sampling rule: requests traced each second, then the share of the rest.
    pub trace_sampling_reservoir: u32,
    /// The share of the route's requests traced past the reservoir.
    pub trace_sampling_rate: f64,
    /// The notifier hop; `None` with `notifier_enabled = false`.
    pub notifier: Option<NotifierSettings>,
}

impl PipelineSettings {
    /// Reads the settings of `environment` from the Terraform tree at `terraform_dir`, using the
    /// pipeline module's defaults (what a root that only sets `environment` gets).
    pub fn load(terraform_dir: &Path, environment: &str) -> Result<Self, TerraformError> {
        Self::load_with(terraform_dir, environment, serde_json::Map::new())
    }

    /// As [`load`](Self::load), with some of the pipeline module's variables set as a root
    /// would set them (`fifo = true`, `batching_window_seconds = 0`): names and settings are
    /// evaluated from the module with those values.
    pub fn load_with(
        terraform_dir: &Path,
        environment: &str,
        variables_set: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Self, TerraformError> {
        let modules = terraform_dir.join("modules");
        let pipeline = Module::load(modules.join("pipeline"))?;
        let queue = Module::load(modules.join("queue"))?;
        let table = Module::load(modules.join("table"))?;
        let rest_api = Module::load(modules.join("rest-api"))?;
        let stage_name = rest_api
            .variable_defaults()?
            .get("stage_name")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| rest_api.missing("default for variable \"stage_name\""))?;

        let mut variables = pipeline.variable_defaults()?;
        variables.insert("environment".to_owned(), Value::from(environment));
        for (name, value) in variables_set {
            let value = hcl::to_value(&value)
                .map_err(|error| pipeline.unexpected(format!("variable {name:?}"), error))?;
            variables.insert(name, value);
        }
        let locals = pipeline.locals(&variables);
        let names = locals
            .get("names")
            .and_then(Value::as_object)
            .ok_or_else(|| pipeline.missing("evaluable local `names`"))?;
        // A string in one of the naming locals (`names`, `hop_names`).
        let local_string =
            |local: &str, map: &Map<String, Value>, key: &str| -> Result<String, TerraformError> {
                map.get(key)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| pipeline.missing(format!("local.{local}.{key}")))
            };
        let name = |key: &str| local_string("names", names, key);
        let number = |key: &str| -> Result<u32, TerraformError> {
            variables
                .get(key)
                .and_then(Value::as_u64)
                .and_then(|value| u32::try_from(value).ok())
                .ok_or_else(|| pipeline.missing(format!("numeric default for variable \"{key}\"")))
        };
        let fifo = variables.get("fifo").and_then(Value::as_bool).unwrap_or(false);
        let queue_name = name("queue")?;
        let hop_names = locals
            .get("hop_names")
            .and_then(Value::as_object)
            .ok_or_else(|| pipeline.missing("evaluable local `hop_names`"))?;
        let hop_name = |key: &str| local_string("hop_names", hop_names, key);
        let fan_out = variables
            .get("fan_out")
            .and_then(Value::as_str)
            .ok_or_else(|| pipeline.missing("default for variable \"fan_out\""))?;
        let raw_message_delivery = variables
            .get("fan_out_raw_message_delivery")
            .and_then(Value::as_bool)
            .ok_or_else(|| pipeline.missing("default for variable \"fan_out_raw_message_delivery\""))?;
        let fan_out = FanOut::parse(fan_out, raw_message_delivery)
            .ok_or_else(|| pipeline.unexpected("default for variable \"fan_out\"", fan_out))?;
        let optional_string = |key: &str| variables.get(key).and_then(Value::as_str).map(str::to_owned);
        let notifier = match variables.get("notifier_enabled").and_then(Value::as_bool) {
            Some(true) => Some(NotifierSettings {
                function: name("notifier")?,
                failures_queue: name("notifier_failures")?,
                batch_size: number("notifier_batch_size")?,
                maximum_retry_attempts: number("notifier_maximum_retry_attempts")?,
                maximum_record_age_seconds: variables
                    .get("notifier_maximum_record_age_seconds")
                    .and_then(Value::as_i64)
                    .ok_or_else(|| pipeline.missing("default for \"notifier_maximum_record_age_seconds\""))?,
                memory_size: number("notifier_memory_size")?,
                timeout_seconds: number("notifier_timeout_seconds")?,
                sender: optional_string("notification_sender"),
                recipient_override: optional_string("notification_recipient_override"),
                filter_pattern: notifier_filter(&pipeline, &locals)?,
            }),
            _ => None,
        };

        Ok(PipelineSettings {
            environment: environment.to_owned(),
            names: PipelineNames {
                api_function: name("api")?,
                worker_function: name("worker")?,
                dlq: queue_resource_name(&queue, "dlq", &queue_name, fifo)?,
                queue: queue_resource_name(&queue, "this", &queue_name, fifo)?,
                table: name("table")?,
                secret: name("secret")?,
                topic: hop_name("topic")?,
                undeliverable_queue: hop_name("undeliverable")?,
                rest_api: locals
                    .get("name_prefix")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| pipeline.missing("evaluable local `name_prefix`"))?,
            },
            fifo,
            fan_out,
            batch_size: number("batch_size")?,
            worker_max_concurrency: number("worker_max_concurrency")?,
            batching_window_seconds: number("batching_window_seconds")?,
            max_receive_count: number("max_receive_count")?,
            queue_visibility_timeout_seconds: number("queue_visibility_timeout_seconds")?,
            message_retention_seconds: number("message_retention_seconds")?,
            worker_timeout_seconds: number("worker_timeout_seconds")?,
            api_timeout_seconds: number("api_timeout_seconds")?,
            api_memory_size: number("api_memory_size")?,
            worker_memory_size: number("worker_memory_size")?,
            trace_mode: variables
                .get("trace_mode")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| pipeline.missing("default for variable \"trace_mode\""))?,
            record_ttl_days: number("record_ttl_days")?,
            telemetry_transport: variables
                .get("telemetry_transport")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| pipeline.missing("default for variable \"telemetry_transport\""))?,
            table: table_schema(&table)?,
            stage_name,
            trace_sampling_reservoir: number("trace_sampling_reservoir")?,
            trace_sampling_rate: variables
                .get("trace_sampling_rate")
                .and_then(Value::as_f64)
                .filter(|rate| (0.0..=1.0).contains(rate))
                .ok_or_else(|| {
                    pipeline.missing("default from 0 to 1 for variable \"trace_sampling_rate\"")
                })?,
            notifier,
        })
    }
}

/// The telemetry environment variables `modules/function` gives a function for `transport`
/// (`adot-collector` or `xray-udp`), evaluated from its `telemetry_environment` local.
pub fn telemetry_environment(
    terraform_dir: &Path,
    transport: &str,
    service_name: &str,
) -> Result<BTreeMap<String, String>, TerraformError> {
    let function = Module::load(terraform_dir.join("modules").join("function"))?;
    let mut variables = function.variable_defaults()?;
    variables.insert("telemetry_transport".to_owned(), Value::from(transport));
    variables.insert("service_name".to_owned(), Value::from(service_name));
    let locals = function.locals(&variables);
    let environment = locals
        .get("telemetry_environment")
        .and_then(Value::as_object)
        .ok_or_else(|| function.missing("evaluable local `telemetry_environment`"))?;
    environment
        .iter()
        .map(|(name, value)| match value.as_str() {
            Some(text) => Ok((name.clone(), text.to_owned())),
            None => Err(function.unexpected(format!("telemetry_environment.{name}"), "is not a string")),
        })
        .collect()
}

/// A queue's name (`this` or `dlq`), evaluated from the queue module's own `aws_sqs_queue` name
/// expression (FIFO queues get their suffix there).
fn queue_resource_name(
    queue: &Module,
    resource: &str,
    queue_name: &str,
    fifo: bool,
) -> Result<String, TerraformError> {
    let mut variables = Map::new();
    variables.insert("name".to_owned(), Value::from(queue_name));
    variables.insert("fifo".to_owned(), Value::from(fifo));
    let locals = queue.locals(&variables);
    let resources = queue.resources("aws_sqs_queue");
    let what = format!("aws_sqs_queue.{resource}");
    let found = resources.get(resource).ok_or_else(|| queue.missing(&what))?;
    let name_of = format!("name of {what}");
    let expression = attribute(found.body(), "name").ok_or_else(|| queue.missing(&name_of))?;
    let mut context = Context::new();
    context.declare_var("var", Value::Object(variables));
    context.declare_var("local", Value::Object(locals));
    match expression.evaluate(&context) {
        Ok(Value::String(name)) => Ok(name),
        Ok(other) => Err(queue.unexpected(&name_of, other)),
        Err(error) => Err(queue.unexpected(&name_of, error)),
    }
}

/// The notifier mapping's filter pattern, evaluated from its `filter_criteria` with the module's
/// locals.
fn notifier_filter(
    pipeline: &Module,
    locals: &Map<String, Value>,
) -> Result<serde_json::Value, TerraformError> {
    let what = "filter_criteria.filter.pattern of aws_lambda_event_source_mapping.notifier";
    let mappings = pipeline.resources("aws_lambda_event_source_mapping");
    let pattern = mappings
        .get("notifier")
        .and_then(|mapping| nested_blocks(mapping.body(), "filter_criteria").next())
        .and_then(|criteria| nested_blocks(criteria.body(), "filter").next())
        .and_then(|filter| attribute(filter.body(), "pattern"))
        .ok_or_else(|| pipeline.missing(what))?;
    let mut context = crate::terraform_functions();
    context.declare_var("local", Value::Object(locals.clone()));
    match pattern.evaluate(&context) {
        Ok(Value::String(json)) => {
            serde_json::from_str(&json).map_err(|error| pipeline.unexpected(what, error))
        }
        Ok(other) => Err(pipeline.unexpected(what, other)),
        Err(error) => Err(pipeline.unexpected(what, error)),
    }
}

fn table_schema(table: &Module) -> Result<TableSchema, TerraformError> {
    let resource = table.resource("aws_dynamodb_table")?;
    let body = resource.body();
    let literal = |key: &str| {
        string_attribute(body, key)
            .map(str::to_owned)
            .ok_or_else(|| table.missing(format!("literal {key} on aws_dynamodb_table")))
    };
    let ttl_attribute = nested_blocks(body, "ttl")
        .find_map(|block| string_attribute(block.body(), "attribute_name"))
        .map(str::to_owned)
        .ok_or_else(|| table.missing("ttl { attribute_name } on aws_dynamodb_table"))?;
    Ok(TableSchema {
        partition_key: literal("hash_key")?,
        sort_key: literal("range_key")?,
        ttl_attribute,
    })
}
