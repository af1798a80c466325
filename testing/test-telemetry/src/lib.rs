#![doc = include_str!("../README.md")]
// A harness failure is a failed test, not a crash on input.
#![allow(clippy::expect_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    InMemorySpanExporter, SimpleSpanProcessor, SpanData, SpanExporter, SpanProcessor,
};
use shared_telemetry::{DEFAULT_MAX_BUFFERED, InvocationSpanProcessor};
use shared_telemetry::{Telemetry, TelemetryBuilder, TelemetryConfig};
use test_support::spans::CapturedSpans;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

#[derive(Debug)]
/// Telemetry for one test: spans captured in memory, log lines in a buffer, installed as the
/// thread's default subscriber until dropped.
pub struct TestTelemetry {
    /// The telemetry, as the code under test gets it.
    pub telemetry: Telemetry,
    /// Every finished span.
    pub spans: CapturedSpans,
    /// Every log line written.
    pub logs: LogBuffer,
    _guard: tracing::dispatcher::DefaultGuard,
}

impl TestTelemetry {
    /// Telemetry configured from `vars` (as if they were the environment), spans exported as
    /// soon as they end. Use it from the thread (or current-thread runtime) that creates spans.
    pub fn new(vars: &[(&str, &str)]) -> Self {
        Self::with_processor(vars, SimpleSpanProcessor::new)
    }

    /// As [`Self::new`], with the span processor `processor` builds around the in-memory exporter.
    pub fn with_processor<P: SpanProcessor + 'static>(
        vars: &[(&str, &str)],
        processor: impl FnOnce(InMemorySpanExporter) -> P,
    ) -> Self {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let config = TelemetryConfig::from_lookup("telemetry-test", |name| {
            vars.iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
        })
        .expect("valid test configuration");
        let spans = CapturedSpans::new();
        let logs = LogBuffer::default();
        let (telemetry, dispatch) = TelemetryBuilder::new(config)
            .with_span_processor(processor(spans.exporter()))
            .with_log_writer(logs.make_writer())
            .build()
            .expect("telemetry builds");
        let guard = tracing::dispatcher::set_default(&dispatch);
        Self {
            telemetry,
            spans,
            logs,
            _guard: guard,
        }
    }
}

/// Log lines written by the subscriber, kept for assertions.
#[derive(Clone, Debug, Default)]
pub struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl LogBuffer {
    fn make_writer(&self) -> BoxMakeWriter {
        let buffer = self.clone();
        BoxMakeWriter::new(move || buffer.clone())
    }

    /// Every line, parsed as JSON.
    pub fn lines(&self) -> Vec<serde_json::Value> {
        let bytes = self.0.lock().expect("log buffer lock").clone();
        String::from_utf8(bytes)
            .expect("log output is UTF-8")
            .lines()
            .map(|line| serde_json::from_str(line).expect("every log line is JSON"))
            .collect()
    }
}

impl Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer lock").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The production pipeline for benchmarks: the configured sampler, ids and propagators, the
/// invocation span processor as in Lambda, and an exporter that discards, so a benchmark measures
/// span work and not a network. Log lines are discarded too. Install the dispatch around the
/// measured code.
pub fn benchmark_telemetry(vars: &[(&str, &str)]) -> (Telemetry, tracing::Dispatch) {
    let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let config = TelemetryConfig::from_lookup("telemetry-bench", |name| {
        vars.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    })
    .expect("valid benchmark configuration");
    TelemetryBuilder::new(config)
        .with_span_processor(InvocationSpanProcessor::new(
            DiscardingExporter,
            DEFAULT_MAX_BUFFERED,
        ))
        .with_log_writer(BoxMakeWriter::new(std::io::sink))
        .build()
        .expect("telemetry builds")
}

/// Accepts every batch and keeps nothing.
#[derive(Debug)]
struct DiscardingExporter;

impl SpanExporter for DiscardingExporter {
    async fn export(&self, _batch: Vec<SpanData>) -> OTelSdkResult {
        Ok(())
    }
}
