//! Renders a trace as a terminal waterfall: one line per span (service, kind, name indented by
//! depth, a duration bar on the trace's timeline, duration, status, key attributes) and its
//! links, resolved to the linked span's name when that span was received too.
//!
//! Asynchronous traces are mostly waiting (a message sits in SQS for the batching window), so
//! idle gaps longer than a tenth of the trace are collapsed to a marked `┆┆` on the timeline and
//! their length is printed: the work stays readable.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use crate::span::{SpanRecord, SpanStatus};

const BAR_WIDTH: usize = 32;
const NAME_WIDTH: usize = 38;

/// The attributes worth a glance, in this order.
const KEY_ATTRIBUTES: [&str; 8] = [
    "webhook.event_id",
    "webhook.outcome",
    "trace.has_upstream_context",
    "trace.upstream_carrier",
    "http.response.status_code",
    "error.type",
    "messaging.batch.message_count",
    "faas.coldstart",
];

/// `1-xxxxxxxx-yyyyyyyyyyyyyyyyyyyyyyyy`, the form X-Ray's console searches by.
pub fn xray_trace_id(trace_id: &str) -> String {
    match (trace_id.get(..8), trace_id.get(8..)) {
        (Some(epoch), Some(unique)) if !unique.is_empty() => format!("1-{epoch}-{unique}"),
        _ => trace_id.to_owned(),
    }
}

/// The waterfall of `trace_id` under `title`; `all` resolves links to other traces.
pub fn render_trace(title: &str, trace_id: &str, all: &[SpanRecord]) -> String {
    let spans: Vec<&SpanRecord> = all.iter().filter(|span| span.trace_id == trace_id).collect();
    let mut out = String::new();
    let _ = writeln!(out, "── {title} ── trace {} ──", xray_trace_id(trace_id));
    if spans.is_empty() {
        let _ = writeln!(out, "   (no spans received for this trace)");
        return out;
    }
    let timeline = Timeline::of(&spans);
    let ids: HashSet<&str> = spans.iter().map(|span| span.span_id.as_str()).collect();
    let mut children: HashMap<&str, Vec<&SpanRecord>> = HashMap::new();
    let mut roots: Vec<&SpanRecord> = Vec::new();
    for span in &spans {
        if ids.contains(span.parent_span_id.as_str()) {
            children
                .entry(span.parent_span_id.as_str())
                .or_default()
                .push(span);
        } else {
            roots.push(span);
        }
    }
    roots.sort_by_key(|span| span.start_unix_nanos);
    for list in children.values_mut() {
        list.sort_by_key(|span| span.start_unix_nanos);
    }

    let mut stack: Vec<(&SpanRecord, usize)> = roots.iter().rev().map(|span| (*span, 0)).collect();
    while let Some((span, depth)) = stack.pop() {
        render_span(&mut out, span, depth, &timeline, all);
        if let Some(kids) = children.get(span.span_id.as_str()) {
            stack.extend(kids.iter().rev().map(|kid| (*kid, depth + 1)));
        }
    }
    let _ = writeln!(out, "   {}", timeline.summary());
    out
}

/// Maps time to bar columns: busy stretches scale linearly, long idle gaps take two columns.
struct Timeline {
    /// (start, end) of each stretch shown to scale, and the idle gaps between them.
    stretches: Vec<(u64, u64)>,
    gaps: Vec<(u64, u64)>,
    nanos_per_column: f64,
}

const GAP_COLUMNS: usize = 2;

impl Timeline {
    fn of(spans: &[&SpanRecord]) -> Self {
        let mut intervals: Vec<(u64, u64)> = spans
            .iter()
            .map(|span| {
                (
                    span.start_unix_nanos,
                    span.end_unix_nanos.max(span.start_unix_nanos),
                )
            })
            .collect();
        intervals.sort_unstable();
        let mut busy: Vec<(u64, u64)> = Vec::new();
        for (start, end) in intervals {
            match busy.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => busy.push((start, end)),
            }
        }
        let total = match (busy.first(), busy.last()) {
            (Some(first), Some(last)) => last.1.saturating_sub(first.0).max(1),
            _ => 1,
        };
        let mut stretches: Vec<(u64, u64)> = Vec::new();
        let mut gaps = Vec::new();
        for (start, end) in busy {
            match stretches.last_mut() {
                Some(last) if start - last.1 > total / 10 => {
                    gaps.push((last.1, start));
                    stretches.push((start, end));
                }
                Some(last) => last.1 = end,
                None => stretches.push((start, end)),
            }
        }
        let shown: u64 = stretches
            .iter()
            .map(|(start, end)| end - start)
            .sum::<u64>()
            .max(1);
        let columns = BAR_WIDTH.saturating_sub(GAP_COLUMNS * gaps.len()).max(1);
        Self {
            stretches,
            gaps,
            nanos_per_column: shown as f64 / columns as f64,
        }
    }

    /// The column at time `t`.
    fn column(&self, t: u64) -> usize {
        let mut column = 0.0;
        for (index, (start, end)) in self.stretches.iter().enumerate() {
            if t <= *end || index + 1 == self.stretches.len() {
                column += t.clamp(*start, *end).saturating_sub(*start) as f64 / self.nanos_per_column;
                return (column.round() as usize).min(BAR_WIDTH - 1);
            }
            column += (end - start) as f64 / self.nanos_per_column + GAP_COLUMNS as f64;
        }
        0
    }

    fn is_gap_column(&self, column: usize) -> bool {
        self.gaps.iter().any(|(gap_start, _)| {
            let first = self.column(*gap_start) + 1;
            column >= first && column < first + GAP_COLUMNS
        })
    }

    fn summary(&self) -> String {
        let busy: u64 = self.stretches.iter().map(|(start, end)| end - start).sum();
        if self.gaps.is_empty() {
            return format!("timeline: {:.1} ms", busy as f64 / 1e6);
        }
        let waits: Vec<String> = self
            .gaps
            .iter()
            .map(|(start, end)| format!("{:.2} s", (end - start) as f64 / 1e9))
            .collect();
        format!(
            "timeline: {:.1} ms of spans; ┆┆ = idle, not to scale ({} waiting, e.g. in the queue)",
            busy as f64 / 1e6,
            waits.join(", ")
        )
    }
}

fn render_span(out: &mut String, span: &SpanRecord, depth: usize, timeline: &Timeline, all: &[SpanRecord]) {
    let first = timeline.column(span.start_unix_nanos);
    let last = timeline.column(span.end_unix_nanos).max(first);
    let bar: String = (0..BAR_WIDTH)
        .map(|i| match i {
            _ if i >= first && i <= last => '█',
            _ if timeline.is_gap_column(i) => '┆',
            _ => ' ',
        })
        .collect();
    let status = match &span.status {
        SpanStatus::Error(_) => "ERROR",
        SpanStatus::Ok => "OK",
        SpanStatus::Unset => "ok",
    };
    let name = format!("{}{}", "  ".repeat(depth), span.name);
    let remote_parent = if depth == 0 && !span.is_root() { " ↖" } else { "" };
    let attributes: Vec<String> = KEY_ATTRIBUTES
        .iter()
        .filter_map(|key| span.attribute(key).map(|value| format!("{key}={value}")))
        .collect();
    let line = format!(
        "   {:<15} {:<8} {:<width$} │{bar}│ {:>8.1} ms  {:<5} {}",
        truncate(&span.service, 15),
        span.kind.label(),
        truncate(&format!("{name}{remote_parent}"), NAME_WIDTH),
        span.duration_nanos() as f64 / 1e6,
        status,
        attributes.join(" "),
        width = NAME_WIDTH,
    );
    let _ = writeln!(out, "{}", line.trim_end());
    for (trace_id, span_id) in &span.links {
        let target = all
            .iter()
            .find(|candidate| candidate.trace_id == *trace_id && candidate.span_id == *span_id);
        let described = match target {
            Some(target) => format!("{} \"{}\"", target.service, target.name),
            None => format!("span {span_id}"),
        };
        let _ = writeln!(
            out,
            "   {:<24} {}↳ link: {described} in trace {}",
            "",
            "  ".repeat(depth),
            xray_trace_id(trace_id)
        );
    }
}

fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_owned()
    } else {
        let kept: String = text.chars().take(width.saturating_sub(1)).collect();
        format!("{kept}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::SpanKind;
    use std::collections::BTreeMap;

    fn span(name: &str, id: &str, parent: &str, start_ms: u64, end_ms: u64) -> SpanRecord {
        SpanRecord {
            service: "svc".into(),
            trace_id: "5759e988bd862e3fe1be46a994272793".into(),
            span_id: id.into(),
            parent_span_id: parent.into(),
            name: name.into(),
            kind: SpanKind::Server,
            start_unix_nanos: start_ms * 1_000_000,
            end_unix_nanos: end_ms * 1_000_000,
            status: SpanStatus::Unset,
            attributes: BTreeMap::new(),
            links: Vec::new(),
            events: Vec::new(),
            sampled: true,
        }
    }

    #[test]
    fn children_are_indented_under_their_parent_in_start_order() {
        let spans = vec![
            span("late-child", "c2", "r", 30, 40),
            span("root", "r", "ffffffffffffffff", 0, 100),
            span("early-child", "c1", "r", 10, 20),
            span("grandchild", "g", "c1", 12, 18),
        ];
        let text = render_trace("title", "5759e988bd862e3fe1be46a994272793", &spans);
        let names: Vec<&str> = text
            .lines()
            .filter_map(|line| {
                ["root", "early-child", "grandchild", "late-child"]
                    .into_iter()
                    .find(|n| line.contains(n))
            })
            .collect();
        assert_eq!(names, ["root", "early-child", "grandchild", "late-child"]);
        assert!(text.contains("trace 1-5759e988-bd862e3fe1be46a994272793"));
        assert!(text.contains("root ↖"), "a root with a remote parent is marked");
        assert!(text.contains("    early-child"), "depth 1 is indented");
    }

    #[test]
    fn a_long_idle_gap_is_collapsed_and_its_length_reported() {
        // 10 ms of producer work, 5 s in the queue, 10 ms of consumer work.
        let spans = vec![
            span("producer", "p", "", 0, 10),
            span("consumer", "c", "p", 5010, 5020),
        ];
        let text = render_trace("t", "5759e988bd862e3fe1be46a994272793", &spans);
        let bar = |name: &str| {
            let line = text.lines().find(|line| line.contains(name)).unwrap_or_default();
            line.split('│').nth(1).unwrap_or_default().to_owned()
        };
        let producer = bar("producer");
        let consumer = bar("consumer");
        let filled = |bar: &str| bar.chars().filter(|c| *c == '█').count();
        assert!(
            filled(&producer) >= 10 && filled(&consumer) >= 10,
            "both halves stay visible:\n{text}"
        );
        assert!(producer.starts_with('█') && consumer.ends_with('█'));
        assert!(producer.contains('┆'), "the gap is marked");
        assert!(text.contains("5.00 s waiting"), "{text}");
    }

    #[test]
    fn bars_sit_on_the_traces_timeline() {
        let spans = vec![
            span("whole", "a", "", 0, 100),
            span("second-half", "b", "a", 50, 100),
        ];
        let text = render_trace("t", "5759e988bd862e3fe1be46a994272793", &spans);
        let bar = |name: &str| {
            let line = text.lines().find(|line| line.contains(name)).unwrap_or_default();
            line.split('│').nth(1).unwrap_or_default().to_owned()
        };
        assert_eq!(bar("whole").trim(), "█".repeat(BAR_WIDTH));
        assert!(bar("second-half").starts_with(&" ".repeat(BAR_WIDTH / 2)));
    }
}
