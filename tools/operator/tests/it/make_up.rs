//! `make up`, `make send`, `make trace`, `make down` as a developer runs them: the real
//! `local-pipeline` and `operator` binaries against a stack left running in the background, on
//! free ports and with its own state directory so a developer's own `make up` is untouched.

// Integration tests: a failed expectation is a failed test, not a crash on input.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_sqs::types::MessageAttributeValue;
use child_process::{free_port, is_alive};
use local_pipeline::stack::StackOptions;
use local_pipeline::up::{UpDir, UpState, listening};
use trace_reader::pipeline::missing_parts;
use trace_reader::source::{SegmentDestination, TraceSource};

const WAIT: Duration = Duration::from_secs(90);

/// The stack `up` started; `down` on drop, so a failed test leaves nothing running.
struct Up {
    state_dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    local_pipeline: PathBuf,
    down: bool,
}

impl Up {
    fn start() -> (Self, Output) {
        let options = StackOptions::for_workspace(&local_pipeline::workspace_root());
        let local_pipeline = options.bin_dir.join("local-pipeline");
        assert!(
            local_pipeline.exists(),
            "{} is missing: run `cargo build --bins`",
            local_pipeline.display()
        );
        let state_dir = tempfile::tempdir().unwrap();
        let mut env = vec![(
            "LOCAL_PIPELINE_STATE_DIR".to_owned(),
            state_dir.path().display().to_string(),
        )];
        for variable in [
            "LOCAL_PIPELINE_MOTO_PORT",
            "LOCAL_PIPELINE_GATEWAY_PORT",
            "LOCAL_PIPELINE_AWS_PORT",
            "LOCAL_PIPELINE_OTLP_PORT",
            "LOCAL_PIPELINE_XRAY_PORT",
        ] {
            env.push((variable.to_owned(), free_port().unwrap().to_string()));
        }
        let up = Self {
            state_dir,
            env,
            local_pipeline,
            down: false,
        };
        let output = up.local_pipeline(&["up"]);
        (up, output)
    }

    fn local_pipeline(&self, args: &[&str]) -> Output {
        Command::new(&self.local_pipeline)
            .args(args)
            .envs(self.env.iter().map(|(key, value)| (key, value)))
            .current_dir(local_pipeline::workspace_root())
            .output()
            .unwrap()
    }

    fn state_file(&self) -> PathBuf {
        self.state_dir.path().join("state.json")
    }

    fn state(&self) -> UpState {
        UpDir {
            dir: self.state_dir.path().to_path_buf(),
        }
        .read()
        .unwrap()
        .expect("a state file")
    }

    fn trace(&self, event_id: &str) -> Output {
        Command::new(env!("CARGO_BIN_EXE_operator"))
            .args(["trace", event_id, "--local"])
            .arg(self.state_file())
            .output()
            .unwrap()
    }

    /// `trace` until its exit code is `code`, or the deadline.
    /// `make trace`'s output once it says `needle` (its later stages arrive after the record).
    fn trace_saying(&self, event_id: &str, needle: &str) -> String {
        let started = Instant::now();
        loop {
            let story = text(&self.trace(event_id));
            if story.contains(needle) {
                return story;
            }
            assert!(
                started.elapsed() < WAIT,
                "trace {event_id} never said {needle:?}; last:\n{story}"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn trace_until(&self, event_id: &str, code: i32) -> String {
        let started = Instant::now();
        loop {
            let output = self.trace(event_id);
            if output.status.code() == Some(code) {
                return text(&output);
            }
            assert!(
                started.elapsed() < WAIT,
                "trace {event_id} never exited {code}; last:\n{}",
                text(&output)
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        if !self.down {
            let _ = self.local_pipeline(&["down"]);
        }
    }
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn sample(name: &str) -> String {
    local_pipeline::workspace_root()
        .join("events/stripe")
        .join(name)
        .display()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_send_trace_and_down_tell_each_event_s_story_and_leave_nothing_behind() {
    let (mut up, output) = Up::start();
    let started = text(&output);
    assert!(output.status.success(), "{started}");
    for expected in [
        "webhooks:       POST http://127.0.0.1:",
        "signing secret: whsec_local_",
        "curl -sS",
        "make send EVENT=",
    ] {
        assert!(started.contains(expected), "missing {expected:?}:\n{started}");
    }
    let state = up.state();
    assert!(state.owner.is_running());

    // A second `up` says so and starts nothing.
    let again = up.local_pipeline(&["up"]);
    assert!(again.status.success());
    assert!(text(&again).contains("already running"), "{}", text(&again));
    assert_eq!(up.state(), state, "the same stack, the same processes");

    // make send: a fresh event id, HTTP 202.
    let sent = up.local_pipeline(&["send", &sample("payment_intent.payment_failed.json")]);
    let line = text(&sent);
    assert!(sent.status.success(), "{line}");
    let event_id = line.split_whitespace().next().unwrap().to_owned();
    assert!(event_id.starts_with("evt_local_"), "{line}");
    assert!(line.contains("HTTP 202"), "{line}");

    // make trace: found, processed, with a connected waterfall (as X-Ray names its spans: the
    // message's CONSUMER span after its queue's service).
    let story = up.trace_until(&event_id, 0);
    for expected in [
        format!("{event_id} in local: processed (applied)"),
        "webhook.outcome=applied".to_owned(),
        "DynamoDB.TransactWriteItems".to_owned(),
    ] {
        assert!(story.contains(&expected), "missing {expected:?}:\n{story}");
    }
    // The third hop: the customer emailed through the stream, with SES's message id, and the
    // notifier's stage among the log lines.
    let story = up.trace_saying(&event_id, "notified    customer notified at ");
    assert!(story.contains("(SES message id "), "{story}");
    assert!(story.contains("notifier emailed the customer"), "{story}");
    let trace_id = story
        .lines()
        .find_map(|line| line.trim().strip_prefix("trace       "))
        .and_then(|xray_id| xray_id.strip_prefix("1-"))
        .expect("the record's trace, in X-Ray form")
        .replace('-', "");
    // Read back as AWS serves it: with Transaction Search, through a trace retrieval.
    let aws = moto_server::sdk_config_for(&state.aws_endpoint).await;
    let source = TraceSource::new(&aws);
    assert_eq!(
        source.destination().await.unwrap(),
        SegmentDestination::CloudWatchLogs
    );
    let spans = source
        .trace(
            &trace_id,
            SystemTime::now() - Duration::from_secs(600),
            SystemTime::now(),
        )
        .await
        .unwrap();
    assert_eq!(
        missing_parts(&spans, true),
        [],
        "a connected trace from API Gateway on: {spans:#?}"
    );
    assert!(
        story.contains("api      queued as message"),
        "the API's stage: {story}"
    );
    assert!(
        story.contains("worker   applied (receive 1)"),
        "the worker's stage: {story}"
    );

    // An unknown event: exit 1.
    let unknown = up.trace("evt_neverSent");
    assert_eq!(unknown.status.code(), Some(1), "{}", text(&unknown));
    assert!(text(&unknown).contains("not found"));

    // A dead-lettered event: found in the DLQ, exit 2, and still there afterwards.
    let sqs = aws_sdk_sqs::Client::new(&aws);
    sqs.send_message()
        .queue_url(&state.dlq_url)
        .message_body(r#"{"id":"evt_deadLettered","object":"event"}"#)
        .message_attributes(
            "X-Amzn-Trace-Id",
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value("Root=1-6b072030-a2b7091c360c3217ec38674e;Parent=53995c3f42cd8ad8;Sampled=1")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let dead = up.trace("evt_deadLettered");
    assert_eq!(dead.status.code(), Some(2), "{}", text(&dead));
    assert!(
        text(&dead).contains("in the DLQ webhooks-local-events-dlq"),
        "{}",
        text(&dead)
    );
    assert_eq!(up.trace("evt_deadLettered").status.code(), Some(2));

    // make down: every recorded process gone, every port free.
    let down = up.local_pipeline(&["down"]);
    up.down = true;
    let report = text(&down);
    assert!(down.status.success(), "{report}");
    for process in std::iter::once(&state.owner).chain(&state.processes) {
        assert!(
            report.contains(&format!("stopped {} (pid {})", process.name, process.pid)),
            "{report}"
        );
        assert!(
            !is_alive(process.pid),
            "{} (pid {}) still runs",
            process.name,
            process.pid
        );
    }
    for port in &state.tcp_ports {
        assert!(!listening(*port), "something still listens on {port}");
    }
    assert!(!Path::new(&up.state_file()).exists(), "the state file is removed");
    let twice = up.local_pipeline(&["down"]);
    assert!(
        text(&twice).contains("No local pipeline is running"),
        "{}",
        text(&twice)
    );
}
