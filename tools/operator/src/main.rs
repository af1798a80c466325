//! `operator trace <event id>` and `operator redrive`, against the `make up` stack
//! (`--local <state file>`) or an AWS environment (`--environment <name> --outputs <terraform
//! output -json file>`). What `make trace` and `make redrive` run.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use operator::environment::Environment;
use operator::redrive::{self, Mover, Pace};
use operator::{render, story};

const USAGE: &str = "usage: operator trace <event id> (--local <state file> | --environment <name> --outputs <file>) [--hours N]
       operator redrive (--local <state file> | --environment <name> --outputs <file>)

trace: the event's record, its trace as a waterfall, or where it was last seen (traces carrying
its id in the last N hours, default 24; the DLQ). Exit 0 when it was processed, 1 when it was
not found (or is still on its way), 2 when it failed or is in the DLQ.
redrive: moves every DLQ message back to the queue, keeping its trace context.";

struct Options {
    command: String,
    event_id: Option<String>,
    local: Option<PathBuf>,
    environment: Option<String>,
    outputs: Option<PathBuf>,
    hours: u64,
}

fn options(args: &[String]) -> Result<Options, String> {
    let (command, rest) = args.split_first().ok_or("no command given")?;
    let mut options = Options {
        command: command.clone(),
        event_id: None,
        local: None,
        environment: None,
        outputs: None,
        hours: 24,
    };
    let mut rest = rest.iter();
    while let Some(arg) = rest.next() {
        let mut value = || rest.next().cloned().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--local" => options.local = Some(value()?.into()),
            "--environment" => options.environment = Some(value()?),
            "--outputs" => options.outputs = Some(value()?.into()),
            "--hours" => {
                let text = value()?;
                options.hours = text
                    .parse()
                    .ok()
                    .filter(|hours| (1..=24 * 30).contains(hours))
                    .ok_or_else(|| format!("--hours {text:?} is not a number of hours from 1 to 720"))?;
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
        ("trace", Some(event_id)) => trace(&environment, event_id, options.hours).await,
        ("redrive", None) => redrive(&environment).await,
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(64)
        }
    }
}

async fn trace(environment: &Environment, event_id: &str, hours: u64) -> ExitCode {
    let since = SystemTime::now() - Duration::from_secs(hours * 3600);
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
