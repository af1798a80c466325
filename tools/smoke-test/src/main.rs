//! `smoke-test`: proves a deployed pipeline end to end, trace included. It posts one signed test
//! event with its own sampled X-Ray trace header, waits for the event record in DynamoDB, then
//! reads the trace back the way AWS serves it (`BatchGetTraces`, or with Transaction Search a
//! trace retrieval) until it holds every part from API Gateway to the DynamoDB write, prints its
//! waterfall, and exits 0, or 1 naming what is missing. A signing secret without a value fails
//! it too, naming the command that puts the value. `AWS_ENDPOINT_URL` points it at the local
//! stack's AWS endpoint; nothing else differs.

use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use smoke_test::{SmokeError, TraceHeader};
use trace_reader::source::TraceSource;
use trace_reader::waterfall::{render_trace, xray_trace_id};

const USAGE: &str =
    "usage: smoke-test --endpoint <webhook URL> --secret-arn <signing secret ARN> --table <table name>
                  [--timeout-secs 120] [--trace-timeout-secs 90]";

struct Options {
    endpoint: String,
    secret_arn: String,
    table: String,
    timeout: Duration,
    trace_timeout: Duration,
}

fn options() -> Result<Options, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        args.iter()
            .position(|arg| arg == flag)
            .and_then(|index| args.get(index + 1))
            .cloned()
    };
    let required = |flag: &str| value(flag).ok_or_else(|| format!("{flag} is missing\n{USAGE}"));
    let seconds = |flag: &str, default: u64| match value(flag) {
        Some(text) => text
            .parse()
            .map(Duration::from_secs)
            .map_err(|_| format!("{flag} {text:?} is not a number of seconds")),
        None => Ok(Duration::from_secs(default)),
    };
    Ok(Options {
        endpoint: required("--endpoint")?,
        secret_arn: required("--secret-arn")?,
        table: required("--table")?,
        timeout: seconds("--timeout-secs", 120)?,
        trace_timeout: seconds("--trace-timeout-secs", 90)?,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let options = match options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    match run(options).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("smoke test failed: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Posts the test event, waits for its record, then checks its trace.
async fn run(options: Options) -> Result<ExitCode, SmokeError> {
    let aws = sdk_config::load().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&aws);
    let secret = smoke_test::signing_secret(
        &secrets,
        &options.secret_arn,
        smoke_test::Masks::from_environment(),
    )
    .await?
    .into_value(&options.secret_arn)?;
    let started = SystemTime::now();
    let trace = TraceHeader::new(started);
    let event_id = post(&options, &secret, &trace).await?;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let recorded = smoke_test::wait_for_record(&dynamodb, &options.table, &event_id, options.timeout).await?;
    println!("stored: {event_id} in {}", options.table);
    let source = TraceSource::new(&aws);
    check_trace(&options, &source, &trace, &event_id, &recorded, started).await
}

/// Posts the signed test event under its own trace header; the event's id.
async fn post(options: &Options, secret: &str, trace: &TraceHeader) -> Result<String, SmokeError> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_default();
    let sent = smoke_test::post_test_event(&http, &options.endpoint, secret, trace).await?;
    println!(
        "posted {} with X-Amzn-Trace-Id {}: {}",
        sent.event_id,
        trace.header,
        sent.answer.trim()
    );
    Ok(sent.event_id)
}

/// Waits for the trace the event was recorded in, prints its waterfall, and passes only if it is
/// the request's trace (behind API Gateway) and holds every part of the pipeline.
async fn check_trace(
    options: &Options,
    source: &TraceSource,
    trace: &TraceHeader,
    event_id: &str,
    recorded: &str,
    started: SystemTime,
) -> Result<ExitCode, SmokeError> {
    let mut missing_notes = Vec::new();
    // API Gateway continues the request's header: the record must be in that trace.
    if recorded != trace.trace_id {
        missing_notes.push(format!(
            "the event was processed in trace {}, not in the request's {}",
            xray_trace_id(recorded),
            trace.header
        ));
    }
    // A minute's margin for clocks; the trace began when the request was sent.
    let since = started - Duration::from_secs(60);
    let (spans, missing) = smoke_test::wait_for_trace(source, recorded, since, options.trace_timeout).await?;
    let described = source.describe().await;
    println!(
        "{}",
        render_trace(&format!("smoke test · {event_id}"), recorded, &spans)
    );
    missing_notes.extend(missing.iter().map(|part| format!("missing: {}", part.describe())));
    if missing_notes.is_empty() {
        println!(
            "smoke test passed: {event_id} stored, and its trace {} in {} runs from the HTTP request to the DynamoDB write",
            xray_trace_id(recorded),
            described
        );
        return Ok(ExitCode::SUCCESS);
    }
    for note in &missing_notes {
        eprintln!("{note}");
    }
    eprintln!(
        "smoke test failed: the trace {} in {} is not connected (waited up to {:?})",
        xray_trace_id(recorded),
        described,
        options.trace_timeout
    );
    Ok(ExitCode::FAILURE)
}
