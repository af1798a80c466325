//! `smoke-test`: proves a deployed pipeline end to end. It reads the signing secret from
//! Secrets Manager, posts one signed test event (type `smoke_test.ping`, which the worker
//! records as ignored) to the endpoint, and polls DynamoDB until the event record appears.
//! Exit 0 and the record's trace id, or 1 with what went wrong.

use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;
use stripe_signature::{SigningSecrets, sign};
use webhook_worker::store::dynamodb::{PARTITION_KEY, SORT_KEY};

const USAGE: &str = "usage: smoke-test --endpoint <webhook URL> --secret-arn <signing secret ARN> --table <table name> [--timeout-secs 120]";
const POLL_INTERVAL: Duration = Duration::from_secs(2);

struct Options {
    endpoint: String,
    secret_arn: String,
    table: String,
    timeout: Duration,
}

fn options() -> Result<Options, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        args.iter()
            .position(|arg| arg == flag)
            .and_then(|index| args.get(index + 1))
            .cloned()
            .ok_or_else(|| format!("{flag} is missing\n{USAGE}"))
    };
    let timeout = match value("--timeout-secs") {
        Ok(secs) => secs
            .parse()
            .map_err(|_| format!("--timeout-secs {secs:?} is not a number of seconds"))?,
        Err(_) => 120,
    };
    Ok(Options {
        endpoint: value("--endpoint")?,
        secret_arn: value("--secret-arn")?,
        table: value("--table")?,
        timeout: Duration::from_secs(timeout),
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    match options() {
        Err(message) => {
            eprintln!("{message}");
            ExitCode::from(2)
        }
        Ok(options) => match run(options).await {
            Ok(summary) => {
                println!("{summary}");
                ExitCode::SUCCESS
            }
            Err(message) => {
                eprintln!("smoke test failed: {message}");
                ExitCode::FAILURE
            }
        },
    }
}

async fn run(options: Options) -> Result<String, String> {
    let aws = sdk_config::load().await;
    let secret = aws_sdk_secretsmanager::Client::new(&aws)
        .get_secret_value()
        .secret_id(&options.secret_arn)
        .send()
        .await
        .map_err(|e| {
            format!(
                "cannot read {}: {}",
                options.secret_arn,
                aws_sdk_secretsmanager::error::DisplayErrorContext(e)
            )
        })?;
    // The first secret is the current one (the others are kept during a rotation).
    let secret = secret
        .secret_string()
        .filter(|value| SigningSecrets::parse(value).is_some())
        .and_then(|value| {
            value
                .split(|c: char| c == ',' || c.is_whitespace())
                .find(|s| !s.is_empty())
        })
        .ok_or_else(|| {
            format!(
                "{} holds no signing secret; put one there first",
                options.secret_arn
            )
        })?
        .to_owned();

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
        &secret,
        i64::try_from(now.as_secs()).unwrap_or(i64::MAX),
        body.as_bytes(),
    );
    let response = reqwest::Client::new()
        .post(&options.endpoint)
        .header("content-type", "application/json")
        .header("stripe-signature", signature)
        .body(body)
        .send()
        .await
        .map_err(|e| format!("POST {}: {e}", options.endpoint))?;
    let status = response.status();
    let answer = response.text().await.unwrap_or_default();
    if status.as_u16() != 202 {
        return Err(format!("POST {} answered {status}: {answer}", options.endpoint));
    }

    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let started = Instant::now();
    loop {
        let item = dynamodb
            .get_item()
            .table_name(&options.table)
            .key(PARTITION_KEY, AttributeValue::S(format!("EVENT#{event_id}")))
            .key(SORT_KEY, AttributeValue::S("EVENT".to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "cannot read {}: {}",
                    options.table,
                    aws_sdk_dynamodb::error::DisplayErrorContext(e)
                )
            })?
            .item;
        if let Some(item) = item {
            let trace = item
                .get("trace_id")
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default();
            let xray = match (trace.get(..8), trace.get(8..)) {
                (Some(epoch), Some(rest)) => format!("1-{epoch}-{rest}"),
                _ => trace.clone(),
            };
            return Ok(format!(
                "smoke test passed: {event_id} accepted ({answer}) and stored in {:.1} s; trace {xray}",
                started.elapsed().as_secs_f64(),
                answer = answer.trim()
            ));
        }
        if started.elapsed() > options.timeout {
            return Err(format!(
                "{event_id} was accepted but not stored within {:?}: check the worker's logs and the DLQ",
                options.timeout
            ));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
