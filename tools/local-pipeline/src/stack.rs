//! The whole pipeline on one machine: moto (SQS, SNS, DynamoDB, Secrets Manager, CloudWatch
//! Logs) provisioned with Terraform's names and settings, the trace sink, both function binaries
//! under the local Lambda service, API Gateway's front door before the API, the event source
//! mapping between the queue and the worker, and one AWS endpoint for the tools that answers as
//! AWS does (X-Ray and Logs Insights included). Everything listens on 127.0.0.1, and everything
//! started is stopped on drop.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use terraform_config::pipeline::{FanOut, PipelineSettings, telemetry_environment};

use crate::api_gateway::{ApiGateway, GatewayConfig, SamplingCounts, SamplingRule};
use crate::aws_endpoint::AwsEndpoint;
use crate::event_source::{EventSourceMapping, MappingConfig, MappingLog};
use crate::fault_proxy::FaultProxy;
use crate::lambda_service::{FunctionSpec, FunctionStats, LambdaError, LambdaService};
use crate::logs_insights::LogsInsights;
use crate::provision::{ProvisionError, Provisioned, provision};
use crate::stream_source::{FilterPattern, StreamEventSourceMapping, StreamMappingConfig, StreamMappingLog};
use crate::trace_sink::TraceSink;
use crate::xray_api::{TraceStorage, XrayApi};
use child_process::{ProcessError, free_port};
use moto_server::{MotoError, MotoServer, REGION};
use trace_reader::span::SpanRecord;

/// The environment name the local pipeline provisions (resources are called webhooks-local-...).
pub const LOCAL_ENVIRONMENT: &str = "local";
/// The notifier's sender locally: a verified identity in moto's SES.
pub const LOCAL_NOTIFICATION_SENDER: &str = "billing@example.com";

/// Why the stack could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// Terraform's settings could not be read.
    #[error("cannot read the Terraform settings: {0}")]
    Settings(#[from] terraform_config::TerraformError),
    /// moto did not start.
    #[error(transparent)]
    Moto(#[from] MotoError),
    /// A function could not run.
    #[error(transparent)]
    Lambda(#[from] LambdaError),
    /// A process did not start.
    #[error(transparent)]
    Process(#[from] ProcessError),
    /// A resource could not be created.
    #[error(transparent)]
    Provision(#[from] ProvisionError),
    /// The trace sink could not listen.
    #[error("cannot start the trace sink: {0}")]
    TraceSink(std::io::Error),
    /// An endpoint could not listen.
    #[error("cannot start {what}: {source}")]
    Endpoint {
        /// Which endpoint.
        what: &'static str,
        /// Why it could not listen.
        source: std::io::Error,
    },
    /// The scenario could not run.
    #[error("{0}")]
    Scenario(String),
}

/// How the functions send spans (Terraform's `telemetry_transport`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TelemetryTransport {
    /// OTLP/HTTP to the ADOT collector extension; locally the sink stands in for it.
    AdotCollector,
    /// OTLP over UDP to the Lambda X-Ray daemon; locally the sink listens in its place.
    XrayUdp,
}

impl TelemetryTransport {
    /// The variable `make demo` reads the choice from.
    pub const VARIABLE: &'static str = "TELEMETRY_TRANSPORT";

    /// The transport Terraform names (`adot-collector` or `xray-udp`).
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "adot-collector" => Some(Self::AdotCollector),
            "xray-udp" => Some(Self::XrayUdp),
            _ => None,
        }
    }

    /// The value as Terraform spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AdotCollector => "adot-collector",
            Self::XrayUdp => "xray-udp",
        }
    }
}

/// Where things are and which ports to use.
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// The repository, for Terraform's settings and the Python tools.
    pub workspace_root: PathBuf,
    /// Where the `webhook-api` and `webhook-worker` binaries are.
    pub bin_dir: PathBuf,
    /// Logs of every process go here.
    pub log_dir: PathBuf,
    /// `None`: a free port.
    pub moto_port: Option<u16>,
    /// API Gateway's front door (the webhook URL); 0: a free port.
    pub gateway_port: u16,
    /// The tools' AWS endpoint; 0: a free port.
    pub aws_port: u16,
    /// 0: a free port.
    pub otlp_port: u16,
    /// The X-Ray daemon's UDP port on the trace sink; 0: a free port.
    pub xray_port: u16,
    /// The one setting scaled down from Terraform's, so failed messages reappear in seconds;
    /// `None`: the batching window plus 3 s. It must outlast the batching window, or a message
    /// received early in a window reappears before its batch is delivered and runs twice.
    pub visibility_timeout_seconds: Option<u32>,
    /// `None`: Terraform's default.
    pub transport: Option<TelemetryTransport>,
    /// How webhook-api reaches the queue; `None`: Terraform's default `fan_out`.
    pub fan_out: Option<FanOut>,
    /// Variables set on the pipeline module as a root would set them (`fifo`,
    /// `worker_max_concurrency`): the settings are evaluated from the module with them.
    pub pipeline_variables: serde_json::Map<String, serde_json::Value>,
    /// Route the functions' AWS calls through a [`FaultProxy`] (see [`LocalStack::faults`]).
    pub fault_proxy: bool,
    /// Point the functions' span export at a port nothing listens on: the collector is down.
    pub collector_unreachable: bool,
    /// The worker's timeout; `None`: Terraform's.
    pub invocation_timeout: Option<Duration>,
    /// The worker exports no spans (`OTEL_TRACES_EXPORTER=none`): a trace that cannot connect.
    pub withhold_worker_spans: bool,
    /// The X-Ray sampling rule API Gateway applies; `None`: Terraform's.
    pub sampling: Option<SamplingRule>,
    /// Where X-Ray keeps segments: Transaction Search on (as `terraform/bootstrap` sets it up)
    /// or off.
    pub trace_storage: TraceStorage,
}

impl StackOptions {
    /// Defaults for this repository: debug binaries, free ports, logs under target/local-pipeline.
    pub fn for_workspace(workspace_root: &Path) -> Self {
        // Several stacks may start in one test process within the same millisecond.
        static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let run = format!(
            "{}-{}-{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis(),
            std::process::id(),
            RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root.join("target"));
        Self {
            workspace_root: workspace_root.to_path_buf(),
            bin_dir: target.join("debug"),
            log_dir: target.join("local-pipeline").join(run),
            moto_port: None,
            gateway_port: 0,
            aws_port: 0,
            otlp_port: 0,
            xray_port: 0,
            visibility_timeout_seconds: None,
            transport: None,
            fan_out: None,
            pipeline_variables: serde_json::Map::new(),
            fault_proxy: false,
            collector_unreachable: false,
            invocation_timeout: None,
            withhold_worker_spans: false,
            sampling: None,
            trace_storage: TraceStorage::default(),
        }
    }
}

/// The running stack.
#[derive(Debug)]
pub struct LocalStack {
    /// The pipeline's settings, from Terraform.
    pub settings: PipelineSettings,
    /// The resources moto holds.
    pub provisioned: Provisioned,
    /// moto itself, for the stack's own probes.
    pub sdk: SdkConfig,
    /// What the stack was started with.
    pub options: StackOptions,
    /// How the functions send their spans.
    pub transport: TelemetryTransport,
    // Field order is drop order: nothing is invoked once the functions are gone.
    mapping: Option<EventSourceMapping>,
    stream_mapping: Option<StreamEventSourceMapping>,
    gateway: ApiGateway,
    aws: AwsEndpoint,
    lambda: Arc<LambdaService>,
    specs: FunctionSpecs,
    sink: TraceSink,
    faults: Option<FaultProxy>,
    moto: MotoServer,
}

impl LocalStack {
    /// Starts moto, provisions Terraform's resources, then the trace sink, the tools' AWS
    /// endpoint, both functions, the front door and the event source mapping, in that order.
    pub async fn start(options: StackOptions) -> Result<Self, StackError> {
        let terraform_dir = options.workspace_root.join("terraform");
        let mut variables = options.pipeline_variables.clone();
        // The environment's own setting in AWS; here the identity provisioned in moto's SES.
        variables
            .entry("notification_sender")
            .or_insert_with(|| LOCAL_NOTIFICATION_SENDER.into());
        let mut settings = PipelineSettings::load_with(&terraform_dir, LOCAL_ENVIRONMENT, variables)?;
        if let Some(fan_out) = options.fan_out {
            settings.fan_out = fan_out;
        }
        let transport = transport(&options, &settings)?;

        let root = options.workspace_root.clone();
        let (moto_port, moto_log) = (options.moto_port, options.log_dir.join("moto.log"));
        let moto = blocking(move || MotoServer::start_with(&root, moto_port, &moto_log)).await??;
        let sdk = moto.sdk_config().await;
        let visibility_timeout = options
            .visibility_timeout_seconds
            .unwrap_or(settings.batching_window_seconds + 3);
        let provisioned = provision(&sdk, &settings, visibility_timeout).await?;

        let sink = TraceSink::start(options.otlp_port, options.xray_port)
            .await
            .map_err(StackError::TraceSink)?;
        let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
        let aws = AwsEndpoint::start(
            options.aws_port,
            moto.endpoint(),
            XrayApi::new(sink.store(), options.trace_storage),
            LogsInsights::new(logs.clone()),
        )
        .await
        .map_err(|source| StackError::Endpoint {
            what: "the AWS endpoint",
            source,
        })?;
        let faults =
            match options.fault_proxy {
                true => Some(FaultProxy::start(moto.endpoint()).await.map_err(|error| {
                    StackError::Scenario(format!("cannot start the fault proxy: {error}"))
                })?),
                false => None,
            };

        let specs = function_specs(
            &options,
            &FunctionEnvironment {
                terraform_dir: &terraform_dir,
                settings: &settings,
                provisioned: &provisioned,
                transport,
                sink: &sink,
                moto: &moto,
                bin_dir: &options.bin_dir,
                aws_endpoint: faults.as_ref().map(FaultProxy::endpoint),
                collector_endpoint: unreachable_collector(&options)?,
            },
        )?;
        let functions = [
            Some(specs.api.clone()),
            Some(specs.worker.clone()),
            specs.notifier.clone(),
        ];
        let lambda = Arc::new(
            LambdaService::start(functions.into_iter().flatten().collect(), &options.log_dir, logs).await?,
        );
        let gateway = ApiGateway::start(
            options.gateway_port,
            GatewayConfig {
                api_name: settings.names.rest_api.clone(),
                stage: settings.stage_name.clone(),
                resource_path: "/webhooks/stripe".to_owned(),
                function: specs.api.name.clone(),
                sampling: options.sampling.unwrap_or(SamplingRule {
                    reservoir_per_second: settings.trace_sampling_reservoir,
                    fixed_rate: settings.trace_sampling_rate,
                }),
            },
            Arc::clone(&lambda),
            sink.store(),
        )
        .await
        .map_err(|source| StackError::Endpoint {
            what: "API Gateway's front door",
            source,
        })?;
        let mapping = event_source_mapping(&settings, &provisioned, &sdk, &lambda, &specs.worker);
        let stream_mapping = stream_mapping(&settings, &provisioned, &sdk, &lambda, specs.notifier.as_ref())?;

        Ok(Self {
            settings,
            provisioned,
            sdk,
            options,
            transport,
            mapping: Some(mapping),
            stream_mapping,
            gateway,
            aws,
            lambda,
            specs,
            sink,
            faults,
            moto,
        })
    }

    /// Where to POST webhooks: API Gateway's invoke URL of the route.
    pub fn webhook_url(&self) -> String {
        self.gateway.webhook_url()
    }

    /// The trace sink's OTLP/HTTP address (where the collector would be).
    pub fn trace_sink_url(&self) -> String {
        self.sink.endpoint()
    }

    /// The tools' AWS endpoint: moto, with X-Ray and Logs Insights answered as AWS does.
    pub fn aws_endpoint(&self) -> String {
        self.aws.url()
    }

    /// SDK configuration for the tools' AWS endpoint.
    pub async fn aws_sdk(&self) -> SdkConfig {
        moto_server::sdk_config_for(&self.aws.url()).await
    }

    /// The environment another process (a tool) needs to call AWS here.
    pub fn aws_env(&self) -> Vec<(&'static str, String)> {
        self.moto
            .env()
            .into_iter()
            .map(|(key, value)| match key {
                "AWS_ENDPOINT_URL" => (key, self.aws.url()),
                _ => (key, value),
            })
            .collect()
    }

    /// The log groups of the API and the worker, API first (with the notifier's, see
    /// [`Self::function_log_groups`]).
    pub fn log_groups(&self) -> [String; 2] {
        [
            crate::lambda_service::log_group(&self.specs.api.name),
            crate::lambda_service::log_group(&self.specs.worker.name),
        ]
    }

    /// Every function's log group: the API's, the worker's, then the notifier's if there is one.
    pub fn function_log_groups(&self) -> Vec<String> {
        let mut groups = self.log_groups().to_vec();
        groups.extend(self.notifier_log_group());
        groups
    }

    /// Span datagrams the kernel dropped before the sink read them (the `xray-udp` transport).
    pub fn dropped_span_datagrams(&self) -> Option<u64> {
        self.sink.dropped_datagrams()
    }

    /// Every span the sink received, sampled or not, as the functions sent them.
    pub fn spans(&self) -> Vec<SpanRecord> {
        self.sink.spans()
    }

    /// What the event source mapping has invoked.
    pub fn mapping_log(&self) -> MappingLog {
        self.mapping
            .as_ref()
            .map(EventSourceMapping::log)
            .unwrap_or_default()
    }

    /// What the notifier's stream mapping has done (empty without the notifier).
    pub fn stream_mapping_log(&self) -> StreamMappingLog {
        self.stream_mapping
            .as_ref()
            .map(StreamEventSourceMapping::log)
            .unwrap_or_default()
    }

    /// Invokes the notifier with `records`, as Lambda redelivers a stream batch; its answer.
    pub async fn invoke_notifier(
        &self,
        records: &[serde_json::Value],
    ) -> Result<serde_json::Value, StackError> {
        let notifier = self
            .specs
            .notifier
            .as_ref()
            .ok_or_else(|| StackError::Scenario("the pipeline has no notifier".to_owned()))?;
        let body = serde_json::to_vec(&serde_json::json!({ "Records": records }))
            .map_err(|error| StackError::Scenario(error.to_string()))?;
        let header = crate::api_gateway::new_sampled_trace_header();
        let answer = self
            .lambda
            .invoke(&notifier.name, body, &header)
            .await
            .map_err(|error| StackError::Scenario(error.to_string()))?;
        serde_json::from_slice(&answer).map_err(|error| StackError::Scenario(error.to_string()))
    }

    /// The notifier's log group, when the pipeline has the notifier.
    pub fn notifier_log_group(&self) -> Option<String> {
        self.specs
            .notifier
            .as_ref()
            .map(|notifier| crate::lambda_service::log_group(&notifier.name))
    }

    /// The notifier's invocations, failures and sandboxes so far.
    pub fn notifier_stats(&self) -> Option<FunctionStats> {
        self.specs
            .notifier
            .as_ref()
            .map(|notifier| self.lambda.stats(&notifier.name))
    }

    /// The X-Ray sampling rule the front door applies.
    pub fn sampling_rule(&self) -> SamplingRule {
        self.gateway.rule()
    }

    /// How many requests the front door sampled, and how many it did not.
    pub fn sampling(&self) -> SamplingCounts {
        self.gateway.sampling()
    }

    /// Where the functions send spans, for people reading the demo.
    pub fn traces_destination(&self) -> String {
        match self.transport {
            TelemetryTransport::AdotCollector => format!("OTLP/HTTP {}", self.sink.endpoint()),
            TelemetryTransport::XrayUdp => format!(
                "OTLP over UDP, X-Ray daemon format, {}",
                self.sink.xray_daemon_address()
            ),
        }
    }

    /// Exports the sink could not decode; empty when no span was lost on the way.
    pub fn rejected_exports(&self) -> Vec<String> {
        self.sink.store().rejected()
    }

    /// The fault proxy in front of the emulator, when the stack was started with one.
    pub fn faults(&self) -> Option<&FaultProxy> {
        self.faults.as_ref()
    }

    /// Kills the worker's sandbox (SIGKILL, as when a sandbox dies mid-invocation); Lambda
    /// starts a new one for the next invocation. The killed process id.
    pub fn kill_worker(&self) -> Result<Option<u32>, StackError> {
        Ok(self.lambda.kill(&self.specs.worker.name)?)
    }

    /// The worker's invocations, failures and sandboxes so far.
    pub fn worker_stats(&self) -> FunctionStats {
        self.lambda.stats(&self.specs.worker.name)
    }

    /// The API's invocations, failures and sandboxes so far.
    pub fn api_stats(&self) -> FunctionStats {
        self.lambda.stats(&self.specs.api.name)
    }

    /// Each process started, by name, with its process id.
    pub fn process_table(&mut self) -> Vec<(String, u32)> {
        let mut table = vec![("moto".to_owned(), self.moto.process().pid())];
        table.extend(self.lambda.pids());
        table
    }

    /// The worker's current process id.
    pub fn worker_pid(&self) -> Option<u32> {
        self.lambda
            .pids()
            .into_iter()
            .find(|(name, _)| *name == self.specs.worker.name)
            .map(|(_, pid)| pid)
    }

    /// An error naming moto if it stopped, or a function that could not initialise.
    pub fn check_health(&mut self) -> Result<(), StackError> {
        self.moto.process().check_running()?;
        match self.lambda.init_error() {
            Some(error) => Err(StackError::Scenario(error)),
            None => Ok(()),
        }
    }

    /// Process ids of everything started, to prove they are gone after shutdown.
    pub fn pids(&mut self) -> Vec<u32> {
        self.process_table().into_iter().map(|(_, pid)| pid).collect()
    }

    /// Where each process logs.
    pub fn log_paths(&mut self) -> Vec<(String, PathBuf)> {
        let mut paths = vec![("moto".to_owned(), self.moto.process().log_path().to_path_buf())];
        paths.extend(self.lambda.log_paths());
        paths
    }

    /// Stops the mapping (letting an invocation in flight finish), then every function (their
    /// last log lines sent), then every process.
    pub async fn shutdown(mut self) {
        if let Some(mapping) = self.mapping.take() {
            mapping.stop().await;
        }
        if let Some(mapping) = self.stream_mapping.take() {
            mapping.stop().await;
        }
        self.lambda.shutdown().await;
        self.moto.process().stop();
    }
}

/// What the two functions' environments are made of.
#[derive(Debug)]
pub struct FunctionEnvironment<'a> {
    /// Where Terraform's configuration is.
    pub terraform_dir: &'a Path,
    /// The pipeline's settings.
    pub settings: &'a PipelineSettings,
    /// The resources moto holds.
    pub provisioned: &'a Provisioned,
    /// How spans leave the functions.
    pub transport: TelemetryTransport,
    /// Where spans go.
    pub sink: &'a TraceSink,
    /// moto, the functions' AWS endpoint.
    pub moto: &'a MotoServer,
    /// Where the function binaries are.
    pub bin_dir: &'a Path,
    /// Where the functions send AWS calls instead of moto (a fault proxy).
    pub aws_endpoint: Option<String>,
    /// Where the functions export spans instead of the sink (`adot-collector` only).
    pub collector_endpoint: Option<String>,
}

/// Both functions as the local pipeline runs them: Terraform's names, memory sizes and telemetry
/// settings, the provisioned resources, moto for AWS, the sink for spans.
#[derive(Debug, Clone)]
pub struct FunctionSpecs {
    /// webhook-api.
    pub api: FunctionSpec,
    /// webhook-worker.
    pub worker: FunctionSpec,
    /// webhook-notifier, when the pipeline has the notifier.
    pub notifier: Option<FunctionSpec>,
}

impl FunctionSpecs {
    /// Both functions as Terraform's function module configures them.
    pub fn new(parts: &FunctionEnvironment<'_>) -> Result<Self, StackError> {
        let FunctionEnvironment {
            terraform_dir,
            settings,
            provisioned,
            transport,
            sink,
            moto,
            bin_dir,
            aws_endpoint,
            collector_endpoint,
        } = parts;
        // The telemetry settings Terraform gives each function, with the sink where Lambda
        // would have the collector extension or the X-Ray daemon.
        let telemetry = |service: &str| -> Result<Vec<(String, String)>, StackError> {
            let mut env = telemetry_environment(terraform_dir, transport.as_str(), service)?;
            match transport {
                TelemetryTransport::AdotCollector => env.insert(
                    "OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(),
                    collector_endpoint.clone().unwrap_or_else(|| sink.endpoint()),
                ),
                TelemetryTransport::XrayUdp => {
                    env.insert("AWS_XRAY_DAEMON_ADDRESS".to_owned(), sink.xray_daemon_address())
                }
            };
            env.insert("RUST_LOG".to_owned(), "info".to_owned());
            Ok(env.into_iter().collect())
        };
        let aws_env: Vec<(String, String)> = moto
            .env()
            .into_iter()
            .map(|(key, value)| match (key, aws_endpoint) {
                ("AWS_ENDPOINT_URL", Some(endpoint)) => (key.to_owned(), endpoint.clone()),
                _ => (key.to_owned(), value),
            })
            .collect();

        let mut api_env = telemetry("webhook-api")?;
        api_env.extend(aws_env.clone());
        // One destination, as Terraform sets it: the topic when the pipeline fans out.
        api_env.push(match &provisioned.topic_arn {
            Some(topic_arn) => ("WEBHOOK_TOPIC_ARN".to_owned(), topic_arn.clone()),
            None => ("WEBHOOK_QUEUE_URL".to_owned(), provisioned.queue_url.clone()),
        });
        api_env.push((
            "STRIPE_WEBHOOK_SECRET_ARN".to_owned(),
            provisioned.secret_arn.clone(),
        ));

        let notifier = match (&settings.notifier, &provisioned.notifier) {
            (Some(notifier), Some(resources)) => {
                let mut env = telemetry("webhook-notifier")?;
                env.extend(aws_env.clone());
                env.extend([
                    ("WEBHOOK_TABLE_NAME".to_owned(), provisioned.table_name.clone()),
                    ("WEBHOOK_TRACE_MODE".to_owned(), settings.trace_mode.clone()),
                    ("NOTIFICATION_SENDER".to_owned(), resources.sender.clone()),
                ]);
                if let Some(inbox) = &notifier.recipient_override {
                    env.push(("NOTIFICATION_RECIPIENT_OVERRIDE".to_owned(), inbox.clone()));
                }
                Some(FunctionSpec {
                    name: notifier.function.clone(),
                    binary: bin_dir.join("webhook-notifier"),
                    memory_mb: notifier.memory_size,
                    timeout: Duration::from_secs(u64::from(notifier.timeout_seconds)),
                    env,
                })
            }
            _ => None,
        };

        let mut worker_env = telemetry("webhook-worker")?;
        worker_env.extend(aws_env);
        worker_env.extend([
            ("WEBHOOK_TABLE_NAME".to_owned(), provisioned.table_name.clone()),
            ("WEBHOOK_TRACE_MODE".to_owned(), settings.trace_mode.clone()),
            (
                "WEBHOOK_MAX_CONCURRENCY".to_owned(),
                settings.worker_max_concurrency.to_string(),
            ),
            (
                "WEBHOOK_RECORD_TTL_DAYS".to_owned(),
                settings.record_ttl_days.to_string(),
            ),
        ]);

        Ok(Self {
            api: FunctionSpec {
                name: settings.names.api_function.clone(),
                binary: bin_dir.join("webhook-api"),
                memory_mb: settings.api_memory_size,
                timeout: Duration::from_secs(u64::from(settings.api_timeout_seconds)),
                env: api_env,
            },
            worker: FunctionSpec {
                name: settings.names.worker_function.clone(),
                binary: bin_dir.join("webhook-worker"),
                memory_mb: settings.worker_memory_size,
                timeout: Duration::from_secs(u64::from(settings.worker_timeout_seconds)),
                env: worker_env,
            },
            notifier,
        })
    }
}

async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, StackError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| StackError::Scenario(format!("start-up task failed: {error}")))
}

/// The transport asked for, else Terraform's default for the environment.
fn transport(options: &StackOptions, settings: &PipelineSettings) -> Result<TelemetryTransport, StackError> {
    match options.transport {
        Some(transport) => Ok(transport),
        None => TelemetryTransport::parse(&settings.telemetry_transport).ok_or_else(|| {
            StackError::Scenario(format!(
                "Terraform's default telemetry_transport {:?} is not one the local pipeline knows",
                settings.telemetry_transport
            ))
        }),
    }
}

/// A collector address nothing listens on, when the options ask for an unreachable one.
fn unreachable_collector(options: &StackOptions) -> Result<Option<String>, StackError> {
    Ok(match options.collector_unreachable {
        true => Some(format!(
            "http://127.0.0.1:{}",
            free_port().map_err(StackError::TraceSink)?
        )),
        false => None,
    })
}

/// Both functions' settings as Terraform gives them, with the options' overrides.
fn function_specs(
    options: &StackOptions,
    environment: &FunctionEnvironment<'_>,
) -> Result<FunctionSpecs, StackError> {
    let mut specs = FunctionSpecs::new(environment)?;
    if let Some(timeout) = options.invocation_timeout {
        specs.worker.timeout = timeout;
    }
    if options.withhold_worker_spans {
        specs
            .worker
            .env
            .push(("OTEL_TRACES_EXPORTER".to_owned(), "none".to_owned()));
    }
    Ok(specs)
}

/// The poller that feeds the worker, with Terraform's batch size, window and timeout.
fn event_source_mapping(
    settings: &PipelineSettings,
    provisioned: &Provisioned,
    sdk: &SdkConfig,
    lambda: &Arc<LambdaService>,
    worker: &FunctionSpec,
) -> EventSourceMapping {
    EventSourceMapping::start(
        aws_sdk_sqs::Client::new(sdk),
        MappingConfig {
            queue_url: provisioned.queue_url.clone(),
            queue_arn: provisioned.queue_arn.clone(),
            region: REGION.to_owned(),
            batch_size: settings.batch_size as usize,
            batching_window: Duration::from_secs(u64::from(settings.batching_window_seconds)),
            lambda: Arc::clone(lambda),
            function: worker.name.clone(),
        },
    )
}

/// The notifier's stream mapping, with Terraform's filter, batch size, retries and record age.
fn stream_mapping(
    settings: &PipelineSettings,
    provisioned: &Provisioned,
    sdk: &SdkConfig,
    lambda: &Arc<LambdaService>,
    notifier: Option<&FunctionSpec>,
) -> Result<Option<StreamEventSourceMapping>, StackError> {
    let (Some(config), Some(resources), Some(function)) =
        (&settings.notifier, &provisioned.notifier, notifier)
    else {
        return Ok(None);
    };
    let filter = FilterPattern::new(config.filter_pattern.clone()).map_err(StackError::Scenario)?;
    Ok(Some(StreamEventSourceMapping::start(
        aws_sdk_dynamodbstreams::Client::new(sdk),
        aws_sdk_sqs::Client::new(sdk),
        StreamMappingConfig {
            stream_arn: resources.stream_arn.clone(),
            region: REGION.to_owned(),
            batch_size: config.batch_size as usize,
            filter,
            maximum_retry_attempts: config.maximum_retry_attempts,
            maximum_record_age: u64::try_from(config.maximum_record_age_seconds)
                .ok()
                .map(Duration::from_secs),
            on_failure_queue_url: resources.failures_url.clone(),
            lambda: Arc::clone(lambda),
            function: function.name.clone(),
            function_arn: function.arn(),
        },
    )))
}

/// Ctrl-C or SIGTERM: what stops a stack run in the foreground, so it can stop what it
/// started by PID before it exits.
pub async fn interrupted() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
}
