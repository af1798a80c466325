//! A story as the terminal shows it: the verdict, the record, where it was last seen, each trace
//! as the demo's waterfall, and in AWS the console and Transaction Search links.

use std::fmt::Write as _;

use trace_reader::waterfall::{render_trace, xray_trace_id};

use crate::environment::{Environment, Location, queue_name};
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
    dead_letter(&mut out, story, environment);
    deliveries(&mut out, story);
    if let Some(problem) = &story.search_problem {
        let _ = writeln!(out, "  note        the search by event id failed: {problem}");
    }
    for trace in &story.traces {
        out.push('\n');
        out.push_str(&render_trace(&story.event_id, &trace.trace_id, &trace.spans));
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
    let attempts = story.message_spans();
    if attempts.len() <= 1 {
        return;
    }
    let failed = attempts
        .iter()
        .filter(|span| matches!(span.status, trace_reader::span::SpanStatus::Error(_)))
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
    for trace in &story.traces {
        let _ = writeln!(
            out,
            "  X-Ray       https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#xray:traces/{}",
            xray_trace_id(&trace.trace_id)
        );
    }
    let _ = writeln!(
        out,
        "  spans       CloudWatch Logs Insights over the log group {SPANS_LOG_GROUP} (Transaction Search):"
    );
    let _ = writeln!(out, "              {}", insights_query(&story.event_id));
}

/// The Logs Insights query that finds an event's spans through Transaction Search.
pub fn insights_query(event_id: &str) -> String {
    format!("fields @timestamp, name, traceId | filter @message like \"{event_id}\" | sort @timestamp asc")
}

/// `2026-12-01T21:00:00.123Z` from Unix milliseconds.
fn timestamp(unix_ms: i64) -> String {
    jiff::Timestamp::from_millisecond(unix_ms)
        .map(|time| time.to_string())
        .unwrap_or_else(|_| unix_ms.to_string())
}
