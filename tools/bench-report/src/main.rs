#![doc = include_str!("../README.md")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod cold_start;
mod cost;
mod report;

use report::{Report, Summary};

const USAGE: &str = "usage: bench-report [--runs N] [--bin-dir DIR] [--out DIR]

Measures N cold starts (default 20) per function and telemetry transport of the release
binaries in DIR (default target/release), reads criterion's results (target/criterion) and the
arm64 artifacts (dist/), and writes report.md and report.json to --out (default bench/).";

struct Arguments {
    runs: usize,
    bin_dir: PathBuf,
    out: PathBuf,
}

fn arguments(root: &Path) -> Result<Arguments, String> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let mut parsed = Arguments {
        runs: 20,
        bin_dir: target.join("release"),
        out: root.join("bench"),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--runs" => {
                parsed.runs = value
                    .parse()
                    .ok()
                    .filter(|runs| *runs > 0)
                    .ok_or_else(|| format!("--runs {value:?} is not a positive number"))?;
            }
            "--bin-dir" => parsed.bin_dir = value.into(),
            "--out" => parsed.out = value.into(),
            _ => return Err(format!("unknown argument {flag:?}")),
        }
    }
    Ok(parsed)
}

#[tokio::main]
async fn main() -> ExitCode {
    let root = local_pipeline::workspace_root();
    let args = match arguments(&root) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let target = args
        .bin_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| root.join("target"));
    let options = cold_start::Options {
        workspace_root: root.clone(),
        bin_dir: args.bin_dir.clone(),
        floor_binary: args.bin_dir.join("lambda-floor"),
        runs: args.runs,
        log_dir: target.join("bench-report"),
    };
    println!(
        "Measuring {} cold starts per function and transport (logs in {}) ...",
        args.runs,
        options.log_dir.display()
    );
    let results = match cold_start::measure(&options).await {
        Ok(results) => results,
        Err(error) => {
            eprintln!("cold start measurement failed: {error}");
            return ExitCode::FAILURE;
        }
    };

    let cold_starts = report::cold_start_rows(&results);
    let micro = report::criterion_medians(&target.join("criterion"));
    let artifacts: BTreeMap<String, u64> = ["webhook-api", "webhook-worker", "webhook-notifier"]
        .into_iter()
        .filter_map(|function| {
            let path = root.join("dist").join(function).join("bootstrap.zip");
            Some((function.to_owned(), std::fs::metadata(path).ok()?.len()))
        })
        .collect();
    let report = Report {
        machine: machine(),
        commands: vec![
            "make bench".to_owned(),
            "# which runs:".to_owned(),
            "cargo bench -p stripe-signature -p webhook-event -p shared-telemetry -p webhook-worker"
                .to_owned(),
            "make build                      # arm64 bootstrap.zip per function".to_owned(),
            "cargo build --release -p webhook-api -p webhook-worker -p webhook-notifier".to_owned(),
            "cargo build --release -p lambda-floor  # on its own: no other crate's features".to_owned(),
            format!("bench-report --runs {}", args.runs),
        ],
        targets: report::targets(
            &cold_starts,
            &micro,
            &artifacts,
            Summary::of(&results.secret_fetch_ms).map(|summary| summary.median),
        ),
        cold_starts,
        micro_benchmarks_ns: micro,
        artifacts_bytes: artifacts,
        secret_fetch_ms: Summary::of(&results.secret_fetch_ms),
        cost_inputs: None,
        costs: Vec::new(),
    };
    let measured = cost::Measured::of(
        &results.samples,
        "xray-udp",
        cold_start::BATCH_SIZE,
        results.api_memory_mb,
        results.worker_memory_mb,
    );
    let report = Report {
        costs: measured
            .iter()
            .flat_map(|measured| {
                [
                    (1.0, true),
                    (0.1, true),
                    (0.05, true),
                    (1.0, false),
                    (0.1, false),
                    (0.05, false),
                ]
                .map(|(sampling, search)| cost::per_million_events(measured, sampling, search))
            })
            .collect(),
        cost_inputs: measured,
        ..report
    };

    let markdown = report::render_markdown(&report);
    let written = std::fs::create_dir_all(&args.out)
        .and_then(|()| std::fs::write(args.out.join("report.md"), &markdown))
        .and_then(|()| {
            let json = serde_json::to_string_pretty(&report).unwrap_or_default();
            std::fs::write(args.out.join("report.json"), json + "\n")
        });
    if let Err(error) = written {
        eprintln!("cannot write the report to {}: {error}", args.out.display());
        return ExitCode::FAILURE;
    }
    print!("{markdown}");
    println!("\nWritten to {}", args.out.join("report.md").display());
    ExitCode::SUCCESS
}

/// What the figures were measured on.
fn machine() -> BTreeMap<String, String> {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let cpu = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let memory = read("/proc/meminfo")
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .map(|value| value.trim().to_owned())
        .unwrap_or_default();
    let command = |program: &str, args: &[&str]| {
        std::process::Command::new(program)
            .args(args)
            .output()
            .ok()
            .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
            .unwrap_or_default()
    };
    BTreeMap::from([
        ("cpu".to_owned(), format!("{cpu} ({cores} cores available)")),
        ("memory".to_owned(), memory),
        (
            "kernel".to_owned(),
            read("/proc/sys/kernel/osrelease").trim().to_owned(),
        ),
        ("rustc".to_owned(), command("rustc", &["--version"])),
        (
            "commit".to_owned(),
            command("git", &["rev-parse", "--short", "HEAD"]),
        ),
        ("date".to_owned(), command("date", &["-u", "+%Y-%m-%d %H:%M UTC"])),
    ])
}
