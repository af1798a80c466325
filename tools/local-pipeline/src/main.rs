//! `local-pipeline demo`: runs the whole pipeline locally, sends the scripted webhooks, prints one
//! waterfall per event and the summary, stops everything it started (also on Ctrl-C), and exits
//! non-zero if an event was lost or a trace is not connected.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use local_pipeline::scenario;
use local_pipeline::soak::SoakOptions;
use local_pipeline::stack::{LocalStack, StackError, StackOptions};
use local_pipeline::standalone::Resources;
use local_pipeline::up::{self, Started, UpDir};
use terraform_config::pipeline::FanOut;

const USAGE: &str = "usage: local-pipeline demo
       local-pipeline up | down | send <Stripe event file> [--keep-id]
       local-pipeline emulator
       local-pipeline soak [--events N] [--failure-rate R] [--concurrency C] [--deadline-minutes M]

demo: runs the webhook pipeline on this machine (moto, the local Lambda service with both
functions, API Gateway's front door, a trace sink), sends the scripted webhooks, prints the
traces and each event's story, and stops everything.

up: the same stack, left running in the background on fixed ports (moto 5000, the webhook front
door 9000, the tools' AWS endpoint 4000, OTLP 4318, X-Ray daemon UDP 2000); what it started is
recorded in target/local-pipeline/up
(LOCAL_PIPELINE_STATE_DIR). down: stops exactly those processes. send: signs the event file with
the running stack's secret, gives it a fresh id (unless --keep-id) and posts it.

emulator: moto with the queue, DLQ, table and secret only, and an env file for running one
function alone under `cargo lambda watch`; runs until Ctrl-C.

soak: N signed webhooks (default 10000), C in flight (8), with a share R (0.05) of DynamoDB
requests failing; exits non-zero unless every event is stored exactly once, nothing is
dead-lettered and every message span is in its producer's trace, within M minutes (45).

Ports are free ones (up: the fixed ones above) unless set: LOCAL_PIPELINE_MOTO_PORT,
LOCAL_PIPELINE_GATEWAY_PORT, LOCAL_PIPELINE_AWS_PORT, LOCAL_PIPELINE_OTLP_PORT, LOCAL_PIPELINE_XRAY_PORT.
SAMPLING_RATE (0 to 1) and SAMPLING_RESERVOIR (requests a second) replace the route's X-Ray
sampling rule from Terraform; TRANSACTION_SEARCH=off keeps segments in X-Ray instead of
CloudWatch Logs (on, as terraform/bootstrap sets an account up, by default).
LOCAL_PIPELINE_BIN_DIR is where the webhook-api and webhook-worker binaries are (target/debug).
TELEMETRY_TRANSPORT is xray-udp (OTLP over UDP to the X-Ray daemon, with the Application Signals
attributes; Terraform's default) or adot-collector (OTLP/HTTP, as to the ADOT collector layer).";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match parse_command(&args) {
        Ok(command) => command,
        Err(message) => {
            eprintln!("{message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut options = match local_pipeline::stack_env::stack_options_from_env() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let run = async {
        match command {
            Command::Demo => demo(options).await,
            Command::Soak(soak_options) => {
                options.fault_proxy = true;
                soak(options, soak_options).await
            }
            Command::Emulator => emulator(options).await,
            Command::Up => up(options),
            Command::Serve => serve(options).await,
            Command::Down => down(&options),
            Command::Send { file, keep_id } => send(&options, &file, keep_id).await,
        }
    };
    if matches!(
        command_kind(&args),
        Some("emulator" | "serve" | "up" | "down" | "send")
    ) {
        // These stop on their own terms: the emulator and serve on Ctrl-C or SIGTERM.
        return run.await;
    }
    tokio::select! {
        code = run => code,
        _ = local_pipeline::stack::interrupted() => {
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
    Up,
    Serve,
    Down,
    Send { file: PathBuf, keep_id: bool },
}

fn command_kind(args: &[String]) -> Option<&str> {
    args.first().map(String::as_str)
}

fn parse_command(args: &[String]) -> Result<Command, String> {
    let (command, rest) = args.split_first().ok_or("no command given")?;
    let alone = |command: Command| match rest.is_empty() {
        true => Ok(command),
        false => Err(format!(
            "{command_name} takes no arguments",
            command_name = args[0]
        )),
    };
    match command.as_str() {
        "demo" => alone(Command::Demo),
        "emulator" => alone(Command::Emulator),
        "up" => alone(Command::Up),
        "serve" => alone(Command::Serve),
        "down" => alone(Command::Down),
        "soak" => soak_options(rest).map(Command::Soak),
        "send" => match rest {
            [file] => Ok(Command::Send {
                file: file.into(),
                keep_id: false,
            }),
            [file, flag] if flag == "--keep-id" => Ok(Command::Send {
                file: file.into(),
                keep_id: true,
            }),
            _ => Err("send needs a Stripe event file, and optionally --keep-id".to_owned()),
        },
        other => Err(format!("unknown command {other:?}")),
    }
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
        "Starting the local pipeline with a fault proxy (logs in {}) ...",
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
    let outcome = local_pipeline::soak::run(&mut stack, &soak_options)
        .await
        .map(|report| (report.render(), report.passed()));
    let code = verdict(&stack, "soak", outcome);
    stack.shutdown().await;
    code
}

async fn demo(options: StackOptions) -> ExitCode {
    println!(
        "Starting the local pipeline (logs in {}) ...",
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
    if let FanOut::Sns { raw_message_delivery } = settings.fan_out {
        println!(
            "  fan-out: webhook-api publishes to topic {}; the queue subscribes (raw message delivery {raw_message_delivery}, undeliverable notifications to {})",
            settings.names.topic, settings.names.undeliverable_queue
        );
    }
    println!(
        "  event source mapping: batch size {}, batching window {} s, visibility timeout {} s (Terraform: {} s)",
        settings.batch_size,
        settings.batching_window_seconds,
        stack.provisioned.visibility_timeout_seconds,
        settings.queue_visibility_timeout_seconds
    );
    println!("  webhooks: POST {}", stack.webhook_url());
    let rule = stack.sampling_rule();
    println!(
        "  sampling: API Gateway's X-Ray rule for the route, {} request(s) a second then {:.0}% of the rest{}",
        rule.reservoir_per_second,
        rule.fixed_rate * 100.0,
        match stack.options.sampling {
            Some(_) => " (SAMPLING_RATE / SAMPLING_RESERVOIR)",
            None => " (Terraform's)",
        }
    );
    println!(
        "  AWS:      {} for the tools (X-Ray reads {}; Logs Insights over the functions' log groups)",
        stack.aws_endpoint(),
        match stack.options.trace_storage.transaction_search {
            true => "with Transaction Search on",
            false => "with Transaction Search off",
        }
    );
    println!(
        "  traces:   {} (telemetry_transport = \"{}\")",
        stack.traces_destination(),
        stack.transport.as_str()
    );
    println!("Sending the scripted webhooks and waiting for the pipeline to drain ...\n");

    let outcome = match scenario::run(&mut stack).await {
        Ok(run) => {
            let report = scenario::report(&mut stack, &run).await;
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
        local_pipeline::stack::LOCAL_ENVIRONMENT,
    );
    println!("wrote {shown}: every variable both functions need\n");
    println!("In another terminal, run one function alone (cargo-lambda is in .venv/bin):");
    println!("  export PATH=\"$PWD/.venv/bin:$PATH\"");
    println!("  cargo lambda watch --env-file {shown}");
    println!("and in a third (the same PATH):");
    println!("  cargo lambda invoke webhook-api --data-file events/lambda/webhook-api-request.json");
    println!("  cargo lambda invoke webhook-worker --data-file events/lambda/webhook-worker-batch.json");
    println!("\nCtrl-C stops moto.");
    local_pipeline::stack::interrupted().await;
    drop(resources);
    println!("\nstopped moto");
    ExitCode::SUCCESS
}

/// Starts `local-pipeline serve` in the background on the fixed ports, unless one is running.
fn up(options: StackOptions) -> ExitCode {
    let dir = UpDir::for_options(&options);
    let program = match std::env::current_exe() {
        Ok(program) => program,
        Err(error) => {
            eprintln!("cannot find this program's path: {error}");
            return ExitCode::FAILURE;
        }
    };
    match up::start(&dir, &program, &[]) {
        Ok(Started::Now(state)) => {
            println!(
                "Local pipeline up (pid {}; its log: {}).\n",
                state.owner.pid,
                dir.log_path().display()
            );
            println!("{}", up::describe(&state, &options.workspace_root));
            ExitCode::SUCCESS
        }
        Ok(Started::AlreadyRunning(state)) => {
            println!(
                "A local pipeline is already running (pid {}); not starting another. `make down` stops it.\n",
                state.owner.pid
            );
            println!("{}", up::describe(&state, &options.workspace_root));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}

/// The detached process `up` starts: the stack on the fixed ports until SIGTERM.
async fn serve(mut options: StackOptions) -> ExitCode {
    options.moto_port.get_or_insert(up::DEFAULT_MOTO_PORT);
    if options.gateway_port == 0 {
        options.gateway_port = up::DEFAULT_GATEWAY_PORT;
    }
    if options.aws_port == 0 {
        options.aws_port = up::DEFAULT_AWS_PORT;
    }
    if options.otlp_port == 0 {
        options.otlp_port = up::DEFAULT_OTLP_PORT;
    }
    if options.xray_port == 0 {
        options.xray_port = up::DEFAULT_XRAY_PORT;
    }
    match up::serve(options).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("the local pipeline failed: {error}");
            ExitCode::FAILURE
        }
    }
}

fn down(options: &StackOptions) -> ExitCode {
    match up::stop(&UpDir::for_options(options)) {
        Ok(report) => {
            for line in &report.stopped {
                println!("stopped {line}");
            }
            for line in &report.left {
                eprintln!("left behind: {line}");
            }
            match report.left.is_empty() {
                true => {
                    println!("Local pipeline down: no process and no listener left.");
                    ExitCode::SUCCESS
                }
                false => ExitCode::FAILURE,
            }
        }
        Err(up::UpError::NotRunning) => {
            println!("No local pipeline is running.");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}

async fn send(options: &StackOptions, file: &Path, keep_id: bool) -> ExitCode {
    let state = match UpDir::for_options(options).running() {
        Ok(Some(state)) => state,
        Ok(None) => {
            eprintln!("{}", up::UpError::NotRunning);
            return ExitCode::FAILURE;
        }
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    match up::send(&state, file, keep_id).await {
        Ok(sent) => {
            println!("{}  HTTP {}  {}", sent.event_id, sent.status, sent.answer.trim());
            match (200..300).contains(&sent.status) {
                true => ExitCode::SUCCESS,
                false => ExitCode::FAILURE,
            }
        }
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}

async fn start(options: StackOptions) -> Option<LocalStack> {
    LocalStack::start(options)
        .await
        .inspect_err(|error| eprintln!("could not start the local pipeline: {error}"))
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
