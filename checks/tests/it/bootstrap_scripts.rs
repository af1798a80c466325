//! The scripts the bootstrap's terraform_data resources run, against a stand-in `aws` that
//! records each call. `transaction-search.sh` switches the destination only when needed, sets
//! the indexing rule, and waits until the destination is active, or fails saying why;
//! `service-linked-roles.sh` creates API Gateway's role only where it is missing and starts
//! Application Signals' discovery.

// Integration tests: a failed expectation is a failed test, not a crash on input.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../terraform/bootstrap/transaction-search.sh")
}

/// A stand-in `aws`: the destination is `$FAKE_DESTINATION`; the status is PENDING for the
/// first `$FAKE_PENDING` reads, then ACTIVE. Every call is appended to calls.log.
fn fake_aws(dir: &Path) {
    let path = dir.join("aws");
    std::fs::write(
        &path,
        r#"#!/bin/sh
echo "$*" >> "$FAKE_DIR/calls.log"
case "$*" in
  *get-trace-segment-destination*Destination*) echo "$FAKE_DESTINATION" ;;
  *get-trace-segment-destination*Status*)
    reads=$(cat "$FAKE_DIR/reads" 2>/dev/null || echo 0); reads=$((reads + 1)); echo "$reads" > "$FAKE_DIR/reads"
    if [ "$reads" -le "$FAKE_PENDING" ]; then echo PENDING; else echo ACTIVE; fi ;;
  *update-trace-segment-destination*|*update-indexing-rule*) echo '{}' ;;
  *) echo "unexpected aws $*" >&2; exit 1 ;;
esac
"#,
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn run(destination: &str, pending: u32, attempts: u32) -> (Output, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    fake_aws(dir.path());
    let output = std::process::Command::new(script())
        .env(
            "PATH",
            format!(
                "{}:{}",
                dir.path().display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("FAKE_DIR", dir.path())
        .env("FAKE_DESTINATION", destination)
        .env("FAKE_PENDING", pending.to_string())
        .env("AWS_REGION", "eu-west-1")
        .env("INDEXING_PERCENTAGE", "1")
        .env("TRANSACTION_SEARCH_ATTEMPTS", attempts.to_string())
        .env("TRANSACTION_SEARCH_POLL_SECONDS", "0")
        .output()
        .unwrap();
    let calls = std::fs::read_to_string(dir.path().join("calls.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect();
    (output, calls)
}

#[test]
fn an_account_still_on_xray_is_switched_and_waited_for() {
    let (output, calls) = run("XRay", 2, 5);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        calls.iter().any(|call| call
            == "xray update-trace-segment-destination --destination CloudWatchLogs --region eu-west-1"),
        "{calls:#?}"
    );
    assert!(
        calls.iter().any(|call| call.contains(
            "update-indexing-rule --name Default --rule {\"Probabilistic\":{\"DesiredSamplingPercentage\":1}}"
        )),
        "{calls:#?}"
    );
    let status_reads = calls
        .iter()
        .filter(|call| call.contains("--query Status"))
        .count();
    assert_eq!(status_reads, 3, "two PENDING, then ACTIVE");
}

#[test]
fn an_account_already_on_cloudwatch_logs_is_left_as_it_is() {
    let (output, calls) = run("CloudWatchLogs", 0, 5);
    assert!(output.status.success());
    assert!(
        !calls
            .iter()
            .any(|call| call.contains("update-trace-segment-destination")),
        "{calls:#?}"
    );
}

#[test]
fn a_destination_that_never_becomes_active_fails_saying_so() {
    let (output, _) = run("XRay", 100, 3);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("still PENDING in eu-west-1"));
}

/// `service-linked-roles.sh` against a stand-in `aws` whose API Gateway role exists when
/// `$FAKE_ROLE_EXISTS` is 1.
fn run_service_linked_roles(role_exists: bool) -> (Output, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("aws");
    std::fs::write(
        &path,
        r#"#!/bin/sh
echo "$*" >> "$FAKE_DIR/calls.log"
case "$*" in
  "iam get-role --role-name AWSServiceRoleForAPIGateway") [ "$FAKE_ROLE_EXISTS" = 1 ] || { echo "NoSuchEntity" >&2; exit 254; } ;;
  "iam create-service-linked-role --aws-service-name ops.apigateway.amazonaws.com") echo '{}' ;;
  "application-signals start-discovery --region eu-west-1") echo '{}' ;;
  *) echo "unexpected aws $*" >&2; exit 1 ;;
esac
"#,
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../terraform/bootstrap/service-linked-roles.sh");
    let output = std::process::Command::new(script)
        .env(
            "PATH",
            format!(
                "{}:{}",
                dir.path().display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("FAKE_DIR", dir.path())
        .env("FAKE_ROLE_EXISTS", if role_exists { "1" } else { "0" })
        .env("AWS_REGION", "eu-west-1")
        .output()
        .unwrap();
    let calls = std::fs::read_to_string(dir.path().join("calls.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect();
    (output, calls)
}

#[test]
fn the_service_linked_roles_are_created_once_and_discovery_started() {
    let (output, calls) = run_service_linked_roles(false);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        calls,
        [
            "iam get-role --role-name AWSServiceRoleForAPIGateway",
            "iam create-service-linked-role --aws-service-name ops.apigateway.amazonaws.com",
            "application-signals start-discovery --region eu-west-1",
        ]
    );
    let (output, calls) = run_service_linked_roles(true);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !calls
            .iter()
            .any(|call| call.contains("create-service-linked-role")),
        "an existing role is left as it is: {calls:#?}"
    );
    assert!(
        calls.iter().any(|call| call.contains("start-discovery")),
        "{calls:#?}"
    );
}
