//! `chaos`: what `make chaos` runs. Starts the local pipeline for a chaos run, prints the
//! schedule, runs it, prints the report; exit 0 when every promise held, 1 when one did not,
//! 2 on bad arguments, 130 when interrupted (everything started is stopped first).

use std::process::ExitCode;
use std::time::Duration;

use chaos::run::{self, ChaosOptions};
use chaos::schedule::FaultClass;
use local_pipeline::stack::LocalStack;

const USAGE: &str =
    "usage: chaos [--events N] [--rate R] [--seed S] [--faults LIST] [--lookups N] [--deadline-minutes M]

N signed webhooks (default 10000) at R a second (10) through the local pipeline, with every fault
in LIST (default all: throttle, dynamodb-down, queue-down, kill, slow-store, storm, burst) on a
schedule drawn from seed S (1) and printed before the run. Then: every event stored exactly once,
no doubled effect, both queues empty after the redrive, every process-webhook span in its
producer's trace, events found with the operator's story (every event up to --lookups, 1000),
no panic, every ERROR span typed. QUEUE=fifo and FAN_OUT=sns (FAN_OUT_RAW_MESSAGE_DELIVERY=false
for enveloped) pick the topology.";

fn options(args: &[String]) -> Result<ChaosOptions, String> {
    let mut options = ChaosOptions::default();
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let value = rest.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = |what: &str| -> Result<u64, String> {
            value
                .parse()
                .map_err(|_| format!("{flag} {value:?} is not {what}"))
        };
        match flag.as_str() {
            "--events" => {
                options.events = usize::try_from(number("a number of events")?).map_err(|e| e.to_string())?
            }
            "--rate" => {
                options.rate = value
                    .parse::<f64>()
                    .ok()
                    .filter(|rate| *rate >= 0.1)
                    .ok_or_else(|| {
                        format!("--rate {value:?} is not a number of webhooks a second (at least 0.1)")
                    })?
            }
            "--seed" => options.seed = number("a seed")?,
            "--faults" => options.faults = FaultClass::parse_list(value)?,
            "--lookups" => {
                options.lookup_limit =
                    usize::try_from(number("a number of events")?).map_err(|e| e.to_string())?
            }
            "--deadline-minutes" => {
                options.deadline = Duration::from_secs(number("a number of minutes")? * 60)
            }
            _ => return Err(format!("unknown argument {flag:?}")),
        }
    }
    if options.events == 0 {
        return Err("--events must be at least 1".to_owned());
    }
    Ok(options)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|arg| arg == "--help" || arg == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let (chaos, stack) = match (
        options(&args),
        local_pipeline::stack_env::stack_options_from_env(),
    ) {
        (Ok(chaos), Ok(stack)) => (chaos, run::stack_options(stack)),
        (Err(message), _) | (_, Err(message)) => {
            eprintln!("{message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    tokio::select! {
        code = chaos_run(stack, chaos) => code,
        _ = local_pipeline::stack::interrupted() => {
            // Dropping the run drops the stack, which stops every process it started by PID.
            eprintln!("\ninterrupted: everything started has been stopped");
            ExitCode::from(130)
        }
    }
}

async fn chaos_run(stack_options: local_pipeline::stack::StackOptions, options: ChaosOptions) -> ExitCode {
    println!(
        "Starting the local pipeline for a chaos run (logs in {}) ...",
        stack_options.log_dir.display()
    );
    let mut stack = match LocalStack::start(stack_options).await {
        Ok(stack) => stack,
        Err(error) => {
            eprintln!("could not start the local pipeline: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = run::run(&mut stack, &options).await;
    let code = match outcome {
        Ok(report) if report.passed() => {
            print!("{}", report.render());
            println!("\nAll checks passed.");
            ExitCode::SUCCESS
        }
        Ok(report) => {
            print!("{}", report.render());
            println!(
                "\nSome checks failed; logs are in {}",
                stack.options.log_dir.display()
            );
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!(
                "the chaos run failed: {error}; logs are in {}",
                stack.options.log_dir.display()
            );
            ExitCode::FAILURE
        }
    };
    stack.shutdown().await;
    code
}
