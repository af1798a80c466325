//! The worker's batch loop over the in-memory store.
//!
//! - `message/*`: one message through `Worker::run_batch` with the production telemetry
//!   pipeline (a discarding exporter behind the invocation span processor, flushed after every
//!   ten messages outside the timing, as after an invocation of ten): with its JSON log line, with spans
//!   only, and with tracing off. `spans_only - without_telemetry` is the per-message span
//!   work: span, attributes, links, end, export hand-off. Extraction runs in all three and is
//!   measured by shared-telemetry's `propagation` bench. Target: extraction + span work ≤ 3 µs.
//! - `batch_of_10_at_5ms/*`: ten messages against a store that takes 5 ms per write, standard
//!   (concurrent) and FIFO (in order, one group). Target: ≤ 8 ms concurrent.
//! - `big_batch/10000_records_deadline_3s`: what a batching window can deliver, 10,000 records,
//!   against a store at 5 ms per write and a deadline 3 s away: most cannot start. The time to
//!   the response must stay below the deadline minus the 1 s margin, or Lambda would time the
//!   invocation out and return every message to the queue.
// criterion_group! generates a public function it cannot document.
#![allow(missing_docs)]
// A benchmark's fixed inputs are valid; a failure here is a broken benchmark.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant, SystemTime};

use aws_lambda_events::sqs::SqsMessage;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use test_support::sqs::{in_fifo_group, message, with_attribute};
use test_telemetry::benchmark_telemetry;
use tracing::Instrument;
use webhook_worker::batch::{Worker, WorkerSettings};
use webhook_worker::store::memory::MemoryStore;

fn payment_failed(id: &str) -> Vec<u8> {
    format!(
        r#"{{"id":"{id}","type":"payment_intent.payment_failed","created":1760000000,"livemode":false,"data":{{"object":{{"id":"pi_1","customer":"cus_{id}"}}}}}}"#
    )
    .into_bytes()
}

fn traced(index: usize) -> SqsMessage {
    with_attribute(
        message(&format!("m-{index}"), &payment_failed(&format!("evt_{index}"))),
        "traceparent",
        &format!("00-5759e988bd862e3fe1be46a99427{index:04x}-53995c3f42cd8ad8-01"),
    )
}

/// The largest SQS batch a standard event source mapping delivers without a batching window.
const MESSAGES_PER_FLUSH: u64 = 10;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

fn per_message(c: &mut Criterion) {
    let runtime = runtime();
    let deadline = SystemTime::now() + Duration::from_secs(24 * 3600);
    let batch = vec![traced(1)];
    let mut group = c.benchmark_group("message");
    // Spans and the JSON log line; spans alone (the log filter off); neither.
    for (name, log_filter, traced) in [
        ("spans_and_log_line", "info", true),
        ("spans_only", "off", true),
        ("without_telemetry", "off", false),
    ] {
        let (telemetry, dispatch) = benchmark_telemetry(&[("RUST_LOG", log_filter)]);
        let dispatch = if traced {
            dispatch
        } else {
            tracing::Dispatch::none()
        };
        let worker = Worker::new(MemoryStore::new(), telemetry.clone(), WorkerSettings::default());
        tracing::dispatcher::with_default(&dispatch, || {
            // One invocation span, as the Lambda layer opens per batch.
            let invocation = tracing::info_span!("invocation", otel.kind = "consumer");
            // The first run stores the event; every measured run takes the same duplicate path.
            runtime.block_on(worker.run_batch(&batch, deadline).instrument(invocation.clone()));
            // Timed: batches of one message, ten at a time. Untimed: the flush that follows an
            // invocation in Lambda, after each ten, so the processor holds what one batch of ten
            // would hold, as it does there.
            group.bench_function(name, |b| {
                b.to_async(&runtime).iter_custom(|iterations| {
                    let (worker, invocation, telemetry, batch) = (&worker, &invocation, &telemetry, &batch);
                    async move {
                        let mut measured = Duration::ZERO;
                        let mut left = iterations;
                        while left > 0 {
                            let chunk = left.min(MESSAGES_PER_FLUSH);
                            let start = Instant::now();
                            for _ in 0..chunk {
                                let outcome = worker
                                    .run_batch(batch, deadline)
                                    .instrument(invocation.clone())
                                    .await;
                                std::hint::black_box(outcome);
                            }
                            measured += start.elapsed();
                            telemetry.flush().await;
                            left -= chunk;
                        }
                        measured
                    }
                })
            });
        });
    }
    group.finish();
}

fn batch_of_ten(c: &mut Criterion) {
    let runtime = runtime();
    let deadline = SystemTime::now() + Duration::from_secs(24 * 3600);
    let (telemetry, dispatch) = benchmark_telemetry(&[]);
    let standard: Vec<SqsMessage> = (0..10).map(traced).collect();
    let fifo: Vec<SqsMessage> = (0..10).map(|i| in_fifo_group(traced(i), "cus_1")).collect();
    let mut group = c.benchmark_group("batch_of_10_at_5ms");
    group.sample_size(30);
    tracing::dispatcher::with_default(&dispatch, || {
        for (name, batch) in [("standard_concurrent", &standard), ("fifo_in_order", &fifo)] {
            group.bench_function(name, |b| {
                b.to_async(&runtime).iter_batched(
                    // A fresh store each time, so every write is a first write.
                    || {
                        let store = MemoryStore::new().with_latency(Duration::from_millis(5));
                        Worker::new(store, telemetry.clone(), WorkerSettings::default())
                    },
                    |worker| async move {
                        let invocation = tracing::info_span!("invocation", otel.kind = "consumer");
                        let outcome = worker.run_batch(batch, deadline).instrument(invocation).await;
                        assert_eq!(outcome.failed(), 0);
                    },
                    BatchSize::SmallInput,
                )
            });
        }
    });
    group.finish();
}

fn big_batch(c: &mut Criterion) {
    let runtime = runtime();
    let (telemetry, dispatch) = benchmark_telemetry(&[]);
    let batch: Vec<SqsMessage> = (0..10_000).map(traced).collect();
    let mut group = c.benchmark_group("big_batch");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    tracing::dispatcher::with_default(&dispatch, || {
        group.bench_function("10000_records_deadline_3s", |b| {
            b.to_async(&runtime).iter_batched(
                || {
                    let store = MemoryStore::new().with_latency(Duration::from_millis(5));
                    let worker = Worker::new(store, telemetry.clone(), WorkerSettings::default());
                    (worker, SystemTime::now() + Duration::from_secs(3))
                },
                |(worker, deadline)| {
                    let batch = &batch;
                    async move {
                        let invocation = tracing::info_span!("invocation", otel.kind = "consumer");
                        let outcome = worker.run_batch(batch, deadline).instrument(invocation).await;
                        let response = outcome.into_response().unwrap();
                        assert!(
                            !response.batch_item_failures.is_empty(),
                            "most records cannot start"
                        );
                        response
                    }
                },
                BatchSize::PerIteration,
            )
        });
    });
    group.finish();
}

criterion_group!(benches, per_message, batch_of_ten, big_batch);
criterion_main!(benches);
