//! Cold starts of the release binaries: each run starts a fresh process against its own
//! runtime API with the production configuration (Terraform's telemetry settings for the
//! transport, SDK clients, moto for AWS, the trace sink for spans) and records the time to the
//! first `GET /next`, the first invocation, its I/O (from the function's own CLIENT and
//! PRODUCER spans) and the peak RSS once the invocation's spans are flushed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lambda_events::sqs::{SqsEvent, SqsMessage, SqsMessageAttribute};
use child_process::ManagedProcess;
use local_pipeline::lambda_service::FunctionSpec;
use local_pipeline::provision::{Provisioned, provision};
use local_pipeline::stack::{FunctionEnvironment, FunctionSpecs, TelemetryTransport};
use local_pipeline::trace_sink::TraceSink;
use moto_server::MotoServer;
use serde::Serialize;
use serde_json::Value;
use terraform_config::pipeline::PipelineSettings;
use trace_reader::span::{SpanKind, SpanRecord};

use runtime_api_emulator::{Answer, Invocation, RuntimeApiEmulator};

/// How long one cold start may take before it counts as hung.
const RUN_DEADLINE: Duration = Duration::from_secs(30);
/// Messages in the worker's first batch: the event source mapping's batch size.
pub(crate) const BATCH_SIZE: usize = 10;
/// The floor's name in the samples and the report.
pub(crate) const FLOOR: &str = "lambda-floor";

#[derive(Debug, thiserror::Error)]
pub(crate) enum ColdStartError {
    #[error("{0}")]
    Setup(String),
    #[error("{function} ({transport}), run {run}: {detail}")]
    Run {
        function: String,
        transport: &'static str,
        run: usize,
        detail: String,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub workspace_root: PathBuf,
    /// Where the release `webhook-api` and `webhook-worker` are.
    pub bin_dir: PathBuf,
    /// The release `lambda-floor`: an empty function, the floor the others are measured against.
    pub floor_binary: PathBuf,
    pub runs: usize,
    pub log_dir: PathBuf,
}

/// One cold start.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Sample {
    pub function: String,
    pub transport: &'static str,
    pub run: usize,
    /// Process start to the first `GET /next`: the init phase.
    pub init_ms: f64,
    /// First `GET /next` to the posted response.
    pub first_invocation_ms: f64,
    /// Wall time of the invocation's CLIENT and PRODUCER spans (overlaps counted once).
    pub io_ms: f64,
    pub first_invocation_beyond_io_ms: f64,
    /// `VmHWM` once the invocation's spans were flushed.
    pub peak_rss_kib: u64,
    /// Bytes of log lines the function wrote in the run (its init and the invocation).
    pub log_bytes: u64,
    /// The invocation's spans as Transaction Search stores them (OTLP JSON with the resource).
    pub span_bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Results {
    pub samples: Vec<Sample>,
    /// moto's latency for the `GetSecretValue` the API makes during init, for context.
    pub secret_fetch_ms: Vec<f64>,
    /// The functions' memory sizes, as Terraform configures them.
    pub api_memory_mb: u32,
    pub worker_memory_mb: u32,
}

pub(crate) async fn measure(options: &Options) -> Result<Results, ColdStartError> {
    let setup = |what: &str| {
        let what = what.to_owned();
        move |error: String| ColdStartError::Setup(format!("{what}: {error}"))
    };
    let terraform_dir = options.workspace_root.join("terraform");
    // The notifier's sender, as the local stack sets it (an environment's own setting in AWS).
    let variables =
        serde_json::json!({ "notification_sender": local_pipeline::stack::LOCAL_NOTIFICATION_SENDER });
    let settings = PipelineSettings::load_with(
        &terraform_dir,
        "local",
        variables.as_object().cloned().unwrap_or_default(),
    )
    .map_err(|e| setup("Terraform settings")(e.to_string()))?;
    // Logs are appended to, and a sample's log bytes are its file's size: start from none.
    match std::fs::remove_dir_all(&options.log_dir) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            return Err(setup("clearing the previous run's logs")(error.to_string()));
        }
        _ => {}
    }
    let (root, moto_log) = (options.workspace_root.clone(), options.log_dir.join("moto.log"));
    let moto = tokio::task::spawn_blocking(move || MotoServer::start_with(&root, None, &moto_log))
        .await
        .map_err(|e| setup("moto")(e.to_string()))?
        .map_err(|e| setup("moto")(e.to_string()))?;
    let sdk = moto.sdk_config().await;
    let provisioned = provision(&sdk, &settings, settings.queue_visibility_timeout_seconds)
        .await
        .map_err(|e| setup("provisioning")(e.to_string()))?;
    let sink = TraceSink::start(0, 0)
        .await
        .map_err(|e| setup("trace sink")(e.to_string()))?;

    let mut transports = Vec::new();
    for transport in [TelemetryTransport::AdotCollector, TelemetryTransport::XrayUdp] {
        let specs = FunctionSpecs::new(&FunctionEnvironment {
            terraform_dir: &terraform_dir,
            settings: &settings,
            provisioned: &provisioned,
            transport,
            sink: &sink,
            moto: &moto,
            bin_dir: &options.bin_dir,
            aws_endpoint: None,
            collector_endpoint: None,
        })
        .map_err(|e| setup("function environment")(e.to_string()))?;
        transports.push((transport, specs));
    }

    // Interleaved, so both transports meet moto in the same state: its latency grows as the
    // table fills, which would otherwise favour whichever transport ran first. The floor runs
    // between them, so it sees the machine as they do.
    let floor = FunctionSpec {
        name: FLOOR.to_owned(),
        binary: options.floor_binary.clone(),
        memory_mb: settings.worker_memory_size,
        timeout: std::time::Duration::from_secs(u64::from(settings.worker_timeout_seconds)),
        env: Vec::new(),
    };
    let mut samples = Vec::new();
    for run in 0..options.runs {
        let request_id = format!("cold-{FLOOR}-{run}");
        let invocation = Invocation::new(&request_id, FLOOR, b"{}".to_vec());
        let log = options.log_dir.join(format!("{request_id}.log"));
        let mut sample = one_cold_start(FLOOR, floor.command(""), invocation, &sink, &log)
            .await
            .map_err(|detail| ColdStartError::Run {
                function: FLOOR.to_owned(),
                transport: "-",
                run,
                detail,
            })?;
        sample.transport = "-";
        sample.run = run;
        samples.push(sample);
        for (transport, specs) in &transports {
            let functions = [
                Some(("webhook-api", &specs.api)),
                Some(("webhook-worker", &specs.worker)),
                specs.notifier.as_ref().map(|spec| ("webhook-notifier", spec)),
            ];
            for (function, spec) in functions.into_iter().flatten() {
                let run_error = |detail: String| ColdStartError::Run {
                    function: function.to_owned(),
                    transport: transport.as_str(),
                    run,
                    detail,
                };
                let request_id = format!("cold-{function}-{}-{run}", transport.as_str());
                let body = match function {
                    "webhook-api" => api_event(&options.workspace_root, &provisioned, &request_id),
                    "webhook-notifier" => notifier_event(&sdk, &provisioned, &request_id).await,
                    _ => worker_event(&provisioned, &request_id),
                }
                .map_err(run_error)?;
                let invocation = Invocation {
                    trace_header: xray_header(run),
                    ..Invocation::new(&request_id, &spec.name, body)
                };
                let log = options.log_dir.join(format!("{request_id}.log"));
                let mut sample = one_cold_start(function, spec.command(""), invocation, &sink, &log)
                    .await
                    .map_err(run_error)?;
                sample.transport = transport.as_str();
                sample.run = run;
                samples.push(sample);
            }
        }
    }

    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let mut secret_fetch_ms = Vec::new();
    for _ in 0..options.runs {
        let started = Instant::now();
        secrets
            .get_secret_value()
            .secret_id(&provisioned.secret_arn)
            .send()
            .await
            .map_err(|e| setup("GetSecretValue")(e.to_string()))?;
        secret_fetch_ms.push(millis(started.elapsed()));
    }
    Ok(Results {
        samples,
        secret_fetch_ms,
        api_memory_mb: settings.api_memory_size,
        worker_memory_mb: settings.worker_memory_size,
    })
}

async fn one_cold_start(
    function: &str,
    mut command: std::process::Command,
    invocation: Invocation,
    sink: &TraceSink,
    log: &Path,
) -> Result<Sample, String> {
    let mut runtime_api = RuntimeApiEmulator::start()
        .await
        .map_err(|e| format!("runtime API: {e}"))?;
    runtime_api.invoke(invocation.clone());
    command.env("AWS_LAMBDA_RUNTIME_API", runtime_api.address());

    let started = Instant::now();
    let mut process = ManagedProcess::spawn(function, command, log).map_err(|e| e.to_string())?;
    // The second GET /next is never answered: the sandbox is frozen there.
    let finished = tokio::time::timeout(
        RUN_DEADLINE,
        runtime_api.wait_for(|record| record.next_requests.len() >= 2 || record.init_error.is_some()),
    )
    .await;
    let record = match finished {
        Ok(record) => record,
        Err(_) => {
            return Err(format!(
                "no second GET /next within {RUN_DEADLINE:?}; log {}:\n{}",
                log.display(),
                process.log_tail(20)
            ));
        }
    };
    let failure = match (&record.init_error, record.answers.first()) {
        (Some((_, body)), _) => Some(format!("init error: {}", String::from_utf8_lossy(body))),
        (None, Some((_, _, Answer::Error { body, .. }))) => {
            Some(format!("invocation error: {}", String::from_utf8_lossy(body)))
        }
        _ => None,
    };
    if let Some(error) = failure {
        return Err(format!(
            "{error}; log {}:\n{}",
            log.display(),
            process.log_tail(20)
        ));
    }
    let peak_rss_kib = peak_rss_kib(process.pid()).ok_or("cannot read VmHWM from /proc")?;
    process.stop();

    let (Some(first_next), Some((responded, _, Answer::Response(body)))) = (
        record.next_requests.first().copied(),
        record.answers.first().cloned(),
    ) else {
        return Err("the runtime API saw no invocation".to_owned());
    };
    check_response(function, &body)?;
    // The floor exports no spans: it does no I/O.
    let spans = match function {
        FLOOR => Vec::new(),
        _ => invocation_spans(sink, &invocation.request_id).await?,
    };
    let io_ms = io_wall_time_ms(&spans);
    let store = sink.store();
    let span_bytes = spans
        .iter()
        .filter_map(|span| store.stored_bytes(&span.span_id))
        .sum();
    let log_bytes = std::fs::metadata(log)
        .map(|metadata| metadata.len())
        .unwrap_or_default();
    let first_invocation_ms = millis(responded.duration_since(first_next));
    Ok(Sample {
        function: function.to_owned(),
        // Filled in by the caller, which knows the run.
        transport: "",
        run: 0,
        init_ms: millis(first_next.duration_since(started)),
        first_invocation_ms,
        io_ms,
        first_invocation_beyond_io_ms: (first_invocation_ms - io_ms).max(0.0),
        peak_rss_kib,
        log_bytes,
        span_bytes,
    })
}

/// The spans of the invocation `request_id` and everything in the same export, waiting (with a
/// deadline) for the invocation span: UDP datagrams may land a moment after the flush.
async fn invocation_spans(sink: &TraceSink, request_id: &str) -> Result<Vec<SpanRecord>, String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let spans = sink.spans();
        if let Some(invocation) = spans
            .iter()
            .find(|span| span.attribute("faas.invocation_id") == Some(request_id))
        {
            let service = invocation.service.clone();
            let from = invocation.start_unix_nanos;
            let to = invocation.end_unix_nanos;
            return Ok(spans
                .into_iter()
                .filter(|span| {
                    span.service == service && span.start_unix_nanos >= from && span.end_unix_nanos <= to
                })
                .collect());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the invocation span of {request_id} never reached the sink"
            ));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Wall time covered by CLIENT and PRODUCER spans, overlapping intervals merged.
pub(crate) fn io_wall_time_ms(spans: &[SpanRecord]) -> f64 {
    let mut intervals: Vec<(u64, u64)> = spans
        .iter()
        .filter(|span| matches!(span.kind, SpanKind::Client | SpanKind::Producer))
        .map(|span| (span.start_unix_nanos, span.end_unix_nanos))
        .collect();
    intervals.sort_unstable();
    let mut covered = 0_u64;
    let mut current: Option<(u64, u64)> = None;
    for (start, end) in intervals {
        current = match current {
            Some((from, to)) if start <= to => Some((from, to.max(end))),
            Some((from, to)) => {
                covered += to - from;
                Some((start, end))
            }
            None => Some((start, end)),
        };
    }
    if let Some((from, to)) = current {
        covered += to - from;
    }
    covered as f64 / 1e6
}

fn check_response(function: &str, body: &[u8]) -> Result<(), String> {
    let response: Value = serde_json::from_slice(body).map_err(|e| format!("response is not JSON: {e}"))?;
    let ok = match function {
        FLOOR => response.is_object(),
        "webhook-api" => response["statusCode"] == 202,
        _ => response["batchItemFailures"]
            .as_array()
            .is_some_and(Vec::is_empty),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("unexpected response {response}"))
    }
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

/// A sampled X-Ray context for the invocation, as Lambda passes with active tracing.
fn xray_header(run: usize) -> String {
    format!(
        "Root=1-{:08x}-0000c01d{:016x};Parent={:016x};Sampled=1",
        unix_now(),
        run,
        0x5ca1_ab1e_u64 + run as u64
    )
}

/// A Stripe event id (letters, digits, underscores) unique to the run and message.
fn event_id(request_id: &str, index: Option<usize>) -> String {
    let base = request_id.replace(['-', '.'], "_");
    match index {
        Some(index) => format!("evt_{base}_{index}"),
        None => format!("evt_{base}"),
    }
}

fn stripe_event(event_id: &str, customer: &str) -> Vec<u8> {
    serde_json::json!({
        "id": event_id,
        "object": "event",
        "type": "payment_intent.payment_failed",
        "created": unix_now(),
        "livemode": false,
        "data": {"object": {"id": "pi_cold", "object": "payment_intent", "customer": customer}},
    })
    .to_string()
    .into_bytes()
}

/// An API Gateway REST request carrying a signed event, from the repository's sample envelope.
fn api_event(workspace_root: &Path, provisioned: &Provisioned, request_id: &str) -> Result<Vec<u8>, String> {
    let path = workspace_root.join("events/lambda/apigw-rest-request.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut envelope: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let body = stripe_event(&event_id(request_id, None), "cus_cold");
    let signature = stripe_signature::sign(&provisioned.signing_secret, unix_now(), &body);
    for headers in ["headers", "multiValueHeaders"] {
        if let Some(map) = envelope[headers].as_object_mut() {
            map.retain(|name, _| !name.eq_ignore_ascii_case("stripe-signature"));
            let value = match headers {
                "headers" => Value::from(signature.clone()),
                _ => Value::from(vec![signature.clone()]),
            };
            map.insert("Stripe-Signature".to_owned(), value);
        }
    }
    envelope["body"] = Value::from(String::from_utf8_lossy(&body).into_owned());
    envelope["isBase64Encoded"] = Value::from(false);
    serde_json::to_vec(&envelope).map_err(|e| e.to_string())
}

/// A full batch from the table's stream: ten inserts of pending notifications, each carrying its
/// producer's `traceparent`, with the items in the table as the worker writes them, so each
/// record is read, sent through SES and marked as in production.
async fn notifier_event(
    sdk: &aws_config::SdkConfig,
    provisioned: &Provisioned,
    request_id: &str,
) -> Result<Vec<u8>, String> {
    let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
    let stream_arn = provisioned
        .notifier
        .as_ref()
        .map(|notifier| notifier.stream_arn.clone())
        .unwrap_or_default();
    let mut records = Vec::new();
    for index in 0..BATCH_SIZE {
        let event_id = event_id(request_id, Some(index));
        let traceparent = format!("00-{:08x}{:024x}-{:016x}-01", unix_now(), index + 1, index + 1);
        let image = serde_json::json!({
            "pk": {"S": event_table::notification_partition(&event_id)},
            "sk": {"S": event_table::NOTIFICATION_SORT},
            "status": {"S": "pending"}, "kind": {"S": "payment_failed"},
            "event_id": {"S": event_id}, "customer_id": {"S": format!("cus_cold_{index}")},
            "email": {"S": format!("cus_cold_{index}@example.com")},
            "trace_context": {"M": {"traceparent": {"S": traceparent}}},
        });
        let mut item = event_table::notification_key(&event_id);
        item.extend([
            (
                "status".to_owned(),
                aws_sdk_dynamodb::types::AttributeValue::S("pending".to_owned()),
            ),
            (
                "event_id".to_owned(),
                aws_sdk_dynamodb::types::AttributeValue::S(event_id.clone()),
            ),
        ]);
        dynamodb
            .put_item()
            .table_name(&provisioned.table_name)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())?;
        records.push(serde_json::json!({
            "eventID": format!("{request_id}-{index}"), "eventName": "INSERT", "eventVersion": "1.1",
            "eventSource": "aws:dynamodb", "awsRegion": "us-east-1", "eventSourceARN": stream_arn,
            "dynamodb": {
                "ApproximateCreationDateTime": unix_now(), "Keys": {"pk": image["pk"], "sk": image["sk"]},
                "NewImage": image, "SequenceNumber": format!("{}{index:04}", unix_now()),
                "SizeBytes": 300, "StreamViewType": "NEW_IMAGE",
            },
        }));
    }
    serde_json::to_vec(&serde_json::json!({ "Records": records })).map_err(|e| e.to_string())
}

/// A full batch from the queue, each message with its producer's `traceparent`.
fn worker_event(provisioned: &Provisioned, request_id: &str) -> Result<Vec<u8>, String> {
    let records = (0..BATCH_SIZE)
        .map(|index| {
            let mut message = SqsMessage::default();
            message.message_id = Some(format!("{request_id}-{index}"));
            message.receipt_handle = Some(format!("receipt-{request_id}-{index}"));
            message.body = Some(
                String::from_utf8_lossy(&stripe_event(
                    &event_id(request_id, Some(index)),
                    &format!("cus_cold_{index}"),
                ))
                .into_owned(),
            );
            message.event_source = Some("aws:sqs".to_owned());
            message.event_source_arn = Some(provisioned.queue_arn.clone());
            message.aws_region = Some("us-east-1".to_owned());
            message
                .attributes
                .insert("ApproximateReceiveCount".to_owned(), "1".to_owned());
            let mut traceparent = SqsMessageAttribute::default();
            traceparent.data_type = Some("String".to_owned());
            traceparent.string_value = Some(format!(
                "00-{:08x}{:024x}-{:016x}-01",
                unix_now(),
                index + 1,
                index + 1
            ));
            message
                .message_attributes
                .insert("traceparent".to_owned(), traceparent);
            message
        })
        .collect();
    let mut event = SqsEvent::default();
    event.records = records;
    serde_json::to_vec(&event).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use trace_reader::span::SpanStatus;

    fn span(kind: SpanKind, start_ms: u64, end_ms: u64) -> SpanRecord {
        SpanRecord {
            service: "svc".into(),
            trace_id: String::new(),
            span_id: String::new(),
            parent_span_id: String::new(),
            name: String::new(),
            kind,
            start_unix_nanos: start_ms * 1_000_000,
            end_unix_nanos: end_ms * 1_000_000,
            status: SpanStatus::Unset,
            attributes: BTreeMap::new(),
            links: Vec::new(),
            events: Vec::new(),
            sampled: true,
        }
    }

    #[test]
    fn overlapping_io_counts_once_and_other_spans_not_at_all() {
        let spans = [
            span(SpanKind::Server, 0, 100),
            span(SpanKind::Client, 10, 20),
            span(SpanKind::Client, 15, 30),
            span(SpanKind::Producer, 50, 55),
            span(SpanKind::Consumer, 60, 90),
        ];
        assert!((io_wall_time_ms(&spans) - 25.0).abs() < 1e-9);
        assert_eq!(io_wall_time_ms(&[]), 0.0);
    }
}
