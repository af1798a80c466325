//! `local-stack demo`: runs the whole pipeline locally, sends the scripted webhooks, prints one
//! waterfall per event and the summary, stops everything it started (also on Ctrl-C), and exits
//! non-zero if an event was lost or a trace is not connected.

use std::process::ExitCode;

use local_stack::scenario;
use local_stack::soak::SoakOptions;
use local_stack::stack::{LocalStack, StackError, StackOptions, TelemetryTransport};
use local_stack::standalone::Resources;

const USAGE: &str = "usage: local-stack demo
       local-stack emulator
       local-stack soak [--events N] [--failure-rate R] [--concurrency C] [--deadline-minutes M]

emulator: moto with the queue, DLQ, table and secret only, and an env file for running one
function alone under `cargo lambda watch`; runs until Ctrl-C.

soak: N signed webhooks (default 10000), C in flight (8), with a share R (0.05) of DynamoDB
requests failing; exits non-zero unless every event is stored exactly once, nothing is
dead-lettered and every message span is in its producer's trace, within M minutes (45).

Runs the webhook pipeline on this machine (moto, cargo-lambda, both functions, an OTLP sink),
sends the scripted webhooks and prints the traces. Ports are free ones unless set:
  LOCAL_STACK_MOTO_PORT, LOCAL_STACK_LAMBDA_PORT, LOCAL_STACK_OTLP_PORT
LOCAL_STACK_BIN_DIR is where the webhook-api and webhook-worker binaries are (target/debug).
TELEMETRY_TRANSPORT is xray-udp (OTLP over UDP to the X-Ray daemon, with the Application Signals
attributes; Terraform's default) or adot-collector (OTLP/HTTP, as to the ADOT collector layer).";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match args.split_first() {
        Some((command, rest)) if command == "demo" && rest.is_empty() => Command::Demo,
        Some((command, rest)) if command == "emulator" && rest.is_empty() => Command::Emulator,
        Some((command, rest)) if command == "soak" => match soak_options(rest) {
            Ok(options) => Command::Soak(options),
            Err(message) => {
                eprintln!("{message}\n\n{USAGE}");
                return ExitCode::from(2);
            }
        },
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut options = match options_from_env() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    if let Command::Emulator = command {
        return emulator(options).await;
    }
    let run = async {
        match command {
            Command::Emulator | Command::Demo => demo(options).await,
            Command::Soak(soak_options) => {
                options.fault_proxy = true;
                soak(options, soak_options).await
            }
        }
    };
    tokio::select! {
        code = run => code,
        _ = interrupted() => {
            // Dropping the demo future drops the stack, which stops every process it started.
            eprintln!("\ninterrupted: everything started has been stopped");
            ExitCode::from(130)
        }
    }
}

enum Command {
    Demo,
    Emulator,
    Soak(SoakOptions),
}

fn soak_options(args: &[String]) -> Result<SoakOptions, String> {
    let mut options = SoakOptions::default();
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let invalid = || format!("{flag} {value:?} is not valid");
        match flag.as_str() {
            "--events" => options.events = value.parse().ok().filter(|n| *n > 0).ok_or_else(invalid)?,
            "--failure-rate" => {
                options.dynamodb_failure_rate = value
                    .parse()
                    .ok()
                    .filter(|rate| (0.0..1.0).contains(rate))
                    .ok_or_else(invalid)?;
            }
            "--concurrency" => {
                options.concurrency = value.parse().ok().filter(|n| *n > 0).ok_or_else(invalid)?
            }
            "--deadline-minutes" => {
                let minutes: u64 = value.parse().ok().filter(|n| *n > 0).ok_or_else(invalid)?;
                options.deadline = std::time::Duration::from_secs(minutes * 60);
            }
            _ => return Err(format!("unknown argument {flag:?}")),
        }
    }
    Ok(options)
}

async fn soak(options: StackOptions, soak_options: SoakOptions) -> ExitCode {
    println!(
        "Starting the local stack with a fault proxy (logs in {}) ...",
        options.log_dir.display()
    );
    let Some(mut stack) = start(options).await else {
        return ExitCode::FAILURE;
    };
    println!(
        "Sending {} webhooks, {} at a time, with {:.0}% of DynamoDB requests failing ...",
        soak_options.events,
        soak_options.concurrency,
        soak_options.dynamodb_failure_rate * 100.0
    );
    let outcome = local_stack::soak::run(&mut stack, &soak_options)
        .await
        .map(|report| (report.render(), report.passed()));
    let code = verdict(&stack, "soak", outcome);
    stack.shutdown().await;
    code
}

async fn demo(options: StackOptions) -> ExitCode {
    println!(
        "Starting the local stack (logs in {}) ...",
        options.log_dir.display()
    );
    let Some(mut stack) = start(options).await else {
        return ExitCode::FAILURE;
    };
    let settings = &stack.settings;
    println!(
        "  queue {} (DLQ {}, maxReceiveCount {}), table {}, secret {}",
        settings.names.queue,
        settings.names.dlq,
        settings.max_receive_count,
        settings.names.table,
        settings.names.secret
    );
    println!(
        "  event source mapping: batch size {}, batching window {} s, visibility timeout {} s (Terraform: {} s)",
        settings.batch_size,
        settings.batching_window_seconds,
        stack.provisioned.visibility_timeout_seconds,
        settings.queue_visibility_timeout_seconds
    );
    println!("  webhooks: POST {}", stack.webhook_url());
    println!(
        "  traces:   {} (telemetry_transport = \"{}\")",
        stack.traces_destination(),
        stack.transport.as_str()
    );
    println!("Sending the scripted webhooks and waiting for the pipeline to drain ...\n");

    let outcome = match scenario::run(&mut stack).await {
        Ok(run) => {
            let report = scenario::report(&stack, &run).await;
            Ok((report.render(), report.passed()))
        }
        Err(error) => Err(error),
    };
    let code = verdict(&stack, "demo", outcome);
    stack.shutdown().await;
    code
}

/// moto with the pipeline's resources until Ctrl-C, and the env file the functions need.
async fn emulator(options: StackOptions) -> ExitCode {
    let resources = match Resources::start(&options).await {
        Ok(resources) => resources,
        Err(error) => {
            eprintln!("could not start the emulator: {error}");
            return ExitCode::FAILURE;
        }
    };
    let env_file = options
        .log_dir
        .parent()
        .unwrap_or(&options.log_dir)
        .join("functions.env");
    let env_file = match resources.write_env_file(&env_file) {
        Ok(path) => path,
        Err(error) => {
            eprintln!("could not write the env file: {error}");
            return ExitCode::FAILURE;
        }
    };
    let shown = env_file
        .strip_prefix(&options.workspace_root)
        .unwrap_or(&env_file)
        .display();
    println!(
        "moto on {} with queue {}, DLQ {}, table {} (Terraform's names for \"{}\")",
        resources.moto.endpoint(),
        resources.settings.names.queue,
        resources.settings.names.dlq,
        resources.settings.names.table,
        local_stack::stack::LOCAL_ENVIRONMENT,
    );
    println!("wrote {shown}: every variable both functions need\n");
    println!("In another terminal, run one function alone (cargo-lambda is in .venv/bin):");
    println!("  export PATH=\"$PWD/.venv/bin:$PATH\"");
    println!("  cargo lambda watch --env-file {shown}");
    println!("and in a third (the same PATH):");
    println!("  cargo lambda invoke webhook-api --data-file events/lambda/webhook-api-request.json");
    println!("  cargo lambda invoke webhook-worker --data-file events/lambda/webhook-worker-batch.json");
    println!("\nCtrl-C stops moto.");
    interrupted().await;
    drop(resources);
    println!("\nstopped moto");
    ExitCode::SUCCESS
}

async fn start(options: StackOptions) -> Option<LocalStack> {
    LocalStack::start(options)
        .await
        .inspect_err(|error| eprintln!("could not start the local stack: {error}"))
        .ok()
}

/// Prints a finished run's report and turns it into the exit code; a failed run points at
/// the logs.
fn verdict(stack: &LocalStack, run: &str, outcome: Result<(String, bool), StackError>) -> ExitCode {
    match outcome {
        Ok((report, true)) => {
            print!("{report}");
            println!("\nAll checks passed.");
            ExitCode::SUCCESS
        }
        Ok((report, false)) => {
            print!("{report}");
            println!(
                "\nSome checks failed; logs are in {}",
                stack.options.log_dir.display()
            );
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("the {run} failed: {error}");
            ExitCode::FAILURE
        }
    }
}

fn options_from_env() -> Result<StackOptions, String> {
    let mut options = StackOptions::for_workspace(&local_stack::workspace_root());
    let port = |name: &str| -> Result<Option<u16>, String> {
        match std::env::var(name) {
            Ok(value) => value
                .parse()
                .map(Some)
                .map_err(|_| format!("{name}={value:?} is not a port number")),
            Err(_) => Ok(None),
        }
    };
    options.moto_port = port("LOCAL_STACK_MOTO_PORT")?;
    options.lambda_port = port("LOCAL_STACK_LAMBDA_PORT")?;
    options.otlp_port = port("LOCAL_STACK_OTLP_PORT")?.unwrap_or(0);
    if let Some(dir) = std::env::var_os("LOCAL_STACK_BIN_DIR") {
        options.bin_dir = dir.into();
    }
    if let Some(value) = std::env::var(TelemetryTransport::VARIABLE)
        .ok()
        .filter(|v| !v.is_empty())
    {
        let transport = TelemetryTransport::parse(&value).ok_or_else(|| {
            format!(
                "{}={value:?} is not valid; expected adot-collector or xray-udp",
                TelemetryTransport::VARIABLE
            )
        })?;
        options.transport = Some(transport);
    }
    Ok(options)
}

/// Ctrl-C or SIGTERM.
async fn interrupted() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
}
