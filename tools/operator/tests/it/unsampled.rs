//! An event API Gateway's sampling rule leaves out: no trace is recorded, and `make trace` (the
//! real `operator` binary against the stack's AWS endpoint) still tells its story from its log
//! lines and its record, exits 0, and says it was not sampled.

// Integration tests: a failed expectation is a failed test, not a crash on input.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use local_pipeline::api_gateway::SamplingRule;
use local_pipeline::probe::{StackView, event_record, post_payment_failure, wait_for};
use local_pipeline::stack::{LocalStack, StackOptions};
use local_pipeline::up::{UpDir, state_of};

const EVENT: &str = "evt_unsampledButTold";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsampled_event_is_told_from_its_logs_and_record_and_labelled_not_sampled() {
    let mut options = StackOptions::for_workspace(&local_pipeline::workspace_root());
    // The rule samples nothing: every request is invoked with Sampled=0.
    options.sampling = Some(SamplingRule {
        reservoir_per_second: 0,
        fixed_rate: 0.0,
    });
    let mut stack = LocalStack::start(options)
        .await
        .expect("the local pipeline starts");
    let sent = post_payment_failure(&stack, EVENT, "cus_unsampled")
        .await
        .unwrap();
    assert_eq!(sent.status, 202, "{sent:?}");
    wait_for(&mut stack, "the event to be stored", |view| async move {
        event_record(&view, EVENT).await.is_some()
    })
    .await
    .unwrap();
    assert_eq!(stack.sampling().unsampled, 1);
    let record = event_record(&StackView::of(&stack), EVENT).await.unwrap();

    let state_dir = tempfile::tempdir().unwrap();
    let up = UpDir {
        dir: state_dir.path().to_path_buf(),
    };
    up.write(&state_of(&mut stack)).unwrap();
    // Both stages' lines reach CloudWatch Logs soon after; `make trace` is run until it has them.
    let started = std::time::Instant::now();
    let story = loop {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_operator"))
            .args(["trace", EVENT, "--local"])
            .arg(up.state_path())
            .output()
            .unwrap();
        let story = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        if output.status.code() == Some(0) && story.contains("worker   applied") {
            break story;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "make trace never told the whole story:\n{story}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    };
    let trace = trace_reader::waterfall::xray_trace_id(record.trace_id.as_deref().unwrap());
    for expected in [
        format!("{EVENT} in local: processed (applied)"),
        "api      queued as message".to_owned(),
        "worker   applied (receive 1)".to_owned(),
        format!("[trace {trace}, not sampled]"),
        "not sampled: no trace recorded".to_owned(),
    ] {
        assert!(story.contains(&expected), "missing {expected:?} in:\n{story}");
    }
    assert!(!story.contains("not found"), "{story}");
    stack.shutdown().await;
}
