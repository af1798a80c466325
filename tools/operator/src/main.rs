//! `operator trace <event id>` and `operator redrive`, against the `make up` stack
//! (`--local <state file>`) or an AWS environment (`--environment <name> --outputs <terraform
//! output -json file>`), and `operator smoke` against a deployed endpoint. What `make trace`,
//! `make redrive` and `make smoke` run.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use operator::environment::Environment;
use operator::redrive::{self, Mover, Pace};
use operator::{render, smoke, story};

const USAGE: &str = "usage: operator trace <event id> (--local <state file> | --environment <name> --outputs <file>) [--since 7d]
       operator redrive (--local <state file> | --environment <name> --outputs <file>)
       operator smoke --endpoint <webhook URL> --secret-arn <signing secret ARN> --table <table name>
                      [--timeout-secs 120] [--trace-timeout-secs 90]

trace: the event's record, every stage from the functions' log lines (sampled or not), its
traces as waterfalls, or where it was last seen (the DLQ), looking back --since (a number of
days d, hours h or minutes m; default 7d). Exit 0 when it was processed, 1 when it was not found
(or is still on its way), 2 when it failed, was refused or is in the DLQ.
redrive: moves every DLQ message back to the queue, keeping its trace context.
smoke: posts one signed test event with its own sampled trace header, waits for its record, and
passes only if its trace, read as AWS serves it, runs from the HTTP request to the DynamoDB
write. Exit 0 when it does, 1 naming what is missing, 2 on bad flags. AWS_ENDPOINT_URL points it
at the local pipeline.";

/// How far back `trace` looks by default.
const DEFAULT_SINCE: Duration = Duration::from_secs(7 * 24 * 3600);
/// The farthest back it may look: past a year, log groups keep nothing of the kind anyway.
const MAX_SINCE: Duration = Duration::from_secs(400 * 24 * 3600);

struct Options {
    command: String,
    event_id: Option<String>,
    local: Option<PathBuf>,
    environment: Option<String>,
    outputs: Option<PathBuf>,
    since: Duration,
}

fn options(args: &[String]) -> Result<Options, String> {
    let (command, rest) = args.split_first().ok_or("no command given")?;
    let mut options = Options {
        command: command.clone(),
        event_id: None,
        local: None,
        environment: None,
        outputs: None,
        since: DEFAULT_SINCE,
    };
    let mut rest = rest.iter();
    while let Some(arg) = rest.next() {
        let mut value = || rest.next().cloned().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--local" => options.local = Some(value()?.into()),
            "--environment" => options.environment = Some(value()?),
            "--outputs" => options.outputs = Some(value()?.into()),
            "--since" => {
                let text = value()?;
                options.since = parse_since(&text).ok_or_else(|| {
                    format!("--since {text:?} is not a time back such as 7d, 24h or 30m (at most 400d)")
                })?;
            }
            event if options.command == "trace" && options.event_id.is_none() && !event.starts_with("--") => {
                options.event_id = Some(event.to_owned());
            }
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    Ok(options)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(("smoke", flags)) = args
        .split_first()
        .map(|(command, flags)| (command.as_str(), flags))
    {
        return smoke(flags).await;
    }
    let options = match options(&args) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}\n\n{USAGE}");
            return ExitCode::from(64);
        }
    };
    let environment = match (&options.local, &options.environment, &options.outputs) {
        (Some(state), None, None) => Environment::local(state).await,
        (None, Some(name), Some(outputs)) => Environment::aws(name, outputs).await,
        _ => {
            eprintln!("give --local, or --environment with --outputs\n\n{USAGE}");
            return ExitCode::from(64);
        }
    };
    let environment = match environment {
        Ok(environment) => environment,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::from(64);
        }
    };
    match (options.command.as_str(), &options.event_id) {
        ("trace", Some(event_id)) => trace(&environment, event_id, options.since).await,
        ("redrive", None) => redrive(&environment).await,
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(64)
        }
    }
}

/// `operator smoke`: the deployed pipeline proved end to end, trace included.
async fn smoke(flags: &[String]) -> ExitCode {
    let options = match smoke::options(flags) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match smoke::run(options).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("smoke test failed: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `7d`, `24h`, `30m`: a number and a unit.
fn parse_since(text: &str) -> Option<Duration> {
    let (number, unit) = text.split_at_checked(text.len().checked_sub(1)?)?;
    let number: u64 = number.parse().ok().filter(|n| *n > 0)?;
    let seconds = match unit {
        "d" => 24 * 3600,
        "h" => 3600,
        "m" => 60,
        _ => return None,
    };
    Some(Duration::from_secs(number.checked_mul(seconds)?)).filter(|since| *since <= MAX_SINCE)
}

async fn trace(environment: &Environment, event_id: &str, since: Duration) -> ExitCode {
    // Stripe's ids are `evt_` and letters, digits or underscores; anything else is no event's.
    if let Err(error) = webhook_event::EventId::parse(event_id) {
        eprintln!("{event_id:?} is not a Stripe event id: {error}");
        return ExitCode::from(64);
    }
    let since = SystemTime::now() - since;
    match story::gather(environment, event_id, since).await {
        Ok(story) => {
            print!("{}", render::story(&story, environment));
            ExitCode::from(story.verdict().exit_code())
        }
        Err(error) => {
            eprintln!("cannot tell {event_id}'s story: {error}");
            ExitCode::from(64)
        }
    }
}

async fn redrive(environment: &Environment) -> ExitCode {
    let mover = Mover::for_environment(environment);
    println!(
        "Moving the messages of {} back to {} ({}) ...",
        operator::environment::queue_name(&environment.dlq_url),
        operator::environment::queue_name(&environment.queue_url),
        match mover {
            Mover::MoveTask => "SQS message move task",
            Mover::Emulated => "receive, send, delete: moto has no move task",
        }
    );
    let outcome = redrive::redrive(environment, mover, Pace::default(), |progress| {
        match progress.to_move {
            Some(total) => println!("  moved {} of {total}", progress.moved),
            None => println!("  moved {}", progress.moved),
        }
    })
    .await;
    match outcome {
        Ok(0) => {
            println!("The DLQ is empty: nothing to redrive.");
            ExitCode::SUCCESS
        }
        Ok(moved) => {
            println!("Redrove {moved} message(s); `make trace EVENT=...` follows each one.");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("redrive failed: {error}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_is_a_number_and_a_unit() {
        assert_eq!(parse_since("7d"), Some(DEFAULT_SINCE));
        assert_eq!(parse_since("90m"), Some(Duration::from_secs(5400)));
        for bad in ["", "d", "0h", "7", "7w", "-1d", "401d", "99999999999999999999d"] {
            assert_eq!(parse_since(bad), None, "{bad}");
        }
    }
}
