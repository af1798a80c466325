//! CloudWatch Logs Insights, answered by the local pipeline: moto stores log events and answers
//! `FilterLogEvents`, but its `StartQuery` ignores `filter`. So `StartQuery` and
//! `GetQueryResults` are answered here, behind the same API, by evaluating the query over the
//! events moto holds, and the tools send the query they send to AWS.
//!
//! The language is the part of Logs Insights the tools use, parsed as Logs Insights parses it:
//! commands joined by `|`: `fields`, `display`, `filter` and `filterIndex` (`=`, `!=`, `in [..]`,
//! `like "..."`, joined by `and` / `or`), `sort <field> asc|desc` and `limit <n>`. Field names
//! are letters, digits, `_`, `.` and `@`, or anything between backticks; strings are single- or
//! double-quoted, with `\` escaping the next character. JSON log events give their fields, nested
//! objects flattened with `.`, as Logs Insights discovers them. A query outside this part is
//! refused with `MalformedQueryException` naming what is not supported, never answered wrongly.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// Its commands, in order.
    pub commands: Vec<Command>,
}

/// One command of a query.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `fields` and `display`: which fields each result row has.
    Fields(Vec<String>),
    /// `filter` and `filterIndex`.
    Filter(Condition),
    /// `sort <field> asc|desc`.
    Sort {
        /// The field sorted on.
        field: String,
        /// `desc` rather than `asc`.
        descending: bool,
    },
    /// `limit <n>`.
    Limit(usize),
}

/// A `filter` or `filterIndex` condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// `<field> = "<value>"`.
    Equals {
        /// The field.
        field: String,
        /// The value it is compared with.
        value: String,
        /// `!=` rather than `=`.
        negated: bool,
    },
    /// `<field> in ["<value>", ...]`.
    In {
        /// The field.
        field: String,
        /// The values it may hold.
        values: Vec<String>,
    },
    /// `<field> like "<text>"` (or `like /regex/`).
    Like {
        /// The field.
        field: String,
        /// The text it must contain.
        needle: String,
    },
    /// Both hold.
    And(Box<Condition>, Box<Condition>),
    /// Either holds.
    Or(Box<Condition>, Box<Condition>),
}

impl Condition {
    fn holds(&self, event: &HashMap<String, String>) -> bool {
        match self {
            Self::Equals {
                field,
                value,
                negated,
            } => (event.get(field) == Some(value)) != *negated,
            Self::In { field, values } => event.get(field).is_some_and(|found| values.contains(found)),
            Self::Like { field, needle } => event
                .get(field)
                .is_some_and(|found| found.contains(needle.as_str())),
            Self::And(left, right) => left.holds(event) && right.holds(event),
            Self::Or(left, right) => left.holds(event) || right.holds(event),
        }
    }
}

/// The rows Logs Insights returns when no `limit` is given.
const DEFAULT_LIMIT: usize = 1000;
/// The largest `limit` Logs Insights accepts.
const MAX_LIMIT: usize = 10_000;

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Field(String),
    Symbol(&'static str),
}

/// Why a query cannot be answered (Logs Insights' `MalformedQueryException`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MalformedQuery(pub String);

fn tokens(query: &str) -> Result<Vec<Token>, MalformedQuery> {
    let mut tokens = Vec::new();
    let mut chars = query.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '"' | '\'' => {
                chars.next();
                let mut text = String::new();
                loop {
                    match chars.next() {
                        Some('\\') => match chars.next() {
                            Some('n') => text.push('\n'),
                            Some('t') => text.push('\t'),
                            Some('r') => text.push('\r'),
                            Some(other) => text.push(other),
                            None => return Err(MalformedQuery("a string ends in a lone backslash".into())),
                        },
                        Some(end) if end == c => break,
                        Some(other) => text.push(other),
                        None => return Err(MalformedQuery("a string is not closed".into())),
                    }
                }
                tokens.push(Token::Text(text));
            }
            '`' => {
                chars.next();
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('`') => break,
                        Some(other) => name.push(other),
                        None => return Err(MalformedQuery("a field name in backticks is not closed".into())),
                    }
                }
                tokens.push(Token::Field(name));
            }
            '|' | ',' | '[' | ']' | '=' => {
                chars.next();
                tokens.push(Token::Symbol(match c {
                    '|' => "|",
                    ',' => ",",
                    '[' => "[",
                    ']' => "]",
                    _ => "=",
                }));
            }
            '!' => {
                chars.next();
                if chars.next() != Some('=') {
                    return Err(MalformedQuery("`!` must be followed by `=`".into()));
                }
                tokens.push(Token::Symbol("!="));
            }
            c if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '@') => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '@') {
                        word.push(c);
                        chars.next();
                    } else {
                        break;
                    }
                }
                tokens.push(Token::Word(word));
            }
            other => {
                return Err(MalformedQuery(format!(
                    "the local pipeline's Logs Insights does not support {other:?}"
                )));
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn field(&mut self) -> Result<String, MalformedQuery> {
        match self.next() {
            Some(Token::Word(name) | Token::Field(name)) => Ok(name),
            other => Err(MalformedQuery(format!("expected a field name, found {other:?}"))),
        }
    }

    fn text(&mut self) -> Result<String, MalformedQuery> {
        match self.next() {
            Some(Token::Text(text)) => Ok(text),
            other => Err(MalformedQuery(format!(
                "expected a quoted string, found {other:?}"
            ))),
        }
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(found)) if found.eq_ignore_ascii_case(word))
    }

    fn comparison(&mut self) -> Result<Condition, MalformedQuery> {
        let field = self.field()?;
        match self.next() {
            Some(Token::Symbol("=")) => Ok(Condition::Equals {
                field,
                value: self.text()?,
                negated: false,
            }),
            Some(Token::Symbol("!=")) => Ok(Condition::Equals {
                field,
                value: self.text()?,
                negated: true,
            }),
            Some(Token::Word(word)) if word.eq_ignore_ascii_case("like") => Ok(Condition::Like {
                field,
                needle: self.text()?,
            }),
            Some(Token::Word(word)) if word.eq_ignore_ascii_case("in") => {
                if self.next() != Some(Token::Symbol("[")) {
                    return Err(MalformedQuery("`in` takes a list: in [\"a\", \"b\"]".into()));
                }
                let mut values = vec![self.text()?];
                loop {
                    match self.next() {
                        Some(Token::Symbol(",")) => values.push(self.text()?),
                        Some(Token::Symbol("]")) => break,
                        other => return Err(MalformedQuery(format!("expected `,` or `]`, found {other:?}"))),
                    }
                }
                Ok(Condition::In { field, values })
            }
            other => Err(MalformedQuery(format!(
                "the local pipeline's Logs Insights compares with =, !=, in or like, not {other:?}"
            ))),
        }
    }

    fn condition(&mut self) -> Result<Condition, MalformedQuery> {
        let mut condition = self.comparison()?;
        loop {
            if self.keyword("and") {
                self.at += 1;
                condition = Condition::And(Box::new(condition), Box::new(self.comparison()?));
            } else if self.keyword("or") {
                self.at += 1;
                condition = Condition::Or(Box::new(condition), Box::new(self.comparison()?));
            } else {
                return Ok(condition);
            }
        }
    }

    fn command(&mut self) -> Result<Command, MalformedQuery> {
        let Some(Token::Word(name)) = self.next() else {
            return Err(MalformedQuery("every command starts with its name".into()));
        };
        match name.as_str() {
            "fields" | "display" => {
                let mut fields = vec![self.field()?];
                while self.peek() == Some(&Token::Symbol(",")) {
                    self.at += 1;
                    fields.push(self.field()?);
                }
                Ok(Command::Fields(fields))
            }
            "filter" | "filterIndex" => Ok(Command::Filter(self.condition()?)),
            "sort" => {
                let field = self.field()?;
                let descending = if self.keyword("desc") {
                    self.at += 1;
                    true
                } else {
                    if self.keyword("asc") {
                        self.at += 1;
                    }
                    false
                };
                Ok(Command::Sort { field, descending })
            }
            "limit" => match self.next() {
                Some(Token::Word(number)) => number
                    .parse()
                    .ok()
                    .filter(|limit| (1..=MAX_LIMIT).contains(limit))
                    .map(Command::Limit)
                    .ok_or_else(|| MalformedQuery(format!("limit {number:?} is not from 1 to {MAX_LIMIT}"))),
                other => Err(MalformedQuery(format!("limit takes a number, not {other:?}"))),
            },
            other => Err(MalformedQuery(format!(
                "the local pipeline's Logs Insights answers fields, display, filter, filterIndex, sort and limit, not {other:?}"
            ))),
        }
    }
}

impl Query {
    /// A query of the subset this emulation answers, or what it cannot read.
    pub fn parse(text: &str) -> Result<Self, MalformedQuery> {
        let mut parser = Parser {
            tokens: tokens(text)?,
            at: 0,
        };
        let mut commands = vec![parser.command()?];
        while let Some(token) = parser.next() {
            if token != Token::Symbol("|") {
                return Err(MalformedQuery(format!(
                    "expected `|` between commands, found {token:?}"
                )));
            }
            commands.push(parser.command()?);
        }
        Ok(Self { commands })
    }

    /// The result rows over `events`: (field, value) pairs, in the order `fields` named them.
    pub fn run(&self, events: &[LogEvent]) -> Vec<Vec<(String, String)>> {
        let fields: Vec<HashMap<String, String>> = events.iter().map(LogEvent::fields).collect();
        self.run_on(fields.iter().collect())
    }

    /// The result rows over events' discovered fields.
    fn run_on(&self, mut rows: Vec<&HashMap<String, String>>) -> Vec<Vec<(String, String)>> {
        let mut shown: Option<Vec<String>> = None;
        let mut limit = DEFAULT_LIMIT;
        for command in &self.commands {
            match command {
                Command::Filter(condition) => rows.retain(|row| condition.holds(row)),
                Command::Fields(fields) => shown = Some(fields.clone()),
                Command::Sort { field, descending } => {
                    rows.sort_by(|a, b| {
                        let order = a.get(field).cmp(&b.get(field));
                        if *descending { order.reverse() } else { order }
                    });
                }
                Command::Limit(n) => limit = *n,
            }
        }
        rows.truncate(limit);
        rows.into_iter()
            .map(|row| {
                let names: Vec<String> = match &shown {
                    Some(fields) => fields.clone(),
                    None => vec!["@timestamp".to_owned(), "@message".to_owned()],
                };
                let mut out: Vec<(String, String)> = names
                    .into_iter()
                    .filter_map(|name| row.get(&name).map(|value| (name, value.clone())))
                    .collect();
                if let Some(pointer) = row.get("@ptr") {
                    out.push(("@ptr".to_owned(), pointer.clone()));
                }
                out
            })
            .collect()
    }
}

/// One stored log event, as `FilterLogEvents` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    /// The log group.
    pub log_group: String,
    /// The log stream.
    pub log_stream: String,
    /// When it was written (Unix milliseconds).
    pub timestamp_ms: i64,
    /// The line.
    pub message: String,
    /// CloudWatch Logs' id of the event.
    pub event_id: String,
}

impl LogEvent {
    /// The fields Logs Insights discovers: the system fields and, for a JSON object, its keys
    /// (nested keys joined with `.`).
    fn fields(&self) -> HashMap<String, String> {
        let mut fields = HashMap::new();
        fields.insert("@timestamp".to_owned(), timestamp(self.timestamp_ms));
        fields.insert("@message".to_owned(), self.message.clone());
        fields.insert(
            "@log".to_owned(),
            format!("{}:{}", moto_server::ACCOUNT_ID, self.log_group),
        );
        fields.insert("@logStream".to_owned(), self.log_stream.clone());
        fields.insert("@ptr".to_owned(), self.event_id.clone());
        if let Ok(Value::Object(object)) = serde_json::from_str::<Value>(&self.message) {
            flatten("", &Value::Object(object), &mut fields);
        }
        fields
    }
}

fn flatten(prefix: &str, value: &Value, out: &mut HashMap<String, String>) {
    match value {
        Value::Object(object) => {
            for (key, value) in object {
                let name = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&name, value, out);
            }
        }
        Value::String(text) => {
            out.insert(prefix.to_owned(), text.clone());
        }
        Value::Null => {}
        other => {
            out.insert(prefix.to_owned(), other.to_string());
        }
    }
}

/// `2026-12-03 19:03:09.123`, the form Logs Insights gives `@timestamp` in.
fn timestamp(unix_ms: i64) -> String {
    jiff::Timestamp::from_millisecond(unix_ms)
        .map(|time| time.strftime("%Y-%m-%d %H:%M:%S%.3f").to_string())
        .unwrap_or_default()
}

/// A query's state, as `GetQueryResults` reports it.
#[derive(Debug, Clone)]
enum QueryState {
    Running,
    Complete {
        rows: Vec<Vec<(String, String)>>,
        scanned: usize,
        bytes: usize,
    },
    Failed(String),
}

/// An answer: status, error type and JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct LogsAnswer {
    /// The HTTP status.
    pub status: u16,
    /// The `__type` of an error answer.
    pub error_type: Option<&'static str>,
    /// The JSON body.
    pub body: Value,
}

impl LogsAnswer {
    fn ok(body: Value) -> Self {
        Self {
            status: 200,
            error_type: None,
            body,
        }
    }

    fn error(error_type: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: 400,
            error_type: Some(error_type),
            body: json!({ "__type": error_type, "message": message.into() }),
        }
    }
}

/// `StartQuery`, `GetQueryResults` and `StopQuery` over the log events in moto.
#[derive(Debug, Clone)]
pub struct LogsInsights {
    logs: aws_sdk_cloudwatchlogs::Client,
    queries: Arc<Mutex<BTreeMap<String, QueryState>>>,
    groups: Arc<tokio::sync::Mutex<HashMap<String, GroupIndex>>>,
}

/// One log group's events with their fields discovered, kept between queries as Logs Insights
/// keeps its own: each query reads from moto only what arrived since.
#[derive(Debug, Default)]
struct GroupIndex {
    events: Vec<Arc<IndexedEvent>>,
    ids: std::collections::HashSet<String>,
    newest_ms: Option<i64>,
}

#[derive(Debug)]
struct IndexedEvent {
    timestamp_ms: i64,
    message_bytes: usize,
    fields: HashMap<String, String>,
}

/// Events are re-read from this long before the newest one held: a line stored late (its
/// batch sent after a newer one) is still found.
const LATE_ARRIVAL: i64 = 60_000;

impl LogsInsights {
    /// `logs` reaches the store of log events (moto).
    pub fn new(logs: aws_sdk_cloudwatchlogs::Client) -> Self {
        Self {
            logs,
            queries: Arc::default(),
            groups: Arc::default(),
        }
    }

    /// Answers the JSON request of `operation` (`StartQuery`, ...), or `None` for another
    /// operation.
    pub fn answer(&self, operation: &str, body: &[u8]) -> Option<LogsAnswer> {
        let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        Some(match operation {
            "StartQuery" => self.start(&request),
            "GetQueryResults" => self.results(&request),
            "StopQuery" => LogsAnswer::ok(json!({ "success": true })),
            _ => return None,
        })
    }

    fn start(&self, request: &Value) -> LogsAnswer {
        let query = match Query::parse(request["queryString"].as_str().unwrap_or_default()) {
            Ok(query) => query,
            Err(MalformedQuery(message)) => return LogsAnswer::error("MalformedQueryException", message),
        };
        let mut groups: Vec<String> = ["logGroupNames", "logGroupIdentifiers"]
            .iter()
            .flat_map(|key| request[*key].as_array().cloned().unwrap_or_default())
            .filter_map(|group| group.as_str().map(str::to_owned))
            .collect();
        if let Some(group) = request["logGroupName"].as_str() {
            groups.push(group.to_owned());
        }
        if groups.is_empty() {
            return LogsAnswer::error("InvalidParameterException", "name at least one log group");
        }
        let (Some(start), Some(end)) = (request["startTime"].as_i64(), request["endTime"].as_i64()) else {
            return LogsAnswer::error("InvalidParameterException", "startTime and endTime are required");
        };
        let Ok(mut queries) = self.queries.lock() else {
            return LogsAnswer::error("ServiceUnavailableException", "the query table is unavailable");
        };
        let query_id = format!("local-query-{:06}", queries.len() + 1);
        queries.insert(query_id.clone(), QueryState::Running);
        drop(queries);
        let (logs, table, id) = (self.logs.clone(), Arc::clone(&self.queries), query_id.clone());
        let index = Arc::clone(&self.groups);
        tokio::spawn(async move {
            let state = match indexed_events(&logs, &index, &groups, start * 1000, end * 1000 + 999).await {
                Ok(events) => QueryState::Complete {
                    scanned: events.len(),
                    bytes: events.iter().map(|event| event.message_bytes).sum(),
                    rows: query.run_on(events.iter().map(|event| &event.fields).collect()),
                },
                Err(error) => QueryState::Failed(error),
            };
            if let Ok(mut queries) = table.lock() {
                queries.insert(id, state);
            }
        });
        LogsAnswer::ok(json!({ "queryId": query_id }))
    }

    fn results(&self, request: &Value) -> LogsAnswer {
        let id = request["queryId"].as_str().unwrap_or_default();
        let state = self
            .queries
            .lock()
            .ok()
            .and_then(|queries| queries.get(id).cloned());
        match state {
            None => LogsAnswer::error("ResourceNotFoundException", format!("no query {id}")),
            Some(QueryState::Running) => LogsAnswer::ok(json!({ "results": [], "status": "Running" })),
            Some(QueryState::Failed(error)) => LogsAnswer::ok(
                json!({ "results": [], "status": "Failed", "encryptionKey": null, "error": error }),
            ),
            Some(QueryState::Complete { rows, scanned, bytes }) => LogsAnswer::ok(json!({
                "status": "Complete",
                "results": rows
                    .iter()
                    .map(|row| row.iter().map(|(field, value)| json!({ "field": field, "value": value })).collect::<Vec<_>>())
                    .collect::<Vec<_>>(),
                "statistics": { "recordsMatched": rows.len(), "recordsScanned": scanned, "bytesScanned": bytes },
            })),
        }
    }
}

/// Every event of `groups` between the two times (Unix milliseconds), oldest first: the index
/// brought up to date through `FilterLogEvents`, then read.
async fn indexed_events(
    logs: &aws_sdk_cloudwatchlogs::Client,
    index: &tokio::sync::Mutex<HashMap<String, GroupIndex>>,
    groups: &[String],
    start_ms: i64,
    end_ms: i64,
) -> Result<Vec<Arc<IndexedEvent>>, String> {
    let mut index = index.lock().await;
    let mut found = Vec::new();
    for group in groups {
        let held = index.entry(group_name(group).to_owned()).or_default();
        let from = held.newest_ms.map_or(0, |newest| newest - LATE_ARRIVAL);
        for event in read_events(logs, std::slice::from_ref(group), from, i64::MAX).await? {
            if !held.ids.insert(event.event_id.clone()) {
                continue;
            }
            held.newest_ms = held.newest_ms.max(Some(event.timestamp_ms));
            held.events.push(Arc::new(IndexedEvent {
                timestamp_ms: event.timestamp_ms,
                message_bytes: event.message.len(),
                fields: event.fields(),
            }));
        }
        found.extend(
            held.events
                .iter()
                .filter(|event| (start_ms..=end_ms).contains(&event.timestamp_ms))
                .cloned(),
        );
    }
    found.sort_by_key(|event| event.timestamp_ms);
    Ok(found)
}

/// An identifier may be an ARN: the name is after `log-group:`.
fn group_name(group: &str) -> &str {
    group
        .split_once(":log-group:")
        .map(|(_, name)| name.trim_end_matches(":*"))
        .unwrap_or(group)
}

/// Every event of `groups` between the two times (Unix milliseconds), through `FilterLogEvents`.
async fn read_events(
    logs: &aws_sdk_cloudwatchlogs::Client,
    groups: &[String],
    start_ms: i64,
    end_ms: i64,
) -> Result<Vec<LogEvent>, String> {
    let mut events = Vec::new();
    for group in groups {
        let name = group_name(group);
        let mut pages = logs
            .filter_log_events()
            .log_group_name(name)
            .start_time(start_ms)
            .end_time(end_ms)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|error| aws_sdk_cloudwatchlogs::error::DisplayErrorContext(error).to_string())?;
            for event in page.events() {
                events.push(LogEvent {
                    log_group: name.to_owned(),
                    log_stream: event.log_stream_name().unwrap_or_default().to_owned(),
                    timestamp_ms: event.timestamp().unwrap_or_default(),
                    message: event.message().unwrap_or_default().to_owned(),
                    event_id: event.event_id().unwrap_or_default().to_owned(),
                });
            }
        }
    }
    events.sort_by_key(|event| event.timestamp_ms);
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(ms: i64, message: &str) -> LogEvent {
        LogEvent {
            log_group: "/aws/lambda/webhooks-local-webhook-worker".into(),
            log_stream: "s".into(),
            timestamp_ms: ms,
            message: message.into(),
            event_id: ms.to_string(),
        }
    }

    #[test]
    fn a_query_filters_projects_sorts_and_limits_json_events() {
        let events = [
            event(
                2,
                r#"{"webhook.event_id":"evt_1","outcome":"applied","nested":{"a":1}}"#,
            ),
            event(1, r#"{"webhook.event_id":"evt_1","outcome":"queued"}"#),
            event(3, r#"{"webhook.event_id":"evt_2","outcome":"queued"}"#),
            event(4, "not json evt_1"),
        ];
        let query = Query::parse(
            r#"filterIndex webhook.event_id = "evt_1" | fields @timestamp, outcome, nested.a | sort @timestamp desc | limit 5"#,
        )
        .unwrap();
        let rows = query.run(&events);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0][1], ("outcome".to_owned(), "applied".to_owned()));
        assert_eq!(rows[0][2], ("nested.a".to_owned(), "1".to_owned()));
        assert_eq!(rows[0][0].1, "1970-01-01 00:00:00.002");
        let like = Query::parse(r#"filter @message like 'evt_1' or outcome in ["x", "queued"]"#).unwrap();
        assert_eq!(like.run(&events).len(), 4);
    }

    #[test]
    fn strings_read_their_escapes_and_what_is_not_supported_is_refused() {
        let query = Query::parse(r#"filter `a-b` = "q\"u\\o\nte" and c != 'it''"#);
        assert!(query.is_err(), "an unterminated string");
        let query = Query::parse(r#"filter `a-b` = "q\"u\\o\nte" and c != 'it\'s'"#).unwrap();
        assert_eq!(
            query.commands,
            [Command::Filter(Condition::And(
                Box::new(Condition::Equals {
                    field: "a-b".into(),
                    value: "q\"u\\o\nte".into(),
                    negated: false
                }),
                Box::new(Condition::Equals {
                    field: "c".into(),
                    value: "it's".into(),
                    negated: true
                }),
            ))]
        );
        for bad in [
            "stats count(*) by x",
            "filter a > 1",
            "fields a | parse @message 'x'",
            "limit 0",
            "filter a = b",
        ] {
            assert!(Query::parse(bad).is_err(), "{bad}");
        }
    }
}
