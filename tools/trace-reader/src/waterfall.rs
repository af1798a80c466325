//! Renders a trace as a terminal waterfall: one line per span (service, kind, name indented by
//! depth, a duration bar on the trace's timeline, duration, status, key attributes) and its
//! links, resolved to the linked span's name when that span was received too.
//!
//! Asynchronous traces are mostly waiting (a message sits in SQS for the batching window), so
//! the longest idle gaps (more than a tenth of the trace) are collapsed to a marked `┆┆` on the
//! timeline and their length is printed: the work stays readable.
//!
//! Whatever the spans' shape, the drawing ends in time linear in their number (after a sort):
//! each span is drawn at most once, parents that form a cycle or ids that repeat are drawn as
//! such rather than followed, and past [`MAX_DRAWN`] spans the rest are counted, not drawn.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::span::{SpanRecord, SpanStatus};

const BAR_WIDTH: usize = 32;
const NAME_WIDTH: usize = 46;
/// Spans drawn per trace; a trace with more says how many it left out.
pub const MAX_DRAWN: usize = 2000;
/// Idle gaps collapsed per trace, the longest first; shorter ones are drawn to scale.
const MAX_GAPS: usize = 4;
/// Indentation stops growing here, so a deep chain stays on the screen.
const MAX_INDENT: usize = 12;

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

/// Why a span is drawn where it is, when its parent is not simply the line above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placement {
    /// Under its parent, or a root.
    Tree,
    /// Its parents lead back to itself: drawn as a root, marked.
    InCycle,
}

/// The order spans are drawn in: each span once, with its depth and placement.
fn drawing_order(spans: &[&SpanRecord]) -> Vec<(usize, usize, Placement)> {
    let mut by_id: HashMap<&str, Vec<usize>> = HashMap::new();
    for (index, span) in spans.iter().enumerate() {
        by_id.entry(span.span_id.as_str()).or_default().push(index);
    }
    // A span's parent is the first other span with its parent id (an X-Ray subsegment may reuse
    // its segment's id, so a span never parents itself).
    let parent_of = |index: usize| -> Option<usize> {
        let span = spans[index];
        by_id
            .get(span.parent_span_id.as_str())?
            .iter()
            .copied()
            .find(|candidate| *candidate != index)
    };
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); spans.len()];
    let mut roots = Vec::new();
    for index in 0..spans.len() {
        match parent_of(index) {
            Some(parent) => children[parent].push(index),
            None => roots.push(index),
        }
    }
    let by_start = |list: &mut Vec<usize>| list.sort_by_key(|index| (spans[*index].start_unix_nanos, *index));
    by_start(&mut roots);
    for list in &mut children {
        by_start(list);
    }

    let mut order = Vec::with_capacity(spans.len());
    let mut drawn = vec![false; spans.len()];
    for root in roots {
        walk(root, Placement::Tree, &children, &mut drawn, &mut order);
    }
    // What no root reaches hangs in a cycle of parents: drawn from its earliest span.
    let mut rest: Vec<usize> = (0..spans.len()).filter(|index| !drawn[*index]).collect();
    by_start(&mut rest);
    for index in rest {
        walk(index, Placement::InCycle, &children, &mut drawn, &mut order);
    }
    order
}

/// Depth-first from `start`, skipping what is drawn already (so a cycle ends).
fn walk(
    start: usize,
    placement: Placement,
    children: &[Vec<usize>],
    drawn: &mut [bool],
    order: &mut Vec<(usize, usize, Placement)>,
) {
    let mut stack = vec![(start, 0_usize)];
    while let Some((index, depth)) = stack.pop() {
        if std::mem::replace(&mut drawn[index], true) {
            continue;
        }
        let placement = if index == start {
            placement
        } else {
            Placement::Tree
        };
        order.push((index, depth, placement));
        stack.extend(children[index].iter().rev().map(|child| (*child, depth + 1)));
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
    let linked: HashMap<(&str, &str), &SpanRecord> = all
        .iter()
        .map(|span| ((span.trace_id.as_str(), span.span_id.as_str()), span))
        .collect();
    let order = drawing_order(&spans);
    for (index, depth, placement) in order.iter().take(MAX_DRAWN) {
        render_span(&mut out, spans[*index], *depth, *placement, &timeline, &linked);
    }
    if order.len() > MAX_DRAWN {
        let _ = writeln!(
            out,
            "   … {} more spans not drawn (a trace draws at most {MAX_DRAWN})",
            order.len() - MAX_DRAWN
        );
    }
    let _ = writeln!(out, "   {}", timeline.summary());
    out
}

/// Maps time to bar columns: busy stretches scale linearly, long idle gaps take two columns.
struct Timeline {
    /// (start, end) of each stretch shown to scale; a collapsed gap lies between neighbours.
    stretches: Vec<(u64, u64)>,
    /// The column each stretch starts at (fractional).
    offsets: Vec<f64>,
    gaps: Vec<(u64, u64)>,
    nanos_per_column: f64,
    gap_columns: [bool; BAR_WIDTH],
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
        // The longest idle gaps over a tenth of the trace are collapsed, at most MAX_GAPS.
        let mut candidates: Vec<(u64, usize)> = busy
            .windows(2)
            .enumerate()
            .map(|(index, pair)| (pair[1].0 - pair[0].1, index))
            .filter(|(length, _)| *length > total / 10)
            .collect();
        candidates.sort_unstable_by(|a, b| b.cmp(a));
        candidates.truncate(MAX_GAPS);
        let mut collapsed: Vec<usize> = candidates.into_iter().map(|(_, index)| index).collect();
        collapsed.sort_unstable();

        let mut stretches: Vec<(u64, u64)> = Vec::new();
        let mut gaps = Vec::new();
        let mut next_gap = collapsed.iter().peekable();
        for (index, (start, end)) in busy.iter().copied().enumerate() {
            match stretches.last_mut() {
                Some(last) => last.1 = end,
                None => stretches.push((start, end)),
            }
            if next_gap.next_if(|gap| **gap == index).is_some()
                && let Some(next) = busy.get(index + 1)
            {
                gaps.push((end, next.0));
                stretches.push((next.0, next.0));
            }
        }
        let shown: u64 = stretches
            .iter()
            .map(|(start, end)| end - start)
            .sum::<u64>()
            .max(1);
        let columns = BAR_WIDTH.saturating_sub(GAP_COLUMNS * gaps.len()).max(1);
        let nanos_per_column = shown as f64 / columns as f64;
        let mut offsets = Vec::with_capacity(stretches.len());
        let mut column = 0.0;
        for (start, end) in &stretches {
            offsets.push(column);
            column += (end - start) as f64 / nanos_per_column + GAP_COLUMNS as f64;
        }
        let mut timeline = Self {
            stretches,
            offsets,
            gaps,
            nanos_per_column,
            gap_columns: [false; BAR_WIDTH],
        };
        for (gap_start, _) in timeline.gaps.clone() {
            let first = timeline.column(gap_start) + 1;
            for column in first..(first + GAP_COLUMNS).min(BAR_WIDTH) {
                timeline.gap_columns[column] = true;
            }
        }
        timeline
    }

    /// The column at time `t`.
    fn column(&self, t: u64) -> usize {
        // The stretch `t` falls in (or the gap after it): the last one starting at or before t.
        let index = self
            .stretches
            .partition_point(|(start, _)| *start <= t)
            .saturating_sub(1);
        let Some((start, end)) = self.stretches.get(index) else {
            return 0;
        };
        let column =
            self.offsets[index] + t.clamp(*start, *end).saturating_sub(*start) as f64 / self.nanos_per_column;
        (column.round() as usize).min(BAR_WIDTH - 1)
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

fn render_span(
    out: &mut String,
    span: &SpanRecord,
    depth: usize,
    placement: Placement,
    timeline: &Timeline,
    linked: &HashMap<(&str, &str), &SpanRecord>,
) {
    let first = timeline.column(span.start_unix_nanos);
    let last = timeline.column(span.end_unix_nanos).max(first);
    let bar: String = (0..BAR_WIDTH)
        .map(|i| match i {
            _ if i >= first && i <= last => '█',
            _ if timeline.gap_columns[i] => '┆',
            _ => ' ',
        })
        .collect();
    let status = match &span.status {
        SpanStatus::Error(_) => "ERROR",
        SpanStatus::Ok => "OK",
        SpanStatus::Unset => "ok",
    };
    let indent = "  ".repeat(depth.min(MAX_INDENT));
    let name = format!("{indent}{}", span.name);
    let marker = match placement {
        Placement::InCycle => " ↺",
        Placement::Tree if depth == 0 && !span.is_root() => " ↖",
        Placement::Tree => "",
    };
    let attributes: Vec<String> = KEY_ATTRIBUTES
        .iter()
        .filter_map(|key| span.attribute(key).map(|value| format!("{key}={value}")))
        .collect();
    let line = format!(
        "   {:<15} {:<8} {:<width$} │{bar}│ {:>8.1} ms  {:<5} {}",
        truncate(&span.service, 15),
        span.kind.label(),
        truncate(&format!("{name}{marker}"), NAME_WIDTH),
        span.duration_nanos() as f64 / 1e6,
        status,
        attributes.join(" "),
        width = NAME_WIDTH,
    );
    let _ = writeln!(out, "{}", line.trim_end());
    for (trace_id, span_id) in &span.links {
        let described = match linked.get(&(trace_id.as_str(), span_id.as_str())) {
            Some(target) => format!("{} \"{}\"", target.service, target.name),
            None => format!("span {span_id}"),
        };
        let _ = writeln!(
            out,
            "   {:<24} {indent}↳ link: {described} in trace {}",
            "",
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

    #[test]
    fn spans_whose_parents_form_a_cycle_are_drawn_and_marked() {
        let spans = vec![
            span("first", "a", "b", 0, 10),
            span("second", "b", "a", 5, 15),
            span("root", "r", "", 0, 20),
        ];
        let text = render_trace("t", "5759e988bd862e3fe1be46a994272793", &spans);
        for name in ["first", "second", "root"] {
            assert_eq!(
                text.lines().filter(|line| line.contains(name)).count(),
                1,
                "{name} is drawn once:\n{text}"
            );
        }
        assert!(text.contains("first ↺"), "the cycle is marked:\n{text}");
    }

    #[test]
    fn a_repeated_span_id_whose_copy_is_its_own_child_is_drawn_once_each() {
        // An X-Ray subsegment that reuses its segment's id.
        let spans = vec![
            span("segment", "s", "p", 0, 10),
            span("subsegment", "s", "s", 1, 9),
        ];
        let text = render_trace("t", "5759e988bd862e3fe1be46a994272793", &spans);
        assert_eq!(
            text.lines().filter(|line| line.contains("segment")).count(),
            2,
            "{text}"
        );
        assert!(
            text.contains("    subsegment"),
            "the copy is drawn under the segment:\n{text}"
        );
    }

    #[test]
    fn a_trace_larger_than_the_limit_says_how_many_spans_it_left_out() {
        let spans: Vec<SpanRecord> = (0..MAX_DRAWN + 5)
            .map(|i| {
                span(
                    "s",
                    &i.to_string(),
                    &i.saturating_sub(1).to_string(),
                    i as u64,
                    i as u64 + 1,
                )
            })
            .collect();
        let text = render_trace("t", "5759e988bd862e3fe1be46a994272793", &spans);
        assert!(
            text.contains("… 5 more spans not drawn"),
            "{}",
            &text[text.len() - 300..]
        );
    }

    proptest::proptest! {
        /// Any set of spans (cycles, repeated ids, orphans, self-parents) is drawn: every span
        /// once, or counted as left out.
        #[test]
        fn any_spans_are_drawn_once_each(
            edges in proptest::collection::vec((0_u8..40, 0_u8..45, 0_u64..1_000, 0_u64..1_000), 0..300)
        ) {
            let spans: Vec<SpanRecord> = edges
                .iter()
                .enumerate()
                .map(|(index, (id, parent, start, length))| {
                    let mut record = span(&format!("n{index}x"), &id.to_string(), &parent.to_string(), *start, start + length);
                    record.links = vec![("5759e988bd862e3fe1be46a994272793".into(), parent.to_string())];
                    record
                })
                .collect();
            let text = render_trace("t", "5759e988bd862e3fe1be46a994272793", &spans);
            let mut drawn: HashMap<&str, usize> = HashMap::new();
            for word in text.lines().filter(|line| !line.contains("↳ link")).flat_map(str::split_whitespace) {
                if word.starts_with('n') && word.ends_with('x') {
                    *drawn.entry(word).or_default() += 1;
                }
            }
            for index in 0..spans.len() {
                let name = format!("n{index}x");
                proptest::prop_assert_eq!(drawn.get(name.as_str()).copied(), Some(1), "{} in\n{}", name, text);
            }
        }
    }
}
