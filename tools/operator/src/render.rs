//! A story as the terminal shows it: the verdict, the record, every stage from the log lines,
//! where it was last seen, each trace as the demo's waterfall (or why there is none), and in AWS
//! the console link and the queries to run by hand.

use std::fmt::Write as _;

use trace_reader::waterfall::{render_trace, xray_trace_id};

use crate::environment::{Environment, Location, queue_name};
use crate::logs::{LogLine, Stage, quoted};
use crate::story::Story;

/// The log group Transaction Search writes spans to.
pub const SPANS_LOG_GROUP: &str = "aws/spans";

/// The whole story, ready to print.
pub fn story(story: &Story, environment: &Environment) -> String {
    let mut out = String::new();
    let verdict = story.verdict();
    let _ = writeln!(
        out,
        "{} in {}: {}",
        story.event_id,
        environment.name(),
        verdict.describe()
    );
    record(&mut out, story);
    notified(&mut out, story, environment);
    stages(&mut out, story);
    dead_letter(&mut out, story, environment);
    deliveries(&mut out, story);
    if let Some(found) = story.searched_by_annotation {
        let _ = writeln!(
            out,
            "  search      no record, log line or DLQ message named a trace; X-Ray's index by event id found {found}. It holds only a share of traces (1% by default with Transaction Search), so finding none there says little"
        );
    }
    for problem in &story.problems {
        let _ = writeln!(out, "  note        {problem}");
    }
    for trace in &story.traces {
        out.push('\n');
        if trace.sampled == Some(false) {
            let _ = writeln!(
                out,
                "── {} ── trace {} ──\n   not sampled: no trace recorded (API Gateway's sampling rule left this request out); its stages are the log lines above",
                story.event_id,
                xray_trace_id(&trace.trace_id)
            );
            continue;
        }
        out.push_str(&render_trace(&story.event_id, &trace.trace_id, &trace.spans));
        if trace.spans.is_empty() {
            let _ = writeln!(
                out,
                "   read from {}; spans can take a minute or two to be readable after the event",
                story.trace_source
            );
        }
    }
    if let Location::Aws { .. } = environment.location {
        out.push('\n');
        links(&mut out, story, environment);
    }
    out
}

fn record(out: &mut String, story: &Story) {
    let Some(record) = &story.record else {
        return;
    };
    let _ = writeln!(out, "  type        {}", record.event_type);
    if let Some(received) = record.received_at_ms {
        let _ = writeln!(out, "  received    {} (by SQS)", timestamp(received));
    }
    if let Some(processed) = record.processed_at_ms {
        let later = record
            .received_at_ms
            .map(|received| format!(", {:.1} s later", (processed - received) as f64 / 1000.0))
            .unwrap_or_default();
        let _ = writeln!(out, "  processed   {}{later}", timestamp(processed));
    }
    let reason = record
        .ignored_reason
        .as_deref()
        .map(|reason| format!(" ({reason})"))
        .unwrap_or_default();
    let customer = record
        .customer_id
        .as_deref()
        .map(|customer| format!(", customer {customer}"))
        .unwrap_or_default();
    let _ = writeln!(out, "  outcome     {}{reason}{customer}", record.outcome);
    if let Some(count) = record.receive_count {
        let _ = writeln!(out, "  receives    {count} (the delivery that stored it)");
    }
    if let Some(trace_id) = &record.trace_id {
        let _ = writeln!(out, "  trace       {}", xray_trace_id(trace_id));
    }
}

/// The notification stage: sent (when, SES's message id), unsendable (why), or still pending
/// (the notifier's failed attempts, and where a batch goes once they stop).
fn notified(out: &mut String, story: &Story, environment: &Environment) {
    let Some(notification) = &story.notification else {
        return;
    };
    let when = notification
        .notified_at_ms
        .map(timestamp)
        .unwrap_or_else(|| "?".to_owned());
    match notification.status.as_str() {
        "sent" => {
            let _ = writeln!(
                out,
                "  notified    customer notified at {when} (SES message id {})",
                notification.message_id.as_deref().unwrap_or("?")
            );
        }
        "unsendable" => {
            let _ = writeln!(
                out,
                "  notified    no: unsendable ({}), found at {when}",
                notification.unsendable_reason.as_deref().unwrap_or("?")
            );
        }
        status => {
            let failures: Vec<&LogLine> = story
                .lines_of(Stage::Notifier)
                .filter(|line| line.outcome().as_deref() == Some("failed"))
                .collect();
            let last = failures
                .last()
                .and_then(|line| line.field("error.type"))
                .map(|error| format!(" (last: {error})"))
                .unwrap_or_default();
            let queue = environment
                .notifier_failures_url
                .as_deref()
                .map(queue_name)
                .unwrap_or("the notifier's on-failure queue");
            let depth = story
                .notifier_failures
                .map(|depth| format!(", which holds {depth} batch(es) now"))
                .unwrap_or_default();
            let _ = match failures.len() {
                0 => writeln!(
                    out,
                    "  notified    not yet: {status}; the notifier has not picked it up"
                ),
                failed => writeln!(
                    out,
                    "  notified    not yet: {status}; the notifier failed {failed} time(s){last}. After the stream's retries the batch goes to {queue}{depth}"
                ),
            };
        }
    }
}

/// One line per log line: when, which function, what happened, in which trace.
fn stages(out: &mut String, story: &Story) {
    if story.lines.is_empty() {
        return;
    }
    let _ = writeln!(out, "  stages      (from the functions' log lines)");
    for line in &story.lines {
        let trace = line
            .trace_id()
            .map(|id| {
                let sampled = match line.sampled() {
                    Some(false) => ", not sampled",
                    _ => "",
                };
                format!("  [trace {}{sampled}]", xray_trace_id(&id))
            })
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "    {}  {:<8} {}{trace}",
            line.timestamp,
            stage_name(line.stage),
            what_happened(line)
        );
    }
}

fn stage_name(stage: Stage) -> &'static str {
    match stage {
        Stage::Api => "api",
        Stage::Worker => "worker",
        Stage::Notifier => "notifier",
    }
}

/// `queued as message m-1`, `failed: dynamodb_throttled (receive 2)`, and so on.
fn what_happened(line: &LogLine) -> String {
    let receive = line
        .field("receive_count")
        .map(|count| format!(" (receive {count})"))
        .unwrap_or_default();
    let field = |name: &str| line.field(name).unwrap_or_else(|| "?".to_owned());
    match line.outcome().as_deref() {
        Some("queued") => format!("queued as message {}", field("message_id")),
        Some("refused") => format!("refused ({})", field("code")),
        Some("unavailable") => match line.field("cause") {
            Some(cause) => format!("503, not queued ({}: {cause})", field("code")),
            None => format!("503, not queued ({})", field("code")),
        },
        Some("failed") => format!("failed: {}{receive}", field("error.type")),
        Some("sent") => format!("emailed the customer (SES message id {})", field("message_id")),
        Some("already_sent") => "already sent: a redelivered stream record, nothing sent".to_owned(),
        Some("not_started") => format!("not started: {}{receive}", field("reason")),
        Some(outcome) => format!("{outcome}{receive}"),
        None => line.field("message").unwrap_or_default(),
    }
}

fn dead_letter(out: &mut String, story: &Story, environment: &Environment) {
    let dlq = queue_name(&environment.dlq_url);
    match &story.dead_letter {
        Some(message) => {
            let sent = message
                .sent_at_ms
                .map(timestamp)
                .unwrap_or_else(|| "?".to_owned());
            let _ = writeln!(
                out,
                "  last seen   in the DLQ {dlq}: message {}, first sent {sent}, received {} times",
                message.message_id,
                message.receive_count.unwrap_or_default()
            );
        }
        None if story.record.is_none() => {
            if let Some(span) = story.last_seen() {
                let _ = writeln!(
                    out,
                    "  last seen   {} {} ({}) at {}",
                    span.service,
                    span.name,
                    span.status.label(),
                    timestamp((span.end_unix_nanos / 1_000_000) as i64)
                );
            }
            let truncated = match story.dlq_scan_truncated {
                true => " (only the first 1000 messages were read)",
                false => "",
            };
            let _ = writeln!(out, "  DLQ         not in {dlq}{truncated}");
        }
        None => {}
    }
}

fn deliveries(out: &mut String, story: &Story) {
    let attempts: Vec<&LogLine> = story
        .lines_of(Stage::Worker)
        .filter(|line| line.outcome().as_deref() != Some("not_started"))
        .collect();
    if attempts.len() <= 1 {
        return;
    }
    let failed = attempts
        .iter()
        .filter(|line| line.outcome().as_deref() == Some("failed"))
        .count();
    let _ = writeln!(
        out,
        "  attempts    {} by the worker: {failed} failed, {} found it a duplicate",
        attempts.len(),
        story.duplicates()
    );
}

fn links(out: &mut String, story: &Story, environment: &Environment) {
    let region = &environment.region;
    for trace in story.traces.iter().filter(|trace| trace.sampled != Some(false)) {
        let _ = writeln!(
            out,
            "  X-Ray       https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#xray:traces/{}",
            xray_trace_id(&trace.trace_id)
        );
    }
    let _ = writeln!(
        out,
        "  log lines   CloudWatch Logs Insights over {}:",
        environment.log_groups.join(", ")
    );
    let _ = writeln!(out, "              {}", crate::logs::event_query(&story.event_id));
    let _ = writeln!(
        out,
        "  spans       CloudWatch Logs Insights over the log group {SPANS_LOG_GROUP} (Transaction Search):"
    );
    let _ = writeln!(out, "              {}", spans_query(&story.event_id));
}

/// The Logs Insights query that finds an event's spans through Transaction Search.
pub fn spans_query(event_id: &str) -> String {
    format!(
        "fields @timestamp, name, traceId | filter @message like {} | sort @timestamp asc",
        quoted(event_id)
    )
}

/// `2026-12-01T21:00:00.123Z` from Unix milliseconds.
fn timestamp(unix_ms: i64) -> String {
    jiff::Timestamp::from_millisecond(unix_ms)
        .map(|time| time.to_string())
        .unwrap_or_else(|_| unix_ms.to_string())
}
