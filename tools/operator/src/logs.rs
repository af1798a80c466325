//! An event's log lines, the record that exists whether or not its trace was sampled: one
//! CloudWatch Logs Insights query over both functions' log groups (`StartQuery`, then
//! `GetQueryResults` until it completes). Every stage writes one JSON line per event with
//! `webhook.event_id`, the trace id, `sampled` and its `outcome`; the log groups index the event
//! id (Terraform's field index policy), so `filterIndex` reads only the event's lines.
//!
//! Every id is data: [`quoted`] makes any text one Logs Insights string, whatever it holds.

use std::time::{Duration, Instant, SystemTime};

use aws_sdk_cloudwatchlogs::types::QueryStatus;
use serde_json::{Map, Value};

use crate::OperatorError;

/// How long a query may run before the story is told without it.
pub const QUERY_DEADLINE: Duration = Duration::from_secs(60);
/// More lines than one event ever leaves (a few per delivery).
const MAX_LINES: u32 = 1000;

/// `text` as a Logs Insights string literal: double-quoted, with `\` escaping `\`, `"` and the
/// control characters, so no text can end the string or change the query around it.
pub fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The query for every line about `event_id`, oldest first.
pub fn event_query(event_id: &str) -> String {
    format!(
        "filterIndex webhook.event_id = {} | fields @timestamp, @log, @message | sort @timestamp asc | limit {MAX_LINES}",
        quoted(event_id)
    )
}

/// Which function wrote a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// webhook-api.
    Api,
    /// webhook-worker.
    Worker,
    /// webhook-notifier.
    Notifier,
}

/// One log line about the event.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    /// As Logs Insights gives it: `2026-12-03 19:03:09.123` (UTC).
    pub timestamp: String,
    /// Which function wrote it.
    pub stage: Stage,
    /// The line's own JSON fields.
    pub fields: Map<String, Value>,
}

impl LogLine {
    /// A field as text (numbers and booleans as JSON writes them).
    pub fn field(&self, name: &str) -> Option<String> {
        match self.fields.get(name)? {
            Value::String(text) => Some(text.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }

    /// The line's `outcome` field.
    pub fn outcome(&self) -> Option<String> {
        self.field("outcome")
    }

    /// The line's X-Ray trace id.
    pub fn trace_id(&self) -> Option<String> {
        self.field("trace_id")
    }

    /// Whether the line's trace was recorded; `None` for a line written outside any trace.
    pub fn sampled(&self) -> Option<bool> {
        self.fields.get("sampled").and_then(Value::as_bool)
    }
}

/// The lines about `event_id` in `log_groups` (API, worker, then notifier) between `since` and
/// `until`, oldest first.
pub async fn event_lines(
    logs: &aws_sdk_cloudwatchlogs::Client,
    log_groups: &[String],
    event_id: &str,
    since: SystemTime,
    until: SystemTime,
) -> Result<Vec<LogLine>, OperatorError> {
    let seconds = |time: SystemTime| {
        time.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs() as i64
    };
    let query_id = logs
        .start_query()
        .set_log_group_names(Some(log_groups.to_vec()))
        .start_time(seconds(since))
        .end_time(seconds(until))
        .query_string(event_query(event_id))
        .limit(MAX_LINES as i32)
        .send()
        .await
        .map_err(|error| OperatorError::aws("CloudWatch Logs", "StartQuery", error))?
        .query_id
        .unwrap_or_default();
    let started = Instant::now();
    let mut pause = Duration::from_millis(250);
    loop {
        let output = logs
            .get_query_results()
            .query_id(&query_id)
            .send()
            .await
            .map_err(|error| OperatorError::aws("CloudWatch Logs", "GetQueryResults", error))?;
        match output.status() {
            Some(QueryStatus::Complete) => {
                return Ok(output
                    .results()
                    .iter()
                    .filter_map(|row| line_of(row, log_groups))
                    .collect());
            }
            Some(QueryStatus::Running | QueryStatus::Scheduled) | None => {}
            Some(other) => {
                return Err(OperatorError::Incomplete(format!(
                    "the Logs Insights query {query_id} ended {}",
                    other.as_str()
                )));
            }
        }
        if started.elapsed() + pause > QUERY_DEADLINE {
            return Err(OperatorError::Incomplete(format!(
                "the Logs Insights query {query_id} did not complete within {QUERY_DEADLINE:?}"
            )));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(2));
    }
}

/// A result row (`@timestamp`, `@log`, `@message`) as a line; rows of another log group or
/// whose message is not a JSON object are not the event's lines.
fn line_of(row: &[aws_sdk_cloudwatchlogs::types::ResultField], log_groups: &[String]) -> Option<LogLine> {
    let get = |name: &str| {
        row.iter()
            .find(|field| field.field() == Some(name))
            .and_then(|field| field.value())
    };
    // `@log` is `<account>:<log group>`.
    let group = get("@log")?.split_once(':').map(|(_, group)| group)?;
    let stage = match log_groups.iter().position(|known| known == group) {
        Some(0) => Stage::Api,
        Some(1) => Stage::Worker,
        Some(_) => Stage::Notifier,
        None => return None,
    };
    let Ok(Value::Object(fields)) = serde_json::from_str(get("@message")?) else {
        return None;
    };
    Some(LogLine {
        timestamp: get("@timestamp").unwrap_or_default().to_owned(),
        stage,
        fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_quotes_the_id_so_nothing_in_it_changes_the_query() {
        assert_eq!(
            event_query("evt_1"),
            r#"filterIndex webhook.event_id = "evt_1" | fields @timestamp, @log, @message | sort @timestamp asc | limit 1000"#
        );
        assert_eq!(quoted("a\"b\\c\nd"), r#""a\"b\\c\nd""#);
    }
}
