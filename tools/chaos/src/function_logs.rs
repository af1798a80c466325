//! The functions' log lines, read as the Lambda emulation writes them (the same lines it ships
//! to CloudWatch Logs): one JSON line per event and stage, sampled or not, so the run counts
//! every attempt, including those no span reports.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

use serde_json::Value;

/// Reads a growing log file from where it stopped last time.
#[derive(Debug)]
pub struct LogFollower {
    path: PathBuf,
    offset: u64,
    partial: String,
}

impl LogFollower {
    /// Follows `path` from its start.
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            offset: 0,
            partial: String::new(),
        }
    }

    /// The complete lines written since the last call (none while the file does not exist).
    pub fn new_lines(&mut self) -> Vec<String> {
        let Ok(mut file) = std::fs::File::open(&self.path) else {
            return Vec::new();
        };
        let mut text = String::new();
        if file.seek(SeekFrom::Start(self.offset)).is_err() {
            return Vec::new();
        }
        let Ok(read) = file.read_to_string(&mut text) else {
            return Vec::new();
        };
        self.offset += read as u64;
        self.partial.push_str(&text);
        let Some(last_newline) = self.partial.rfind('\n') else {
            return Vec::new();
        };
        let rest = self.partial.split_off(last_newline + 1);
        let complete = std::mem::replace(&mut self.partial, rest);
        complete.lines().map(str::to_owned).collect()
    }
}

/// What one event's worker lines say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventAttempts {
    /// Attempts that applied its effect.
    pub applied: usize,
    /// Attempts that found it already stored.
    pub duplicate: usize,
    /// Attempts that stored it without an effect (`ignored`, `superseded`).
    pub recorded: usize,
    /// Attempts that failed.
    pub failed: usize,
}

impl EventAttempts {
    /// Whether its record is stored, as far as the lines say.
    pub fn stored(&self) -> bool {
        self.applied + self.duplicate + self.recorded > 0
    }
}

/// The worker's lines, counted.
#[derive(Debug, Default)]
pub struct WorkerTally {
    /// Per event id.
    pub events: HashMap<String, EventAttempts>,
    /// Messages processed, every attempt.
    pub attempts: usize,
    /// Attempts that failed.
    pub failed: usize,
    /// Attempts of messages received before.
    pub redeliveries: usize,
    /// Messages left unstarted at the deadline.
    pub left_at_deadline: usize,
    /// Messages left unstarted behind a failed one of their FIFO group.
    pub left_behind_group: usize,
    /// Lines saying the process panicked.
    pub panics: usize,
    /// Per event id, the invocations (request ids) in which a sampled attempt stored it.
    pub stored_in: HashMap<String, Vec<String>>,
}

impl WorkerTally {
    /// Counts one line.
    pub fn add(&mut self, line: &str) {
        self.panics += usize::from(is_panic(line));
        let Ok(fields) = serde_json::from_str::<Value>(line) else {
            return;
        };
        let field = |name: &str| fields.get(name).and_then(Value::as_str);
        let Some(outcome) = field("outcome") else {
            return;
        };
        if outcome == "not_started" {
            match field("reason") {
                Some("deadline") => self.left_at_deadline += 1,
                _ => self.left_behind_group += 1,
            }
            return;
        }
        self.attempts += 1;
        if fields
            .get("receive_count")
            .and_then(Value::as_u64)
            .is_some_and(|count| count > 1)
        {
            self.redeliveries += 1;
        }
        let Some(event_id) = field("webhook.event_id") else {
            self.failed += usize::from(outcome == "failed");
            return;
        };
        let stored = !matches!(outcome, "failed");
        if stored
            && fields.get("sampled").and_then(Value::as_bool) == Some(true)
            && let Some(request_id) = field("request_id")
        {
            self.stored_in
                .entry(event_id.to_owned())
                .or_default()
                .push(request_id.to_owned());
        }
        let attempts = self.events.entry(event_id.to_owned()).or_default();
        match outcome {
            "applied" => attempts.applied += 1,
            "duplicate" => attempts.duplicate += 1,
            "failed" => {
                attempts.failed += 1;
                self.failed += 1;
            }
            _ => attempts.recorded += 1,
        }
    }

    /// Events whose record is stored.
    pub fn stored(&self) -> usize {
        self.events.values().filter(|attempts| attempts.stored()).count()
    }
}

/// The API's lines, counted.
#[derive(Debug, Default)]
pub struct ApiTally {
    /// Events queued, with how many times.
    pub queued: HashMap<String, usize>,
    /// Requests answered 503 because the queue could not take them.
    pub unavailable: usize,
    /// Events with a sampled trace.
    pub sampled: HashSet<String>,
    /// Lines saying the process panicked.
    pub panics: usize,
}

impl ApiTally {
    /// Counts one line.
    pub fn add(&mut self, line: &str) {
        self.panics += usize::from(is_panic(line));
        let Ok(fields) = serde_json::from_str::<Value>(line) else {
            return;
        };
        let field = |name: &str| fields.get(name).and_then(Value::as_str);
        match (field("outcome"), field("webhook.event_id")) {
            (Some("queued"), Some(event_id)) => {
                *self.queued.entry(event_id.to_owned()).or_default() += 1;
                if fields.get("sampled").and_then(Value::as_bool) == Some(true) {
                    self.sampled.insert(event_id.to_owned());
                }
            }
            (Some("unavailable"), _) => self.unavailable += 1,
            _ => {}
        }
    }
}

/// Rust's panic message, as the default hook prints it to stderr.
fn is_panic(line: &str) -> bool {
    line.contains("panicked at")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_lines_count_attempts_per_event_and_unstarted_messages() {
        let mut tally = WorkerTally::default();
        for line in [
            r#"{"outcome":"failed","webhook.event_id":"evt_1","receive_count":1,"error.type":"store_unavailable"}"#,
            r#"{"outcome":"applied","webhook.event_id":"evt_1","receive_count":2}"#,
            r#"{"outcome":"duplicate","webhook.event_id":"evt_1","receive_count":3}"#,
            r#"{"outcome":"not_started","reason":"deadline","webhook.event_id":"evt_2"}"#,
            r#"{"outcome":"not_started","reason":"fifo_group_blocked","webhook.event_id":"evt_3"}"#,
            r#"{"message":"a line without an outcome"}"#,
            "thread 'main' panicked at src/main.rs:1:1:",
        ] {
            tally.add(line);
        }
        assert_eq!(
            tally.events["evt_1"],
            EventAttempts {
                applied: 1,
                duplicate: 1,
                recorded: 0,
                failed: 1
            }
        );
        assert_eq!((tally.attempts, tally.failed, tally.redeliveries), (3, 1, 2));
        assert_eq!((tally.left_at_deadline, tally.left_behind_group), (1, 1));
        assert_eq!((tally.stored(), tally.panics), (1, 1));
    }

    #[test]
    fn api_lines_count_queued_events_and_refusals() {
        let mut tally = ApiTally::default();
        for line in [
            r#"{"outcome":"queued","webhook.event_id":"evt_1","sampled":true}"#,
            r#"{"outcome":"queued","webhook.event_id":"evt_1","sampled":false}"#,
            r#"{"outcome":"queued","webhook.event_id":"evt_2","sampled":false}"#,
            r#"{"outcome":"unavailable","webhook.event_id":"evt_3","code":"queue_unavailable"}"#,
        ] {
            tally.add(line);
        }
        assert_eq!(tally.queued["evt_1"], 2);
        assert_eq!(tally.unavailable, 1);
        assert!(tally.sampled.contains("evt_1") && !tally.sampled.contains("evt_2"));
    }

    #[test]
    fn a_follower_returns_only_complete_new_lines() {
        let dir = std::env::temp_dir().join(format!("chaos-follower-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("function.log");
        let _ = std::fs::write(&path, "one\ntw");
        let mut follower = LogFollower::new(path.clone());
        assert_eq!(follower.new_lines(), vec!["one".to_owned()]);
        let _ = std::fs::write(&path, "one\ntwo\nthree\n");
        assert_eq!(follower.new_lines(), vec!["two".to_owned(), "three".to_owned()]);
        assert!(follower.new_lines().is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
