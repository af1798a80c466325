//! `local-stack demo`: runs the whole pipeline locally, sends the scripted webhooks, prints one
//! waterfall per event and the summary, stops everything it started (also on Ctrl-C), and exits
//! non-zero if an event was lost or a trace is not connected.

use std::process::ExitCode;

use local_stack::scenario;
use local_stack::stack::{LocalStack, StackOptions, TelemetryTransport};

const USAGE: &str = "usage: local-stack demo

Runs the webhook pipeline on this machine (moto, cargo-lambda, both functions, an OTLP sink),
sends the scripted webhooks and prints the traces. Ports are free ones unless set:
  LOCAL_STACK_MOTO_PORT, LOCAL_STACK_LAMBDA_PORT, LOCAL_STACK_OTLP_PORT
LOCAL_STACK_BIN_DIR is where the webhook-api and webhook-worker binaries are (target/debug).
TELEMETRY_TRANSPORT is adot-collector (OTLP/HTTP, Terraform's default) or xray-udp (OTLP over
UDP to the X-Ray daemon, with the Application Signals attributes).";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args != ["demo"] {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    }
    let options = match options_from_env() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    tokio::select! {
        code = demo(options) => code,
        _ = interrupted() => {
            // Dropping the demo future drops the stack, which stops every process it started.
            eprintln!("\ninterrupted: everything started has been stopped");
            ExitCode::from(130)
        }
    }
}

async fn demo(options: StackOptions) -> ExitCode {
    println!(
        "Starting the local stack (logs in {}) ...",
        options.log_dir.display()
    );
    let mut stack = match LocalStack::start(options).await {
        Ok(stack) => stack,
        Err(error) => {
            eprintln!("could not start the local stack: {error}");
            return ExitCode::FAILURE;
        }
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

    let code = match scenario::run(&mut stack).await {
        Ok(run) => {
            let report = scenario::report(&stack, &run).await;
            print!("{}", report.render());
            if report.passed() {
                println!("\nAll checks passed.");
                ExitCode::SUCCESS
            } else {
                println!(
                    "\nSome checks failed; logs are in {}",
                    stack.options.log_dir.display()
                );
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            eprintln!("the demo failed: {error}");
            ExitCode::FAILURE
        }
    };
    stack.shutdown().await;
    code
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
