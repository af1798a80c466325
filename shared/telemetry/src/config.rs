//! Telemetry configuration from the standard OpenTelemetry environment variables (the table in
//! the crate README), read once at cold start. Every invalid value is reported at once, each naming the
//! variable, the value and what is accepted: a silent fallback would hide a broken trace.

use std::time::Duration;

use env_settings::EnvSettings;
pub use env_settings::{ConfigError, ConfigProblem};

/// A text-map propagator named in `OTEL_PROPAGATORS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropagatorKind {
    /// W3C `traceparent` / `tracestate`.
    TraceContext,
    /// W3C `baggage`.
    Baggage,
    /// AWS X-Ray `X-Amzn-Trace-Id`.
    Xray,
    /// X-Ray, falling back to the Lambda invocation's `_X_AMZN_TRACE_ID` when the carrier has none.
    XrayLambda,
}

impl PropagatorKind {
    const ACCEPTED: &'static str =
        "a comma-separated list of tracecontext, baggage, xray, xray-lambda, or none";

    fn parse(name: &str) -> Option<Self> {
        match name {
            "tracecontext" => Some(Self::TraceContext),
            "baggage" => Some(Self::Baggage),
            "xray" => Some(Self::Xray),
            "xray-lambda" => Some(Self::XrayLambda),
            _ => None,
        }
    }

    /// Whether this propagator speaks the X-Ray header format.
    pub fn is_xray(self) -> bool {
        matches!(self, Self::Xray | Self::XrayLambda)
    }
}

/// Where finished spans go (`OTEL_TRACES_EXPORTER`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TracesExporter {
    /// OTLP over HTTP/protobuf; in Lambda the ADOT collector extension on localhost. The endpoint
    /// and headers are read by the OTLP exporter itself from the standard variables.
    Otlp,
    /// Human-readable spans on stdout (CloudWatch Logs in Lambda).
    Console,
    /// No export: spans are still created so log lines carry trace ids.
    None,
    /// OTLP over UDP to the X-Ray daemon at this `host:port`, with the Application Signals
    /// attributes: what `OTEL_AWS_APPLICATION_SIGNALS_ENABLED=true` selects inside Lambda.
    XrayUdp {
        /// The daemon's `host:port` (`AWS_XRAY_DAEMON_ADDRESS`).
        daemon_address: String,
    },
}

/// The sampler (`OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SamplerConfig {
    /// Every span (`always_on`).
    AlwaysOn,
    /// No span (`always_off`).
    AlwaysOff,
    /// This share of traces, by trace id (`traceidratio`).
    TraceIdRatio(f64),
    /// The parent's decision; roots always (`parentbased_always_on`, the default).
    ParentBasedAlwaysOn,
    /// The parent's decision; roots never (`parentbased_always_off`).
    ParentBasedAlwaysOff,
    /// The parent's decision; this share of roots (`parentbased_traceidratio`).
    ParentBasedTraceIdRatio(f64),
}

/// How a consumer span relates to the producer's context (`WEBHOOK_TRACE_MODE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TraceMode {
    /// The producer context is the parent: one trace from the HTTP request to the write.
    #[default]
    Parent,
    /// The invocation is the parent and the producer context a link (OTel messaging default).
    Link,
}

impl TraceMode {
    /// The variable the mode is read from.
    pub const VARIABLE: &'static str = "WEBHOOK_TRACE_MODE";

    /// Reads `WEBHOOK_TRACE_MODE` through `lookup` (the process environment in production).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigProblem> {
        match non_empty(lookup(Self::VARIABLE)).as_deref() {
            None | Some("parent") => Ok(Self::Parent),
            Some("link") => Ok(Self::Link),
            Some(other) => Err(ConfigProblem::new(Self::VARIABLE, other, "parent or link")),
        }
    }

    /// The mode as configured and recorded on spans (`trace.mode`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Parent => "parent",
            Self::Link => "link",
        }
    }
}

/// Everything `shared-telemetry` needs to set up tracing and logging.
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetryConfig {
    /// `OTEL_SERVICE_NAME`, else the binary's default.
    pub service_name: String,
    /// Propagators in the configured order; empty means `none`.
    pub propagators: Vec<PropagatorKind>,
    /// Where finished spans go.
    pub traces_exporter: TracesExporter,
    /// Which spans are sampled.
    pub sampler: SamplerConfig,
    /// Upper bound on the flush after each invocation, and the OTLP request timeout.
    pub export_timeout: Duration,
    /// The log filter directive (from `RUST_LOG`, else `AWS_LAMBDA_LOG_LEVEL`, else `info`).
    pub log_filter: String,
    /// The function's name when running inside AWS Lambda (`AWS_LAMBDA_FUNCTION_NAME`).
    pub lambda_function_name: Option<String>,
}

const DEFAULT_PROPAGATORS: [PropagatorKind; 3] = [
    PropagatorKind::TraceContext,
    PropagatorKind::Baggage,
    PropagatorKind::Xray,
];

/// A Lambda invocation has little time to spare; the OTel default of 30 s would hold the
/// sandbox (and the bill) for an unreachable collector.
const DEFAULT_EXPORT_TIMEOUT: Duration = Duration::from_millis(2000);

impl TelemetryConfig {
    /// Reads the configuration from the process environment.
    pub fn from_env(default_service_name: &str) -> Result<Self, ConfigError> {
        Self::from_lookup(default_service_name, |name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(
        default_service_name: &str,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut env = EnvSettings::new("telemetry", lookup);

        let service_name = env
            .get("OTEL_SERVICE_NAME")
            .unwrap_or_else(|| default_service_name.to_owned());
        let propagators = match env.get("OTEL_PROPAGATORS") {
            None => DEFAULT_PROPAGATORS.to_vec(),
            Some(value) => env.take(parse_propagators(&value)).unwrap_or_default(),
        };
        let sdk_disabled = env.flag("OTEL_SDK_DISABLED").unwrap_or(false);
        let lambda_function_name = env.get("AWS_LAMBDA_FUNCTION_NAME");
        let application_signals = env
            .parse(APPLICATION_SIGNALS_VARIABLE, "true or false", |value| match value
                .to_ascii_lowercase()
                .as_str()
            {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            })
            .unwrap_or(false);
        let traces_exporter = match env.get("OTEL_TRACES_EXPORTER").as_deref() {
            _ if sdk_disabled => TracesExporter::None,
            // As in the ADOT SDKs: Application Signals in Lambda sends OTLP to the X-Ray daemon
            // over UDP, unless a traces endpoint is set explicitly.
            None | Some("otlp")
                if application_signals
                    && lambda_function_name.is_some()
                    && env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_none() =>
            {
                let address = xray_daemon_udp_address(env.get(DAEMON_ADDRESS_VARIABLE));
                env.take(address)
                    .map_or(TracesExporter::None, |daemon_address| TracesExporter::XrayUdp {
                        daemon_address,
                    })
            }
            None | Some("otlp") => TracesExporter::Otlp,
            Some("console") => TracesExporter::Console,
            Some("none") => TracesExporter::None,
            Some(other) => {
                env.report(ConfigProblem::new(
                    "OTEL_TRACES_EXPORTER",
                    other,
                    "otlp, console or none",
                ));
                TracesExporter::None
            }
        };
        if traces_exporter == TracesExporter::Otlp {
            for variable in [
                "OTEL_EXPORTER_OTLP_PROTOCOL",
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            ] {
                env.parse(
                    variable,
                    "http/protobuf (the protocol of the ADOT collector extension; grpc is not built in)",
                    |protocol| (protocol == "http/protobuf").then_some(()),
                );
            }
        }
        let sampler = parse_sampler(env.get("OTEL_TRACES_SAMPLER"), env.get("OTEL_TRACES_SAMPLER_ARG"));
        let sampler = env.take(sampler).unwrap_or(SamplerConfig::ParentBasedAlwaysOn);
        let export_timeout = env
            .number(
                "OTEL_BSP_EXPORT_TIMEOUT",
                1..,
                "a positive number of milliseconds",
            )
            .map_or(DEFAULT_EXPORT_TIMEOUT, Duration::from_millis);
        let log_filter = match (env.get("RUST_LOG"), env.get("AWS_LAMBDA_LOG_LEVEL")) {
            (Some(filter), _) => filter,
            (None, Some(_)) => env
                .parse(
                    "AWS_LAMBDA_LOG_LEVEL",
                    "TRACE, DEBUG, INFO, WARN, ERROR or FATAL",
                    lambda_log_level,
                )
                .unwrap_or("info")
                .to_owned(),
            (None, None) => "info".to_owned(),
        };

        env.finish(Some(TelemetryConfig {
            service_name,
            propagators,
            traces_exporter,
            sampler,
            export_timeout,
            log_filter,
            lambda_function_name,
        }))
    }

    /// Running inside AWS Lambda (`AWS_LAMBDA_FUNCTION_NAME` is set).
    pub fn in_lambda(&self) -> bool {
        self.lambda_function_name.is_some()
    }

    /// Whether X-Ray is in the path, so trace ids must be X-Ray compatible.
    pub fn xray_in_path(&self) -> bool {
        self.in_lambda()
            || self.propagators.iter().any(|p| p.is_xray())
            || matches!(self.traces_exporter, TracesExporter::XrayUdp { .. })
    }
}

const APPLICATION_SIGNALS_VARIABLE: &str = "OTEL_AWS_APPLICATION_SIGNALS_ENABLED";
const DAEMON_ADDRESS_VARIABLE: &str = "AWS_XRAY_DAEMON_ADDRESS";
const DEFAULT_DAEMON_ADDRESS: &str = "127.0.0.1:2000";

/// The daemon's UDP `host:port`. Lambda sets `AWS_XRAY_DAEMON_ADDRESS` to `ip:port`; the X-Ray
/// SDKs also accept `udp:host:port tcp:host:port`, of which only the UDP part matters here.
fn xray_daemon_udp_address(value: Option<String>) -> Result<String, ConfigProblem> {
    const EXPECTED: &str = "host:port, or udp:host:port tcp:host:port";
    let Some(value) = value else {
        return Ok(DEFAULT_DAEMON_ADDRESS.to_owned());
    };
    let address = if value.contains(' ') || value.starts_with("udp:") || value.starts_with("tcp:") {
        value
            .split_whitespace()
            .find_map(|part| part.strip_prefix("udp:"))
    } else {
        Some(value.as_str())
    };
    let valid = address.filter(|address| {
        address
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|port| port > 0))
    });
    valid
        .map(str::to_owned)
        .ok_or_else(|| ConfigProblem::new(DAEMON_ADDRESS_VARIABLE, &value, EXPECTED))
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn parse_propagators(value: &str) -> Result<Vec<PropagatorKind>, ConfigProblem> {
    let names: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect();
    if names == ["none"] {
        return Ok(Vec::new());
    }
    let mut propagators = Vec::with_capacity(names.len());
    for name in names {
        match PropagatorKind::parse(name) {
            Some(kind) if !propagators.contains(&kind) => propagators.push(kind),
            Some(_) => {}
            None => {
                let expected = if name == "none" {
                    "`none` alone, not combined with other propagators"
                } else {
                    PropagatorKind::ACCEPTED
                };
                return Err(ConfigProblem::new("OTEL_PROPAGATORS", value, expected));
            }
        }
    }
    Ok(propagators)
}

fn parse_sampler(name: Option<String>, arg: Option<String>) -> Result<SamplerConfig, ConfigProblem> {
    let ratio = || -> Result<f64, ConfigProblem> {
        match &arg {
            None => Ok(1.0),
            Some(value) => value
                .parse::<f64>()
                .ok()
                .filter(|r| (0.0..=1.0).contains(r))
                .ok_or_else(|| ConfigProblem::new("OTEL_TRACES_SAMPLER_ARG", value, "a number from 0 to 1")),
        }
    };
    match name.as_deref() {
        None | Some("parentbased_always_on") => Ok(SamplerConfig::ParentBasedAlwaysOn),
        Some("always_on") => Ok(SamplerConfig::AlwaysOn),
        Some("always_off") => Ok(SamplerConfig::AlwaysOff),
        Some("traceidratio") => ratio().map(SamplerConfig::TraceIdRatio),
        Some("parentbased_always_off") => Ok(SamplerConfig::ParentBasedAlwaysOff),
        Some("parentbased_traceidratio") => ratio().map(SamplerConfig::ParentBasedTraceIdRatio),
        Some(other) => Err(ConfigProblem::new(
            "OTEL_TRACES_SAMPLER",
            other,
            "always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio",
        )),
    }
}

/// Maps Lambda's advanced logging level to a `tracing` filter directive.
fn lambda_log_level(level: &str) -> Option<&'static str> {
    match level.to_ascii_uppercase().as_str() {
        "TRACE" => Some("trace"),
        "DEBUG" => Some("debug"),
        "INFO" => Some("info"),
        "WARN" => Some("warn"),
        "ERROR" | "FATAL" => Some("error"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<TelemetryConfig, ConfigError> {
        let vars: HashMap<String, String> =
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        TelemetryConfig::from_lookup("webhook-test", |name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_match_the_design() {
        let config = config(&[]).expect("defaults are valid");
        assert_eq!(config.service_name, "webhook-test");
        assert_eq!(config.propagators, DEFAULT_PROPAGATORS);
        assert_eq!(config.traces_exporter, TracesExporter::Otlp);
        assert_eq!(config.sampler, SamplerConfig::ParentBasedAlwaysOn);
        assert_eq!(config.export_timeout, Duration::from_secs(2));
        assert_eq!(config.log_filter, "info");
        assert!(!config.in_lambda());
    }

    #[test]
    fn propagators_keep_their_order_and_accept_spaces() {
        let parsed = config(&[("OTEL_PROPAGATORS", " xray , tracecontext,xray-lambda")]).expect("valid");
        assert_eq!(
            parsed.propagators,
            [
                PropagatorKind::Xray,
                PropagatorKind::TraceContext,
                PropagatorKind::XrayLambda
            ]
        );
        assert!(parsed.xray_in_path());
        assert!(
            config(&[("OTEL_PROPAGATORS", "none")])
                .expect("valid")
                .propagators
                .is_empty()
        );
    }

    #[test]
    fn a_bad_propagator_names_the_variable_the_value_and_the_choices() {
        let error = config(&[("OTEL_PROPAGATORS", "tracecontext,b3")]).expect_err("b3 is not built in");
        assert_eq!(
            error.to_string(),
            "invalid telemetry configuration: OTEL_PROPAGATORS=\"tracecontext,b3\" is not valid; \
             expected a comma-separated list of tracecontext, baggage, xray, xray-lambda, or none"
        );
        let error = config(&[("OTEL_PROPAGATORS", "none,xray")]).expect_err("none is exclusive");
        assert!(error.to_string().contains("`none` alone"), "{error}");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let error = config(&[
            ("OTEL_TRACES_EXPORTER", "jaeger"),
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "1.5"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_BSP_EXPORT_TIMEOUT", "soon"),
            ("AWS_LAMBDA_LOG_LEVEL", "LOUD"),
        ])
        .expect_err("all invalid");
        let variables: Vec<&str> = error.problems.iter().map(|p| p.variable()).collect();
        assert_eq!(
            variables,
            [
                "OTEL_TRACES_EXPORTER",
                "OTEL_TRACES_SAMPLER_ARG",
                "OTEL_BSP_EXPORT_TIMEOUT",
                "AWS_LAMBDA_LOG_LEVEL"
            ]
        );
        let error = config(&[("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc")]).expect_err("grpc");
        assert_eq!(error.problems[0].variable(), "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL");
    }

    #[test]
    fn samplers_parse_with_their_ratio() {
        let ratio = config(&[
            ("OTEL_TRACES_SAMPLER", "traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
        ]);
        assert_eq!(ratio.expect("valid").sampler, SamplerConfig::TraceIdRatio(0.25));
        let off = config(&[("OTEL_TRACES_SAMPLER", "always_off")]).expect("valid");
        assert_eq!(off.sampler, SamplerConfig::AlwaysOff);
        assert!(config(&[("OTEL_TRACES_SAMPLER", "xray")]).is_err());
    }

    #[test]
    fn sdk_disabled_turns_export_off() {
        let parsed =
            config(&[("OTEL_SDK_DISABLED", "true"), ("OTEL_TRACES_EXPORTER", "otlp")]).expect("valid");
        assert_eq!(parsed.traces_exporter, TracesExporter::None);
    }

    #[test]
    fn log_level_prefers_rust_log_then_the_lambda_level() {
        assert_eq!(
            config(&[("AWS_LAMBDA_LOG_LEVEL", "WARN")])
                .expect("valid")
                .log_filter,
            "warn"
        );
        let both = config(&[("RUST_LOG", "debug,hyper=off"), ("AWS_LAMBDA_LOG_LEVEL", "WARN")]);
        assert_eq!(both.expect("valid").log_filter, "debug,hyper=off");
    }

    #[test]
    fn lambda_is_detected_and_puts_xray_in_the_path() {
        let parsed = config(&[
            ("AWS_LAMBDA_FUNCTION_NAME", "webhook-api"),
            ("OTEL_PROPAGATORS", "tracecontext"),
        ]);
        let parsed = parsed.expect("valid");
        assert!(parsed.in_lambda() && parsed.xray_in_path());
    }

    #[test]
    fn application_signals_in_lambda_selects_the_xray_daemon() {
        let lambda = ("AWS_LAMBDA_FUNCTION_NAME", "webhooks-dev-webhook-api");
        let enabled = ("OTEL_AWS_APPLICATION_SIGNALS_ENABLED", "True");
        let udp = |address: &str| TracesExporter::XrayUdp {
            daemon_address: address.to_owned(),
        };
        let parsed = config(&[lambda, enabled]).expect("valid");
        assert_eq!(parsed.traces_exporter, udp("127.0.0.1:2000"));
        let parsed = config(&[
            lambda,
            enabled,
            ("AWS_XRAY_DAEMON_ADDRESS", "169.254.79.129:2000"),
        ]);
        assert_eq!(parsed.expect("valid").traces_exporter, udp("169.254.79.129:2000"));
        let both = ("AWS_XRAY_DAEMON_ADDRESS", "tcp:127.0.0.1:2001 udp:127.0.0.1:2002");
        assert_eq!(
            config(&[lambda, enabled, both]).expect("valid").traces_exporter,
            udp("127.0.0.1:2002")
        );

        // Outside Lambda there is no daemon to send to, and an explicit traces endpoint or another
        // exporter wins: the configured exporter stays.
        assert_eq!(
            config(&[enabled]).expect("valid").traces_exporter,
            TracesExporter::Otlp
        );
        let endpoint = (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://localhost:4318/v1/traces",
        );
        assert_eq!(
            config(&[lambda, enabled, endpoint])
                .expect("valid")
                .traces_exporter,
            TracesExporter::Otlp
        );
        let console = ("OTEL_TRACES_EXPORTER", "console");
        assert_eq!(
            config(&[lambda, enabled, console])
                .expect("valid")
                .traces_exporter,
            TracesExporter::Console
        );
        // Disabled is the default.
        assert_eq!(
            config(&[lambda]).expect("valid").traces_exporter,
            TracesExporter::Otlp
        );
    }

    #[test]
    fn application_signals_settings_are_validated() {
        let lambda = ("AWS_LAMBDA_FUNCTION_NAME", "webhooks-dev-webhook-api");
        let enabled = ("OTEL_AWS_APPLICATION_SIGNALS_ENABLED", "true");
        let error = config(&[("OTEL_AWS_APPLICATION_SIGNALS_ENABLED", "yes")]).expect_err("invalid");
        assert_eq!(
            error.problems[0].variable(),
            "OTEL_AWS_APPLICATION_SIGNALS_ENABLED"
        );
        for address in [
            "2000",
            "127.0.0.1:",
            ":2000",
            "127.0.0.1:70000",
            "tcp:127.0.0.1:2000",
        ] {
            let error = config(&[lambda, enabled, ("AWS_XRAY_DAEMON_ADDRESS", address)]).expect_err(address);
            assert_eq!(
                error.problems[0].variable(),
                "AWS_XRAY_DAEMON_ADDRESS",
                "{address}"
            );
        }
    }

    #[test]
    fn trace_mode_parses_and_rejects_unknown_values() {
        let lookup = |value: &'static str| move |_: &str| Some(value.to_owned());
        assert_eq!(TraceMode::from_lookup(|_| None), Ok(TraceMode::Parent));
        assert_eq!(TraceMode::from_lookup(lookup("link")), Ok(TraceMode::Link));
        let error = TraceMode::from_lookup(lookup("child")).expect_err("invalid");
        assert!(
            error.to_string().contains("WEBHOOK_TRACE_MODE=\"child\""),
            "{error}"
        );
    }
}
