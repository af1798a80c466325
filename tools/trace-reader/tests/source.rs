//! The trace source against recorded X-Ray answers: it asks where segments go, then reads them
//! with `BatchGetTraces`, or with Transaction Search through a retrieval it polls until complete,
//! and reports a retrieval that fails or outlasts its deadline.

// Integration tests: a failed expectation is a failed test, not a crash on input.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::{Duration, SystemTime};

use moto_server::{Recorded, RecordedApi};
use trace_reader::source::{SegmentDestination, SourceError, TraceSource};

const TRACE: &str = "1-6b072030-a2b7091c360c3217ec38674e";
const TRACE_W3C: &str = "6b072030a2b7091c360c3217ec38674e";

fn segment() -> String {
    let document = format!(
        r#"{{"id":"b1","trace_id":"{TRACE}","name":"webhook-worker","start_time":105.0,"end_time":105.2,"metadata":{{"default":{{"messaging.operation.type":"process"}}}}}}"#
    );
    serde_json::to_string(&document).unwrap()
}

fn destination(name: &str) -> Recorded {
    Recorded::ok(format!(r#"{{"Destination":"{name}","Status":"ACTIVE"}}"#))
}

async fn source(api: &RecordedApi) -> TraceSource {
    TraceSource::new(&moto_server::sdk_config_for(&api.endpoint()).await)
        .with_retrieval_deadline(Duration::from_secs(3))
}

fn window() -> (SystemTime, SystemTime) {
    (SystemTime::UNIX_EPOCH, SystemTime::now())
}

#[tokio::test]
async fn segments_in_x_ray_are_read_with_batch_get_traces() {
    let traces = format!(
        r#"{{"Traces":[{{"Id":"{TRACE}","Segments":[{{"Id":"b1","Document":{}}}]}}],"UnprocessedTraceIds":[]}}"#,
        segment()
    );
    let api = RecordedApi::start([
        ("/GetTraceSegmentDestination", vec![destination("XRay")]),
        ("/Traces", vec![Recorded::ok(traces)]),
    ])
    .await
    .unwrap();
    let source = source(&api).await;
    let (start, end) = window();
    let spans = source.trace(TRACE_W3C, start, end).await.unwrap();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].trace_id, TRACE_W3C);
    assert_eq!(source.destination().await.unwrap(), SegmentDestination::XRay);
    let operations: Vec<String> = api.received().into_iter().map(|r| r.operation).collect();
    assert_eq!(
        operations,
        ["/GetTraceSegmentDestination", "/Traces"],
        "the destination is asked once"
    );
}

#[tokio::test]
async fn with_transaction_search_a_retrieval_is_polled_until_complete() {
    let complete = format!(
        r#"{{"RetrievalStatus":"COMPLETE","TraceFormat":"XRAY","Traces":[{{"Id":"{TRACE}","Spans":[{{"Id":"b1","Document":{}}}]}}]}}"#,
        segment()
    );
    let api = RecordedApi::start([
        ("/GetTraceSegmentDestination", vec![destination("CloudWatchLogs")]),
        (
            "/StartTraceRetrieval",
            vec![Recorded::ok(r#"{"RetrievalToken":"t-1"}"#)],
        ),
        (
            "/ListRetrievedTraces",
            vec![
                Recorded::ok(r#"{"RetrievalStatus":"SCHEDULED"}"#),
                Recorded::ok(r#"{"RetrievalStatus":"RUNNING"}"#),
                Recorded::ok(complete),
            ],
        ),
    ])
    .await
    .unwrap();
    let (start, end) = window();
    let spans = source(&api).await.trace(TRACE_W3C, start, end).await.unwrap();
    assert_eq!(spans.len(), 1);
    let received = api.received();
    let start_request = received
        .iter()
        .find(|r| r.operation == "/StartTraceRetrieval")
        .unwrap();
    assert!(
        start_request.body.contains(TRACE),
        "X-Ray's id form: {}",
        start_request.body
    );
    let lists: Vec<_> = received
        .iter()
        .filter(|r| r.operation == "/ListRetrievedTraces")
        .collect();
    assert_eq!(lists.len(), 3);
    assert!(
        lists
            .iter()
            .all(|r| r.body.contains("\"TraceFormat\":\"XRAY\"") && r.body.contains("t-1"))
    );
    assert!(
        !received.iter().any(|r| r.operation == "/Traces"),
        "BatchGetTraces sees nothing with Transaction Search"
    );
}

#[tokio::test]
async fn a_failed_or_endless_retrieval_is_an_error_that_says_so() {
    let api = RecordedApi::start([
        ("/GetTraceSegmentDestination", vec![destination("CloudWatchLogs")]),
        (
            "/StartTraceRetrieval",
            vec![Recorded::ok(r#"{"RetrievalToken":"t-1"}"#)],
        ),
        (
            "/ListRetrievedTraces",
            vec![Recorded::ok(r#"{"RetrievalStatus":"FAILED"}"#)],
        ),
    ])
    .await
    .unwrap();
    let (start, end) = window();
    let error = source(&api).await.trace(TRACE_W3C, start, end).await.unwrap_err();
    assert!(
        matches!(&error, SourceError::RetrievalEnded { status } if status == "FAILED"),
        "{error}"
    );

    let api = RecordedApi::start([
        ("/GetTraceSegmentDestination", vec![destination("CloudWatchLogs")]),
        (
            "/StartTraceRetrieval",
            vec![Recorded::ok(r#"{"RetrievalToken":"t-1"}"#)],
        ),
        (
            "/ListRetrievedTraces",
            vec![Recorded::ok(r#"{"RetrievalStatus":"RUNNING"}"#)],
        ),
    ])
    .await
    .unwrap();
    let error = source(&api).await.trace(TRACE_W3C, start, end).await.unwrap_err();
    assert!(
        matches!(&error, SourceError::RetrievalTimedOut { status, .. } if status == "RUNNING"),
        "{error}"
    );
}
