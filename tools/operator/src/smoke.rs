//! The smoke test of a deployed pipeline (or of the local pipeline): one signed test event, posted
//! with its own sampled X-Ray trace header, must be stored, and its trace, read the way AWS
//! serves it ([`trace_reader::source`]), must hold every part from API Gateway to the DynamoDB
//! write ([`trace_reader::pipeline`]). A secret it cannot sign with fails it.
//!
//! `operator smoke` ([`run`]) is what `make smoke` and the deploy workflow's smoke job run. The
//! steps are functions so the tests can run each against moto: [`signing_secret`],
//! [`post_test_event`], [`wait_for_record`], [`wait_for_trace`].

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use event_table::event_record_key;
use stripe_signature::{SigningSecrets, sign};
use trace_reader::pipeline::{Part, missing_parts};
use trace_reader::source::TraceSource;
use trace_reader::span::SpanRecord;
use trace_reader::waterfall::{render_trace, xray_trace_id};

/// Why the smoke test could not prove the deploy.
#[derive(Debug, thiserror::Error)]
pub enum SmokeError {
    /// The signing secret could not be read.
    #[error("cannot read the signing secret {secret}: {detail}")]
    Secret {
        /// The secret's ARN.
        secret: String,
        /// Secrets Manager's answer.
        detail: String,
    },
    /// The webhook could not be posted.
    #[error("POST {endpoint} failed: {detail}")]
    Post {
        /// The webhook URL.
        endpoint: String,
        /// What went wrong.
        detail: String,
    },
    /// The endpoint refused the webhook.
    #[error("POST {endpoint} answered {status}: {body}")]
    Refused {
        /// The webhook URL.
        endpoint: String,
        /// The HTTP status.
        status: u16,
        /// The response body.
        body: String,
    },
    /// The table could not be read.
    #[error("cannot read {table}: {detail}")]
    Table {
        /// The table's name.
        table: String,
        /// DynamoDB's answer.
        detail: String,
    },
    /// The event was accepted but its record never appeared.
    #[error("{event_id} was accepted but not stored within {waited:?}: check the worker's logs and the DLQ")]
    NotStored {
        /// The test event's id.
        event_id: String,
        /// How long the record was waited for.
        waited: Duration,
    },
    /// The trace could not be read.
    #[error("the trace could not be read: {0}")]
    Trace(#[from] trace_reader::source::SourceError),
    #[error(
        "the signing secret {secret} has no value yet, so the smoke test cannot sign a webhook: put the Stripe endpoint's signing secret with\n  aws secretsmanager put-secret-value --secret-id {secret} --secret-string 'whsec_...'\n(terraform/bootstrap/README.md, \"The signing secrets\"), then run `make smoke` again"
    )]
    /// The signing secret exists but holds no value yet.
    NoSigningSecret {
        /// The secret's ARN.
        secret: String,
    },
}

/// The signing secret, or the news that it has none yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretState {
    /// The current secret (the first of a comma-separated rotation list).
    Value(String),
    /// The secret exists without a value: nobody has put the Stripe endpoint's secret yet.
    NoValueYet,
}

impl SecretState {
    /// The secret to sign with, or the error that names the command that puts it.
    pub fn into_value(self, secret_id: &str) -> Result<String, SmokeError> {
        match self {
            Self::Value(value) => Ok(value),
            Self::NoValueYet => Err(SmokeError::NoSigningSecret {
                secret: secret_id.to_owned(),
            }),
        }
    }
}

/// Whether the secret's values are hidden from the log it runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Masks {
    /// In a GitHub Actions job: print `::add-mask::` for every value before anything else.
    GitHubActions,
    /// Anywhere else: nothing to hide from.
    Off,
}

impl Masks {
    /// GitHub Actions sets `GITHUB_ACTIONS=true` in every job.
    pub fn from_environment() -> Self {
        match std::env::var("GITHUB_ACTIONS").as_deref() {
            Ok("true") => Self::GitHubActions,
            _ => Self::Off,
        }
    }
}

/// The workflow commands that make GitHub Actions print `***` for the secret string and for
/// each secret of a rotation list in it.
pub fn github_masks(raw: &str) -> Vec<String> {
    let mut values = vec![raw.trim()];
    for part in raw.split(|c: char| c == ',' || c.is_whitespace()) {
        if !part.is_empty() && !values.contains(&part) {
            values.push(part);
        }
    }
    values
        .into_iter()
        .filter(|value| !value.is_empty())
        .map(|value| format!("::add-mask::{value}"))
        .collect()
}

/// Reads the signing secret; a secret that exists without a current value is told apart from
/// one that does not exist. With `Masks::GitHubActions` its values are masked in the job's log
/// as soon as they are read.
pub async fn signing_secret(
    client: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
    masks: Masks,
) -> Result<SecretState, SmokeError> {
    let failed = |detail: String| SmokeError::Secret {
        secret: secret_id.to_owned(),
        detail,
    };
    let output = match client.get_secret_value().secret_id(secret_id).send().await {
        Ok(output) => output,
        Err(error) => {
            // Secrets Manager answers ResourceNotFoundException both for a missing secret and for
            // one without an AWSCURRENT version; DescribeSecret tells them apart.
            if matches!(
                error.as_service_error(),
                Some(GetSecretValueError::ResourceNotFoundException(_))
            ) && client.describe_secret().secret_id(secret_id).send().await.is_ok()
            {
                return Ok(SecretState::NoValueYet);
            }
            return Err(failed(
                aws_sdk_secretsmanager::error::DisplayErrorContext(error).to_string(),
            ));
        }
    };
    let value = output.secret_string().unwrap_or_default();
    if masks == Masks::GitHubActions {
        for mask in github_masks(value) {
            println!("{mask}");
        }
    }
    if SigningSecrets::parse(value).is_none() {
        return Ok(SecretState::NoValueYet);
    }
    value
        .split(|c: char| c == ',' || c.is_whitespace())
        .find(|part| !part.is_empty())
        .map(|current| SecretState::Value(current.to_owned()))
        .ok_or_else(|| failed("it holds no secret".to_owned()))
}

/// A new sampled X-Ray trace: the `X-Amzn-Trace-Id` header to send, and the trace id in the
/// 32-hex-digit form spans carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceHeader {
    /// The `X-Amzn-Trace-Id` header sent with the webhook.
    pub header: String,
    /// Its trace id, in W3C form, as the event record keeps it.
    pub trace_id: String,
}

impl TraceHeader {
    /// A new sampled root trace header, its id from `now` and randomness.
    pub fn new(now: SystemTime) -> Self {
        let epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as u32;
        // RandomState is seeded from the OS for each process: enough for a trace id.
        let random = |salt: u64| {
            let mut hasher = RandomState::new().build_hasher();
            hasher.write_u64(salt);
            hasher.finish()
        };
        let unique = format!("{:016x}{:08x}", random(1), random(2) as u32);
        Self {
            header: format!("Root=1-{epoch:08x}-{unique};Sampled=1"),
            trace_id: format!("{epoch:08x}{unique}"),
        }
    }
}

/// What was sent.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The test event's id.
    pub event_id: String,
    /// What the endpoint answered.
    pub answer: String,
}

/// Posts one signed `smoke_test.ping` event (recorded as ignored by the worker).
pub async fn post_test_event(
    http: &reqwest::Client,
    endpoint: &str,
    secret: &str,
    trace: &TraceHeader,
) -> Result<Sent, SmokeError> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let event_id = format!("evt_smoke_{}_{}", now.as_secs(), now.subsec_nanos());
    let body = serde_json::json!({
        "id": event_id,
        "object": "event",
        "type": "smoke_test.ping",
        "created": now.as_secs(),
        "livemode": false,
        "data": {"object": {"object": "smoke_test"}},
    })
    .to_string();
    let signature = sign(
        secret,
        i64::try_from(now.as_secs()).unwrap_or(i64::MAX),
        body.as_bytes(),
    );
    let response = http
        .post(endpoint)
        .header("content-type", "application/json")
        .header("stripe-signature", signature)
        .header("x-amzn-trace-id", &trace.header)
        .body(body)
        .send()
        .await
        .map_err(|error| SmokeError::Post {
            endpoint: endpoint.to_owned(),
            detail: error.to_string(),
        })?;
    let status = response.status().as_u16();
    let answer = response.text().await.unwrap_or_default();
    if status != 202 {
        return Err(SmokeError::Refused {
            endpoint: endpoint.to_owned(),
            status,
            body: answer,
        });
    }
    Ok(Sent { event_id, answer })
}

/// The stored event record's trace id (W3C form), once the record exists.
pub async fn wait_for_record(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    event_id: &str,
    timeout: Duration,
) -> Result<String, SmokeError> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(250);
    loop {
        let item = dynamodb
            .get_item()
            .table_name(table)
            .set_key(Some(event_record_key(event_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| SmokeError::Table {
                table: table.to_owned(),
                detail: aws_sdk_dynamodb::error::DisplayErrorContext(error).to_string(),
            })?
            .item;
        if let Some(item) = item {
            return Ok(item
                .get("trace_id")
                .and_then(|value| value.as_s().ok())
                .cloned()
                .unwrap_or_default());
        }
        if started.elapsed() > timeout {
            return Err(SmokeError::NotStored {
                event_id: event_id.to_owned(),
                waited: timeout,
            });
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

/// The trace, once it holds every part from API Gateway to the DynamoDB write or the deadline
/// passed: its spans and what it lacks. Spans recorded from `since` on are read.
pub async fn wait_for_trace(
    source: &TraceSource,
    trace_id: &str,
    since: SystemTime,
    timeout: Duration,
) -> Result<(Vec<SpanRecord>, Vec<Part>), SmokeError> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(500);
    loop {
        let spans = source.trace(trace_id, since, SystemTime::now()).await?;
        let missing = missing_parts(&spans, true);
        if missing.is_empty() || started.elapsed() + pause > timeout {
            return Ok((spans, missing));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(10));
    }
}

/// What `operator smoke` was given.
#[derive(Debug)]
pub struct SmokeOptions {
    endpoint: String,
    secret_arn: String,
    table: String,
    timeout: Duration,
    trace_timeout: Duration,
}

/// Reads `operator smoke`'s flags (after the command word); the message says what is wrong.
pub fn options(args: &[String]) -> Result<SmokeOptions, String> {
    let value = |flag: &str| {
        args.iter()
            .position(|arg| arg == flag)
            .and_then(|index| args.get(index + 1))
            .cloned()
    };
    let required = |flag: &str| value(flag).ok_or_else(|| format!("{flag} is missing"));
    let seconds = |flag: &str, default: u64| match value(flag) {
        Some(text) => text
            .parse()
            .map(Duration::from_secs)
            .map_err(|_| format!("{flag} {text:?} is not a number of seconds")),
        None => Ok(Duration::from_secs(default)),
    };
    Ok(SmokeOptions {
        endpoint: required("--endpoint")?,
        secret_arn: required("--secret-arn")?,
        table: required("--table")?,
        timeout: seconds("--timeout-secs", 120)?,
        trace_timeout: seconds("--trace-timeout-secs", 90)?,
    })
}

/// Posts the test event, waits for its record, then checks its trace.
pub async fn run(options: SmokeOptions) -> Result<ExitCode, SmokeError> {
    let aws = sdk_config::load().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&aws);
    let secret = signing_secret(&secrets, &options.secret_arn, Masks::from_environment())
        .await?
        .into_value(&options.secret_arn)?;
    let started = SystemTime::now();
    let trace = TraceHeader::new(started);
    let event_id = post(&options, &secret, &trace).await?;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let recorded = wait_for_record(&dynamodb, &options.table, &event_id, options.timeout).await?;
    println!("stored: {event_id} in {}", options.table);
    let source = TraceSource::new(&aws);
    check_trace(&options, &source, &trace, &event_id, &recorded, started).await
}

/// Posts the signed test event under its own trace header; the event's id.
async fn post(options: &SmokeOptions, secret: &str, trace: &TraceHeader) -> Result<String, SmokeError> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_default();
    let sent = post_test_event(&http, &options.endpoint, secret, trace).await?;
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
    options: &SmokeOptions,
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
    let (spans, missing) = wait_for_trace(source, recorded, since, options.trace_timeout).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_secret_of_a_rotation_list_is_masked() {
        assert_eq!(github_masks("whsec_a"), vec!["::add-mask::whsec_a"]);
        assert_eq!(
            github_masks("whsec_a, whsec_b"),
            vec![
                "::add-mask::whsec_a, whsec_b",
                "::add-mask::whsec_a",
                "::add-mask::whsec_b"
            ]
        );
        assert!(github_masks("  ").is_empty());
    }

    #[test]
    fn trace_headers_are_sampled_x_ray_roots() {
        let header = TraceHeader::new(UNIX_EPOCH + Duration::from_secs(0x6b07_2030));
        assert!(header.header.starts_with("Root=1-6b072030-"), "{}", header.header);
        assert!(header.header.ends_with(";Sampled=1"));
        assert_eq!(header.trace_id.len(), 32);
        assert!(header.trace_id.starts_with("6b072030"));
        assert_ne!(
            TraceHeader::new(SystemTime::now()),
            TraceHeader::new(SystemTime::now())
        );
    }
}
