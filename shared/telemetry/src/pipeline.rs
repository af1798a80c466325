//! Builds the tracing pipeline once per cold start: tracer provider (sampler, X-Ray ids, Lambda
//! resource, exporter), propagators, and the `tracing` subscriber (JSON logs + OpenTelemetry),
//! and flushes it after every invocation within a bounded time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_aws::detector::LambdaResourceDetector;
use opentelemetry_aws::trace::XrayIdGenerator;
use opentelemetry_http::hyper::HyperClient;
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{RandomIdGenerator, Sampler, SdkTracerProvider, SpanProcessor};
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::{FilterExt, LevelFilter, Targets, filter_fn};
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt;

use crate::config::{ConfigError, SamplerConfig, TelemetryConfig, TracesExporter};
use crate::invocation_processor::{DEFAULT_MAX_BUFFERED, InvocationSpanProcessor};
use crate::logging::JsonLogLayer;
use crate::propagation::Propagators;
use crate::sns::{self, OutgoingNotificationTraceContext};
use crate::sqs::{self, OutgoingTraceContext, UpstreamContext};
use crate::stream_item;
use xray_udp_exporter::XrayUdpExporter;
use xray_udp_exporter::{AlwaysRecordSampler, ApplicationSignals};

/// Why telemetry could not be set up; the cold start should fail with this message.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error(transparent)]
    /// An invalid setting.
    Config(#[from] ConfigError),
    #[error("invalid log filter {filter:?} (from RUST_LOG or AWS_LAMBDA_LOG_LEVEL): {reason}")]
    /// The log filter does not parse.
    LogFilter {
        /// The directive, as configured.
        filter: String,
        /// Why it does not parse.
        reason: String,
    },
    #[error(
        "cannot build the span exporter (check OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_EXPORTER_OTLP_HEADERS, or AWS_XRAY_DAEMON_ADDRESS): {0}"
    )]
    /// The exporter could not be built.
    Exporter(String),
    #[error("a global tracing subscriber is already installed; initialise telemetry once per process")]
    /// `init` was called twice in one process.
    AlreadyInitialised,
}

/// The process's telemetry: cheap to clone, shared by the handler and the invocation layer.
#[derive(Clone, Debug)]
pub struct Telemetry {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    provider: SdkTracerProvider,
    propagators: Propagators,
    export_timeout: Duration,
    failed_flushes: AtomicU64,
}

impl Telemetry {
    /// Reads the OTel environment variables, builds the pipeline and installs it as the global
    /// `tracing` subscriber. Call once, at cold start.
    /// Also replaces the panic hook: a panic anywhere becomes one JSON log line with its
    /// message and location, not a separate plain-text line on stderr.
    pub fn init(default_service_name: &str) -> Result<Self, TelemetryError> {
        let config = TelemetryConfig::from_env(default_service_name)?;
        let (telemetry, dispatch) = TelemetryBuilder::new(config).build()?;
        tracing::dispatcher::set_global_default(dispatch).map_err(|_| TelemetryError::AlreadyInitialised)?;
        std::panic::set_hook(Box::new(log_panic));
        Ok(telemetry)
    }

    /// The propagators for the invocation's own carriers (HTTP headers).
    pub fn invocation_propagator(&self) -> &dyn TextMapPropagator {
        self.inner.propagators.invocation()
    }

    /// The trace context to put on an outgoing SQS message that already carries
    /// `existing_attributes`: every configured propagator's keys as String attributes and the
    /// `AWSTraceHeader` system attribute. Never fails the send: keys that would exceed SQS's
    /// 10-attribute limit are skipped and logged.
    pub fn inject_into_sqs(
        &self,
        cx: &Context,
        existing_attributes: &std::collections::HashMap<String, aws_sdk_sqs::types::MessageAttributeValue>,
    ) -> OutgoingTraceContext {
        sqs::inject_into_sqs(cx, self.inner.propagators.messages(), existing_attributes)
    }

    /// The trace context to put on an outgoing SNS notification: the same String attributes
    /// under the same limit, and the X-Ray header for the `Publish` request.
    pub fn inject_into_sns(
        &self,
        cx: &Context,
        existing_attributes: &std::collections::HashMap<String, aws_sdk_sns::types::MessageAttributeValue>,
    ) -> OutgoingNotificationTraceContext {
        sns::inject_into_sns(cx, self.inner.propagators.messages(), existing_attributes)
    }

    /// One received message's upstream context, `sns_envelope` being the SNS notification its
    /// body holds, if it holds one (see [`sqs::extract_upstream_context`]).
    pub fn extract_from_sqs(
        &self,
        message: &aws_lambda_events::sqs::SqsMessage,
        sns_envelope: Option<&aws_lambda_events::sns::SnsMessage>,
    ) -> UpstreamContext {
        sqs::extract_upstream_context(message, sns_envelope, self.inner.propagators.messages())
    }

    /// The trace context to write into a DynamoDB item whose stream a consumer reads: every
    /// configured propagator's entry under its message attribute name; empty for an invalid
    /// context.
    pub fn inject_into_item(&self, cx: &Context) -> std::collections::BTreeMap<String, String> {
        stream_item::inject_into_item(cx, self.inner.propagators.messages())
    }

    /// A stream record's upstream context, from the trace context entries of its new image.
    pub fn extract_from_item(&self, entries: &std::collections::BTreeMap<String, String>) -> UpstreamContext {
        stream_item::extract_from_item(entries, self.inner.propagators.messages())
    }

    /// Exports every finished span, waiting at most the export timeout. A collector that is
    /// down or slow is logged and counted, never returned: the business result stands.
    pub async fn flush(&self) {
        let provider = self.inner.provider.clone();
        let timeout = self.inner.export_timeout;
        let outcome = tokio::time::timeout(
            timeout,
            tokio::task::spawn_blocking(move || provider.force_flush()),
        )
        .await;
        let failure = match outcome {
            Ok(Ok(Ok(()))) => return,
            Ok(Ok(Err(error))) => error.to_string(),
            Ok(Err(join_error)) => join_error.to_string(),
            Err(_) => format!("no answer within {} ms", timeout.as_millis()),
        };
        let failed_flushes = self.inner.failed_flushes.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::warn!(
            error = %failure,
            failed_flushes,
            "span export failed; spans of this invocation may be missing"
        );
    }

    /// How many flushes have failed since the cold start.
    pub fn failed_flushes(&self) -> u64 {
        self.inner.failed_flushes.load(Ordering::Relaxed)
    }

    /// Flushes and stops the exporter; for tools and tests that exit.
    pub fn shutdown(&self) {
        if let Err(error) = self.inner.provider.shutdown() {
            tracing::warn!(%error, "telemetry shutdown incomplete");
        }
    }
}

/// The panic hook: the message and where it happened, as a JSON log line.
fn log_panic(info: &std::panic::PanicHookInfo<'_>) {
    let message = crate::handler::panic_message(info.payload());
    let location = info
        .location()
        .map(|location| format!("{}:{}", location.file(), location.line()))
        .unwrap_or_default();
    tracing::error!(panic.message = %message, panic.location = %location, "panicked: {message}");
}

/// Builds a [`Telemetry`] and its `tracing` dispatcher without installing anything globally,
/// so tests and tools can choose the exporter and the log writer.
pub struct TelemetryBuilder {
    config: TelemetryConfig,
    processor: Option<Box<dyn SpanProcessor>>,
    log_writer: BoxMakeWriter,
}

impl std::fmt::Debug for TelemetryBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelemetryBuilder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl TelemetryBuilder {
    /// A builder for `config`, exporting as it says and logging to stdout.
    pub fn new(config: TelemetryConfig) -> Self {
        Self {
            config,
            processor: None,
            log_writer: BoxMakeWriter::new(std::io::stdout),
        }
    }

    /// Sends finished spans to `processor` instead of the configured exporter (tests and tools:
    /// an in-memory exporter behind a simple or batch processor).
    pub fn with_span_processor(mut self, processor: impl SpanProcessor + 'static) -> Self {
        self.processor = Some(Box::new(processor));
        self
    }

    /// Sends log lines to `writer` instead of stdout.
    pub fn with_log_writer(mut self, writer: BoxMakeWriter) -> Self {
        self.log_writer = writer;
        self
    }

    /// The telemetry and its subscriber, not yet installed (tests install it per thread).
    pub fn build(self) -> Result<(Telemetry, tracing::Dispatch), TelemetryError> {
        let config = self.config;
        // `target=level` directives, as RUST_LOG is used in Lambda. Span and field filters
        // (`EnvFilter`) would link a regex engine into every binary for no use here.
        let log_filter = config
            .log_filter
            .parse::<Targets>()
            .map_err(|error| TelemetryError::LogFilter {
                filter: config.log_filter.clone(),
                reason: error.to_string(),
            })?;

        let application_signals = matches!(config.traces_exporter, TracesExporter::XrayUdp { .. });
        let mut provider = SdkTracerProvider::builder();
        provider = if application_signals {
            provider.with_sampler(AlwaysRecordSampler::new(sampler(config.sampler)))
        } else {
            provider.with_sampler(sampler(config.sampler))
        };
        provider = provider.with_resource(
            Resource::builder()
                .with_detector(Box::new(LambdaResourceDetector))
                .with_service_name(config.service_name.clone())
                .build(),
        );
        // X-Ray ids are also valid W3C ids; the random generator is for paths X-Ray never sees.
        provider = if config.xray_in_path() {
            provider.with_id_generator(XrayIdGenerator::default())
        } else {
            provider.with_id_generator(RandomIdGenerator::default())
        };
        provider = match (self.processor, &config.traces_exporter) {
            (Some(processor), _) => provider.with_span_processor(BoxedProcessor(processor)),
            (None, TracesExporter::Otlp) => provider.with_span_processor(InvocationSpanProcessor::new(
                otlp_exporter(config.export_timeout)?,
                DEFAULT_MAX_BUFFERED,
            )),
            (None, TracesExporter::Console) => {
                provider.with_simple_exporter(opentelemetry_stdout::SpanExporter::default())
            }
            (None, TracesExporter::None) => provider,
            // Buffered per invocation (not the simple processor, which exports sampled spans only:
            // Application Signals needs the unsampled ones too).
            (None, TracesExporter::XrayUdp { daemon_address }) => {
                let function_name = config.lambda_function_name.as_deref().unwrap_or_default();
                let exporter =
                    XrayUdpExporter::new(daemon_address, Some(ApplicationSignals::new(function_name)))
                        .map_err(|error| TelemetryError::Exporter(error.to_string()))?;
                provider.with_span_processor(InvocationSpanProcessor::new(exporter, DEFAULT_MAX_BUFFERED))
            }
        };
        let provider = provider.build();
        let tracer = provider.tracer(config.service_name.clone());

        // Source locations, thread ids, busy/idle times and targets are left out: per span they
        // cost allocations and clock reads (measured in `make bench`) and nothing in the
        // waterfall needs them. Contexts are passed explicitly (`span.context()`), so entering a
        // span need not activate its OpenTelemetry context on every poll. Log events stay log
        // lines (they carry the trace and span ids) instead of also becoming span events;
        // failures are recorded on spans explicitly (`record_error`).
        let otel_layer = tracing_opentelemetry::layer()
            .with_location(false)
            .with_threads(false)
            .with_tracked_inactivity(false)
            .with_target(false)
            .with_context_activation(false)
            .with_tracer(tracer)
            .with_filter(span_filter().and(filter_fn(|metadata| metadata.is_span())));
        let dispatch = tracing::Dispatch::new(
            tracing_subscriber::registry()
                .with(otel_layer)
                .with(JsonLogLayer::new(self.log_writer, log_filter)),
        );

        let telemetry = Telemetry {
            inner: Arc::new(Inner {
                provider,
                propagators: Propagators::new(&config.propagators),
                export_timeout: config.export_timeout,
                failed_flushes: AtomicU64::new(0),
            }),
        };
        Ok((telemetry, dispatch))
    }
}

/// Spans become OpenTelemetry spans at INFO and above whatever the log level, so turning logs
/// down never turns traces off. The SDK clients' own spans are left out: the services create
/// CLIENT spans with the semantic-convention attributes themselves.
fn span_filter() -> Targets {
    Targets::new()
        .with_default(LevelFilter::INFO)
        .with_target("aws_smithy_runtime", LevelFilter::OFF)
        .with_target("aws_smithy_runtime_api", LevelFilter::OFF)
        .with_target("aws_config", LevelFilter::OFF)
        .with_target("aws_sdk_sqs", LevelFilter::OFF)
        .with_target("aws_sdk_dynamodb", LevelFilter::OFF)
        .with_target("aws_sdk_secretsmanager", LevelFilter::OFF)
        .with_target("hyper", LevelFilter::OFF)
        .with_target("hyper_util", LevelFilter::OFF)
        .with_target("h2", LevelFilter::OFF)
        .with_target("reqwest", LevelFilter::OFF)
        .with_target("lambda_runtime", LevelFilter::OFF)
        .with_target("lambda_runtime_api_client", LevelFilter::OFF)
}

/// OTLP over plain HTTP to the collector beside the function (the ADOT extension on
/// `localhost:4318`), with hyper on the function's runtime: nothing to start at cold start, no
/// TLS roots to load. An `https://` endpoint fails the cold start instead of every export.
fn otlp_exporter(export_timeout: Duration) -> Result<opentelemetry_otlp::SpanExporter, TelemetryError> {
    require_plain_http(|name| std::env::var(name).ok())?;
    // A timeout set in code overrides the standard variables, so only default it. The client
    // enforces its own deadline, so it gets the same one.
    let configured_timeout = ["OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"]
        .iter()
        .find_map(|name| std::env::var(name).ok()?.trim().parse::<u64>().ok())
        .map(Duration::from_millis);
    let client = HyperClient::with_default_connector(configured_timeout.unwrap_or(export_timeout), None);
    let mut builder = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_http_client(client);
    if configured_timeout.is_none() {
        builder = builder.with_timeout(export_timeout);
    }
    builder
        .build()
        .map_err(|error| TelemetryError::Exporter(error.to_string()))
}

/// The OTLP endpoint, when one is configured, must be `http://` (the client has no TLS).
fn require_plain_http(lookup: impl Fn(&str) -> Option<String>) -> Result<(), TelemetryError> {
    let endpoint = [
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ]
    .iter()
    .find_map(|name| lookup(name).filter(|value| !value.is_empty()));
    match endpoint {
        Some(endpoint) if !endpoint.starts_with("http://") => Err(TelemetryError::Exporter(format!(
            "the OTLP endpoint {endpoint:?} is not plain http://: spans go to the collector beside the function (http://localhost:4318)"
        ))),
        _ => Ok(()),
    }
}

fn sampler(config: SamplerConfig) -> Sampler {
    match config {
        SamplerConfig::AlwaysOn => Sampler::AlwaysOn,
        SamplerConfig::AlwaysOff => Sampler::AlwaysOff,
        SamplerConfig::TraceIdRatio(ratio) => Sampler::TraceIdRatioBased(ratio),
        SamplerConfig::ParentBasedAlwaysOn => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
        SamplerConfig::ParentBasedAlwaysOff => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
        SamplerConfig::ParentBasedTraceIdRatio(ratio) => {
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio)))
        }
    }
}

/// Lets a boxed processor chosen at run time be installed like a concrete one.
#[derive(Debug)]
struct BoxedProcessor(Box<dyn SpanProcessor>);

impl SpanProcessor for BoxedProcessor {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &Context) {
        self.0.on_start(span, cx);
    }

    fn on_end(&self, span: opentelemetry_sdk::trace::SpanData) {
        self.0.on_end(span);
    }

    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        }
    }

    #[test]
    fn an_https_otlp_endpoint_fails_the_cold_start_with_the_endpoint_named() {
        let vars = [(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "https://collector.example.com:4318",
        )];
        match require_plain_http(lookup(&vars)) {
            Err(TelemetryError::Exporter(message)) => {
                assert!(
                    message.contains("https://collector.example.com:4318"),
                    "{message}"
                );
            }
            other => panic!("expected an exporter error, got {other:?}"),
        }
    }

    #[test]
    fn plain_http_or_the_default_endpoint_is_accepted() {
        assert!(require_plain_http(lookup(&[])).is_ok());
        let local = [(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://localhost:4318/v1/traces",
        )];
        assert!(require_plain_http(lookup(&local)).is_ok());
        // The traces-specific variable wins over the general one, as in the exporter.
        let both = [
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://127.0.0.1:4318/v1/traces",
            ),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://elsewhere"),
        ];
        assert!(require_plain_http(lookup(&both)).is_ok());
    }
}
