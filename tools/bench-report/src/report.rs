//! `bench/report.md` and `bench/report.json`: the machine, the commands, every target with
//! its measured median, and the cold starts per function and transport.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::cold_start::{FLOOR, Results, Sample};

/// Median, spread and extremes of one measurement.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub(crate) struct Summary {
    pub median: f64,
    pub p10: f64,
    pub p90: f64,
    pub min: f64,
    pub max: f64,
    pub count: usize,
}

impl Summary {
    pub(crate) fn of(values: &[f64]) -> Option<Self> {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f64::total_cmp);
        let at = |q: f64| {
            let position = q * (sorted.len() - 1) as f64;
            let (low, high) = (position.floor() as usize, position.ceil() as usize);
            sorted[low] + (sorted[high] - sorted[low]) * (position - low as f64)
        };
        Some(Self {
            median: at(0.5),
            p10: at(0.1),
            p90: at(0.9),
            min: sorted[0],
            max: sorted[sorted.len() - 1],
            count: sorted.len(),
        })
    }
}

/// One target and what was measured against it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TargetRow {
    pub name: String,
    pub target: f64,
    pub measured: Option<f64>,
    pub unit: &'static str,
    pub met: Option<bool>,
    /// Where the number comes from (a criterion id, a cold-start series, a file).
    pub source: String,
}

impl TargetRow {
    fn new(name: &str, target: f64, measured: Option<f64>, unit: &'static str, source: &str) -> Self {
        Self {
            name: name.to_owned(),
            target,
            met: measured.map(|value| value <= target),
            measured,
            unit,
            source: source.to_owned(),
        }
    }
}

/// Cold-start figures for one function and transport.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ColdStartRow {
    pub function: String,
    pub transport: String,
    pub init_ms: Summary,
    pub first_invocation_ms: Summary,
    pub io_ms: Summary,
    pub first_invocation_beyond_io_ms: Summary,
    pub peak_rss_mib: Summary,
    /// Median init over the floor's median init, measured in the same run.
    pub init_to_floor: Option<f64>,
    /// Median peak RSS over the floor's.
    pub rss_to_floor: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    pub machine: BTreeMap<String, String>,
    pub commands: Vec<String>,
    pub targets: Vec<TargetRow>,
    pub cold_starts: Vec<ColdStartRow>,
    /// Criterion medians in nanoseconds, by benchmark id.
    pub micro_benchmarks_ns: BTreeMap<String, f64>,
    /// `bootstrap.zip` sizes in bytes, by function.
    pub artifacts_bytes: BTreeMap<String, u64>,
    pub secret_fetch_ms: Option<Summary>,
    /// What was measured per event, and what a million events cost at each sampling rate.
    pub cost_inputs: Option<crate::cost::Measured>,
    pub costs: Vec<crate::cost::CostTable>,
}

/// The criterion benchmarks the report reads, with what each measures.
pub(crate) const MICRO_BENCHMARKS: [(&str, &str); 21] = [
    (
        "signature/verify_4KiB",
        "Stripe signature: parse header, HMAC-SHA256 of 4 KiB, compare",
    ),
    (
        "signature/verify_4KiB_second_of_two_secrets",
        "the same during a secret rotation",
    ),
    (
        "event/parse_and_validate_payment_intent",
        "parse and validate a payment_intent event",
    ),
    (
        "event/parse_and_validate_subscription",
        "parse and validate a subscription event",
    ),
    ("sqs_context/inject", "trace context into SQS message attributes"),
    (
        "sqs_context/extract_message_attributes",
        "trace context from message attributes",
    ),
    (
        "sqs_context/extract_aws_trace_header",
        "trace context from AWSTraceHeader",
    ),
    ("sqs_context/extract_none", "a message without trace context"),
    (
        "sns_context/inject",
        "trace context into SNS message attributes and the Publish header",
    ),
    (
        "sns_context/extract_sns_message_attributes",
        "trace context from an SNS envelope's MessageAttributes",
    ),
    (
        "envelope/scan_direct",
        "floor: one JSON scan of a Stripe event body",
    ),
    ("envelope/open_direct", "opening a direct body (the event itself)"),
    (
        "envelope/scan_sns",
        "floor: one JSON scan of an SNS notification envelope",
    ),
    ("envelope/open_sns", "opening an SNS notification envelope"),
    (
        "envelope/scan_eventbridge",
        "floor: one JSON scan of an EventBridge event",
    ),
    ("envelope/open_eventbridge", "opening an EventBridge event"),
    (
        "message/spans_and_log_line",
        "one message through the worker: spans and its JSON log line",
    ),
    (
        "message/spans_only",
        "one message through the worker: spans, no log line",
    ),
    (
        "message/without_telemetry",
        "one message through the worker, tracing off",
    ),
    (
        "batch_of_10_at_5ms/standard_concurrent",
        "10 messages, store at 5 ms per write, standard queue",
    ),
    (
        BIG_BATCH,
        "10,000 records, store at 5 ms per write, deadline 3 s away: time to the response",
    ),
];
const BIG_BATCH: &str = "big_batch/10000_records_deadline_3s";
const FIFO_BATCH: &str = "batch_of_10_at_5ms/fifo_in_order";

/// Reads criterion's median estimate (ns) for each benchmark that has run.
pub(crate) fn criterion_medians(criterion_dir: &Path) -> BTreeMap<String, f64> {
    let ids = MICRO_BENCHMARKS.iter().map(|(id, _)| *id).chain([FIFO_BATCH]);
    ids.filter_map(|id| {
        let path = criterion_dir.join(id).join("new").join("estimates.json");
        let text = std::fs::read_to_string(path).ok()?;
        let estimates: serde_json::Value = serde_json::from_str(&text).ok()?;
        let median = estimates["median"]["point_estimate"].as_f64()?;
        Some((id.to_owned(), median))
    })
    .collect()
}

pub(crate) fn cold_start_rows(results: &Results) -> Vec<ColdStartRow> {
    let mut groups: BTreeMap<(String, String), Vec<&Sample>> = BTreeMap::new();
    for sample in &results.samples {
        groups
            .entry((sample.function.clone(), sample.transport.to_owned()))
            .or_default()
            .push(sample);
    }
    groups
        .into_iter()
        .filter_map(|((function, transport), samples)| {
            let series = |value: fn(&Sample) -> f64| {
                Summary::of(&samples.iter().map(|s| value(s)).collect::<Vec<_>>())
            };
            Some(ColdStartRow {
                function,
                transport,
                init_ms: series(|s| s.init_ms)?,
                first_invocation_ms: series(|s| s.first_invocation_ms)?,
                io_ms: series(|s| s.io_ms)?,
                first_invocation_beyond_io_ms: series(|s| s.first_invocation_beyond_io_ms)?,
                peak_rss_mib: series(|s| s.peak_rss_kib as f64 / 1024.0)?,
                init_to_floor: None,
                rss_to_floor: None,
            })
        })
        .collect::<Vec<_>>()
        .with_floor_ratios()
}

trait FloorRatios {
    fn with_floor_ratios(self) -> Self;
}

impl FloorRatios for Vec<ColdStartRow> {
    /// Each row's init and peak RSS as a ratio to the floor's (the floor's own is 1).
    fn with_floor_ratios(mut self) -> Self {
        let Some(floor) = self.iter().find(|row| row.function == FLOOR).cloned() else {
            return self;
        };
        for row in &mut self {
            row.init_to_floor = Some(row.init_ms.median / floor.init_ms.median);
            row.rss_to_floor = Some(row.peak_rss_mib.median / floor.peak_rss_mib.median);
        }
        self
    }
}

pub(crate) fn targets(
    cold_starts: &[ColdStartRow],
    micro: &BTreeMap<String, f64>,
    artifacts: &BTreeMap<String, u64>,
    secret_fetch_ms: Option<f64>,
) -> Vec<TargetRow> {
    let micro_us = |id: &str| micro.get(id).map(|ns| ns / 1e3);
    let micro_ms = |id: &str| micro.get(id).map(|ns| ns / 1e6);
    let worst = |function: &str, value: fn(&ColdStartRow) -> f64| {
        cold_starts
            .iter()
            .filter(|row| row.function == function)
            .map(value)
            .reduce(f64::max)
    };
    let mut rows = Vec::new();
    let floor_init = cold_starts
        .iter()
        .find(|row| row.function == FLOOR)
        .map(|row| row.init_ms.median);
    rows.push(TargetRow::new(
        "webhook-worker: cold start to first /next, as a multiple of the floor (slower transport)",
        1.5,
        worst("webhook-worker", |row| row.init_to_floor.unwrap_or(f64::NAN)).filter(|r| r.is_finite()),
        "×",
        "cold start medians, worker / lambda-floor, same run",
    ));
    // The API makes one GetSecretValue before it is ready; that call is moto's time, not the
    // function's, so it is taken off before comparing with the floor.
    rows.push(TargetRow::new(
        "webhook-api: cold start less its GetSecretValue, as a multiple of the floor (slower transport)",
        1.5,
        match (
            worst("webhook-api", |row| row.init_ms.median),
            floor_init,
            secret_fetch_ms,
        ) {
            (Some(api), Some(floor), Some(secret)) => Some((api - secret) / floor),
            _ => None,
        },
        "×",
        "cold start medians, (api - GetSecretValue) / lambda-floor, same run",
    ));
    rows.push(TargetRow::new(
        "webhook-notifier: cold start to first /next, as a multiple of the floor (slower transport)",
        1.5,
        worst("webhook-notifier", |row| row.init_to_floor.unwrap_or(f64::NAN)).filter(|r| r.is_finite()),
        "×",
        "cold start medians, notifier / lambda-floor, same run",
    ));
    for function in ["webhook-api", "webhook-worker", "webhook-notifier"] {
        rows.push(TargetRow::new(
            &format!("{function}: cold start to first /next (median, slower transport)"),
            15.0,
            worst(function, |row| row.init_ms.median),
            "ms",
            "cold start, 20 runs per transport",
        ));
        rows.push(TargetRow::new(
            &format!("{function}: first invocation beyond its I/O (median)"),
            5.0,
            worst(function, |row| row.first_invocation_beyond_io_ms.median),
            "ms",
            "cold start: invocation minus CLIENT/PRODUCER span time",
        ));
    }
    let extraction = micro_us("sqs_context/extract_message_attributes");
    let span_work = match (
        micro_us("message/spans_only"),
        micro_us("message/without_telemetry"),
    ) {
        (Some(with), Some(without)) => Some(with - without),
        _ => None,
    };
    rows.push(TargetRow::new(
        "telemetry per message: extraction + span, attributes, links, end",
        1.5,
        extraction.zip(span_work).map(|(a, b)| a + b),
        "µs",
        "extract_message_attributes + (message/spans_only - message/without_telemetry)",
    ));
    let with_log_line = match (
        micro_us("message/spans_and_log_line"),
        micro_us("message/without_telemetry"),
    ) {
        (Some(with), Some(without)) => Some(with - without),
        _ => None,
    };
    rows.push(TargetRow::new(
        "telemetry per message with its log line: extraction + span + the JSON line",
        3.0,
        extraction.zip(with_log_line).map(|(a, b)| a + b),
        "µs",
        "extract_message_attributes + (message/spans_and_log_line - message/without_telemetry)",
    ));
    rows.push(TargetRow::new(
        "context injection into SQS attributes",
        2.0,
        micro_us("sqs_context/inject"),
        "µs",
        "sqs_context/inject",
    ));
    rows.push(TargetRow::new(
        "signature verification, 4 KiB body",
        10.0,
        micro_us("signature/verify_4KiB"),
        "µs",
        "signature/verify_4KiB",
    ));
    rows.push(TargetRow::new(
        "batch of 10 at 5 ms store latency, standard queue (concurrent)",
        8.0,
        micro_ms("batch_of_10_at_5ms/standard_concurrent"),
        "ms",
        "batch_of_10_at_5ms/standard_concurrent",
    ));
    // The deadline is 3 s away and the worker keeps 1 s (plus 50 µs a record) free before it.
    rows.push(TargetRow::new(
        "10,000-record batch answered before its deadline minus the 1 s margin (deadline at 3000 ms)",
        2000.0,
        micro_ms(BIG_BATCH),
        "ms",
        BIG_BATCH,
    ));
    for function in ["webhook-api", "webhook-worker", "webhook-notifier"] {
        rows.push(TargetRow::new(
            &format!("{function}: bootstrap.zip (arm64)"),
            2.7,
            artifacts.get(function).map(|bytes| *bytes as f64 / 1e6),
            "MB",
            &format!("dist/{function}/bootstrap.zip"),
        ));
    }
    rows.push(TargetRow::new(
        "webhook-worker: peak RSS handling a batch of 10 (median)",
        32.0,
        worst("webhook-worker", |row| row.peak_rss_mib.median),
        "MiB",
        "cold start: VmHWM after the first batch",
    ));
    rows
}

fn figure(value: f64) -> String {
    match value.abs() {
        v if v >= 100.0 => format!("{value:.0}"),
        v if v >= 10.0 => format!("{value:.1}"),
        _ => format!("{value:.2}"),
    }
}

/// The report as Markdown: one section per kind of figure.
pub(crate) fn render_markdown(report: &Report) -> String {
    let mut out = String::new();
    render_header(&mut out, report);
    render_targets(&mut out, report);
    render_cold_starts(&mut out, report);
    render_micro_benchmarks(&mut out, report);
    render_artifacts(&mut out, report);
    render_costs(&mut out, report);
    out
}

/// Dollars per million events, by service, at each sampling rate (Transaction Search on), and
/// the tracing line with it off; then every price's source.
fn render_costs(out: &mut String, report: &Report) {
    let Some(measured) = &report.cost_inputs else {
        return;
    };
    let _ = writeln!(out, "\n## Cost per million events (us-east-1 list prices)\n");
    let _ = writeln!(
        out,
        "From this run's medians (xray-udp): the API's invocation {:.1} ms at {} MB, the worker's batch of {} {:.0} ms at {} MB (against moto on this machine: AWS's own latencies differ), {:.0} bytes of log lines and {:.0} bytes of spans (OTLP JSON with the resource, as Transaction Search stores them) per event. API Gateway's and Lambda's own segments are not in the span bytes.\n",
        measured.api_invocation_ms,
        measured.api_memory_mb,
        measured.batch_size,
        measured.worker_batch_ms,
        measured.worker_memory_mb,
        measured.log_bytes_per_event,
        measured.span_bytes_per_event,
    );
    let searched: Vec<&crate::cost::CostTable> = report
        .costs
        .iter()
        .filter(|table| table.transaction_search)
        .collect();
    let Some(first) = searched.first() else {
        return;
    };
    let header: Vec<String> = searched
        .iter()
        .map(|table| format!("{:.0}% traced", table.sampling * 100.0))
        .collect();
    let _ = writeln!(out, "| service | {} | how |", header.join(" | "));
    let _ = writeln!(out, "| --- |{} --- |", " ---: |".repeat(searched.len()));
    for (index, line) in first.lines.iter().enumerate() {
        let cells: Vec<String> = searched
            .iter()
            .map(|table| format!("${:.2}", table.lines[index].usd_per_million_events))
            .collect();
        let service = match line.service.starts_with("Tracing") {
            true => "Tracing: Transaction Search spans".to_owned(),
            false => line.service.clone(),
        };
        let _ = writeln!(out, "| {service} | {} | {} |", cells.join(" | "), line.how);
    }
    let totals: Vec<String> = searched
        .iter()
        .map(|table| format!("**${:.2}**", table.total))
        .collect();
    let _ = writeln!(out, "| **total** | {} | |", totals.join(" | "));
    let xray: Vec<String> = report
        .costs
        .iter()
        .filter(|table| !table.transaction_search)
        .map(|table| {
            format!(
                "{:.0}%: ${:.2}",
                table.sampling * 100.0,
                table
                    .lines
                    .last()
                    .map(|line| line.usd_per_million_events)
                    .unwrap_or_default()
            )
        })
        .collect();
    let _ = writeln!(
        out,
        "\nWith Transaction Search off, the tracing line is X-Ray's traces recorded instead: {}. Reading a trace back (`make trace`, `make smoke`) is $0.50 per million traces retrieved; a `make trace` query over one event's indexed log lines scans a few kB at $0.005 per GB.\n",
        xray.join(", ")
    );
    let _ = writeln!(out, "| price | USD | per | source |\n| --- | ---: | --- | --- |");
    for (name, price) in crate::cost::PRICES {
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} |",
            price.usd, price.per, price.source
        );
    }
}

fn render_header(out: &mut String, report: &Report) {
    let _ = writeln!(out, "# Benchmark report\n");
    let _ = writeln!(
        out,
        "Written by `make bench` (tools/bench-report); do not edit by hand. Analysis of the \
         figures and of every missed target: [bench/README.md](README.md).\n"
    );
    let _ = writeln!(out, "## Machine\n");
    for (key, value) in &report.machine {
        let _ = writeln!(out, "- {key}: {value}");
    }
    let _ = writeln!(out, "\n## Commands\n\n```sh");
    for command in &report.commands {
        let _ = writeln!(out, "{command}");
    }
    let _ = writeln!(out, "```\n");
}

fn render_targets(out: &mut String, report: &Report) {
    let _ = writeln!(out, "## Targets\n");
    let _ = writeln!(
        out,
        "| target | limit | measured | met | from |\n| --- | ---: | ---: | :---: | --- |"
    );
    for row in &report.targets {
        let measured = row
            .measured
            .map(|value| format!("{} {}", figure(value), row.unit))
            .unwrap_or_else(|| "not run".to_owned());
        let met = match (row.met, row.measured) {
            (Some(true), _) => "yes".to_owned(),
            (Some(false), Some(value)) => format!("no, {:.0}% over", (value / row.target - 1.0) * 100.0),
            _ => "-".to_owned(),
        };
        let _ = writeln!(
            out,
            "| {} | ≤ {} {} | {} | {} | {} |",
            row.name,
            figure(row.target),
            row.unit,
            measured,
            met,
            row.source
        );
    }
}

fn render_cold_starts(out: &mut String, report: &Report) {
    let _ = writeln!(
        out,
        "\n## Cold start by function and transport\n\nRelease binaries for this machine (not the \
         arm64 artifacts), each run a new process against a minimal Lambda runtime API, with \
         Terraform's settings for the transport, moto for AWS on 127.0.0.1 and the local trace \
         sink. Median (p10-p90). `lambda-floor` is an empty `lambda_runtime` function built with \
         the same profile and started the same number of times, interleaved: the ratios to it are \
         what compares across runs on a shared machine.\n"
    );
    let _ = writeln!(
        out,
        "| function | transport | init to first /next | ÷ floor | first invocation | its I/O | beyond I/O | peak RSS | ÷ floor |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    let ratio = |value: Option<f64>| {
        value
            .map(|r| format!("{r:.2}×"))
            .unwrap_or_else(|| "-".to_owned())
    };
    let spread = |s: &Summary, unit: &str| {
        format!(
            "{} {unit} ({}-{})",
            figure(s.median),
            figure(s.p10),
            figure(s.p90)
        )
    };
    for row in &report.cold_starts {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            row.function,
            row.transport,
            spread(&row.init_ms, "ms"),
            ratio(row.init_to_floor),
            spread(&row.first_invocation_ms, "ms"),
            spread(&row.io_ms, "ms"),
            spread(&row.first_invocation_beyond_io_ms, "ms"),
            spread(&row.peak_rss_mib, "MiB"),
            ratio(row.rss_to_floor),
        );
    }
    if let Some(secret) = &report.secret_fetch_ms {
        let _ = writeln!(
            out,
            "\nThe API's init includes one Secrets Manager `GetSecretValue`; moto answers it in {} ms \
             (median of {}). With `adot-collector` the ADOT collector extension also starts in the \
             init phase in Lambda; that start-up cannot be measured here (no extension runs \
             locally), so the two transports differ here only by the exporter in the function.",
            figure(secret.median),
            secret.count
        );
    }
}

fn render_micro_benchmarks(out: &mut String, report: &Report) {
    let _ = writeln!(
        out,
        "\n## Micro-benchmarks (criterion, median)\n\n| benchmark | measures | median |\n| --- | --- | ---: |"
    );
    for (id, what) in MICRO_BENCHMARKS
        .iter()
        .chain(&[(FIFO_BATCH, "the same on a FIFO queue, one group (in order)")])
    {
        if let Some(ns) = report.micro_benchmarks_ns.get(*id) {
            let time = match *ns {
                ns if ns >= 1e6 => format!("{} ms", figure(ns / 1e6)),
                ns if ns >= 1e3 => format!("{} µs", figure(ns / 1e3)),
                ns => format!("{} ns", figure(ns)),
            };
            let _ = writeln!(out, "| `{id}` | {what} | {time} |");
        }
    }
}

fn render_artifacts(out: &mut String, report: &Report) {
    let _ = writeln!(
        out,
        "\n## Artifacts\n\n| function | bootstrap.zip (arm64) |\n| --- | ---: |"
    );
    for (function, bytes) in &report.artifacts_bytes {
        let _ = writeln!(
            out,
            "| {function} | {bytes} bytes ({} MB) |",
            figure(*bytes as f64 / 1e6)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_interpolate_percentiles() {
        let summary = Summary::of(&[5.0, 1.0, 3.0, 2.0, 4.0]).expect("values");
        assert_eq!((summary.median, summary.min, summary.max), (3.0, 1.0, 5.0));
        assert!((summary.p90 - 4.6).abs() < 1e-9);
        assert_eq!(Summary::of(&[]), None);
    }

    #[test]
    fn a_missed_target_says_by_how_much() {
        let report = Report {
            machine: BTreeMap::new(),
            commands: Vec::new(),
            targets: vec![TargetRow::new("x", 2.0, Some(3.0), "µs", "bench")],
            cold_starts: Vec::new(),
            micro_benchmarks_ns: BTreeMap::new(),
            artifacts_bytes: BTreeMap::new(),
            secret_fetch_ms: None,
            cost_inputs: None,
            costs: Vec::new(),
        };
        assert!(render_markdown(&report).contains("| x | ≤ 2.00 µs | 3.00 µs | no, 50% over | bench |"));
    }
}
