//! A span processor made for Lambda: an invocation's finished spans stay in memory, on the thread
//! that ended them, until the flush that follows every invocation exports them in one batch. The
//! SDK's batch processor instead hands each span to its own thread over a channel and wakes it;
//! on a fraction of a vCPU that thread competes with the handler, and every span is freed on a
//! thread other than the one that allocated it.
//!
//! The guarantees stay those of the batch processor:
//! - every span is exported at the flush after its invocation, within the flush's time bound
//!   (`Telemetry::flush` runs it on a blocking thread under `OTEL_BSP_EXPORT_TIMEOUT`);
//! - the handler never waits for the exporter: a collector that is down costs the flush, not
//!   the business path;
//! - memory is bounded: past `max_buffered` spans (a long invocation, a huge batch) the buffer
//!   is handed to a background thread that exports it while the invocation goes on; if that
//!   thread is still busy with the previous overflow, the spans are dropped and counted, as the
//!   batch processor drops spans when its queue is full;
//! - unsampled spans are kept too (Application Signals counts them; the exporter decides).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};
use tokio::runtime::Handle;

/// The batch processor's default queue size: as much as one invocation may hold before an
/// early export.
pub const DEFAULT_MAX_BUFFERED: usize = 2048;

/// Buffers spans per invocation and exports them at `force_flush`.
pub struct InvocationSpanProcessor<E: SpanExporter + 'static> {
    buffer: Mutex<Vec<SpanData>>,
    exporter: Arc<Mutex<E>>,
    max_buffered: usize,
    /// The background exporter for overflowing buffers, started on the first overflow.
    overflow: OnceLock<SyncSender<Vec<SpanData>>>,
    /// The runtime the processor was built on: the OTLP exporter's HTTP client runs its I/O
    /// there, from whichever thread exports.
    runtime: Option<Handle>,
    dropped: Arc<AtomicU64>,
}

impl<E: SpanExporter + 'static> fmt::Debug for InvocationSpanProcessor<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InvocationSpanProcessor")
            .field("max_buffered", &self.max_buffered)
            .field("dropped", &self.dropped.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<E: SpanExporter + 'static> InvocationSpanProcessor<E> {
    /// Exports through `exporter`, holding at most `max_buffered` spans between flushes.
    pub fn new(exporter: E, max_buffered: usize) -> Self {
        Self {
            buffer: Mutex::new(Vec::with_capacity(64)),
            exporter: Arc::new(Mutex::new(exporter)),
            max_buffered: max_buffered.max(1),
            overflow: OnceLock::new(),
            runtime: Handle::try_current().ok(),
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Spans dropped because an overflow arrived while the previous one was still exporting.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn take_buffer(&self) -> Vec<SpanData> {
        match self.buffer.lock() {
            Ok(mut buffer) => std::mem::take(&mut *buffer),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        }
    }

    /// Hands a full buffer to the background exporter, or drops it if that one is busy.
    fn export_early(&self, batch: Vec<SpanData>) {
        let sender = self.overflow.get_or_init(|| {
            let (sender, receiver) = std::sync::mpsc::sync_channel(1);
            let exporter = Arc::clone(&self.exporter);
            let runtime = self.runtime.clone();
            // Without a thread the receiver is gone, and every overflow is dropped and counted.
            let _ = std::thread::Builder::new()
                .name("span-overflow-export".to_owned())
                .spawn(move || export_overflows(&exporter, runtime.as_ref(), &receiver));
            sender
        });
        let count = batch.len() as u64;
        match sender.try_send(batch) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(count, Ordering::Relaxed);
            }
        }
    }
}

fn export_overflows<E: SpanExporter>(
    exporter: &Mutex<E>,
    runtime: Option<&Handle>,
    batches: &Receiver<Vec<SpanData>>,
) {
    while let Ok(batch) = batches.recv() {
        let _ = export(exporter, runtime, batch);
    }
}

fn export<E: SpanExporter>(
    exporter: &Mutex<E>,
    runtime: Option<&Handle>,
    batch: Vec<SpanData>,
) -> OTelSdkResult {
    if batch.is_empty() {
        return Ok(());
    }
    // Blocks this thread only (the flush's blocking thread or the overflow thread); the runtime's
    // own threads drive the connection meanwhile.
    let _runtime = runtime.map(Handle::enter);
    let exporter = exporter
        .lock()
        .map_err(|_| OTelSdkError::InternalFailure("span exporter mutex poisoned".into()))?;
    futures_executor::block_on(exporter.export(batch))
}

impl<E: SpanExporter + 'static> SpanProcessor for InvocationSpanProcessor<E> {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        let full = match self.buffer.lock() {
            Ok(mut buffer) => {
                buffer.push(span);
                (buffer.len() >= self.max_buffered).then(|| std::mem::take(&mut *buffer))
            }
            Err(_) => None,
        };
        if let Some(batch) = full {
            self.export_early(batch);
        }
    }

    /// Exports what the invocation left, on the calling thread (the flush's blocking thread).
    fn force_flush(&self) -> OTelSdkResult {
        let result = export(&self.exporter, self.runtime.as_ref(), self.take_buffer());
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        match (result, dropped) {
            (Err(error), _) => Err(error),
            (Ok(()), 0) => Ok(()),
            (Ok(()), dropped) => Err(OTelSdkError::InternalFailure(format!(
                "{dropped} spans dropped: more than {} ended while the previous overflow was still exporting",
                self.max_buffered
            ))),
        }
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let flushed = self.force_flush();
        let shut = self
            .exporter
            .lock()
            .map_err(|_| OTelSdkError::InternalFailure("span exporter mutex poisoned".into()))
            .and_then(|exporter| exporter.shutdown_with_timeout(timeout));
        flushed.and(shut)
    }

    fn set_resource(&mut self, resource: &Resource) {
        if let Ok(mut exporter) = self.exporter.lock() {
            exporter.set_resource(resource);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState};
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanEvents, SpanLinks};
    use std::time::{Instant, SystemTime};

    fn span(id: u64, sampled: bool) -> SpanData {
        let flags = if sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        SpanData {
            span_context: SpanContext::new(
                TraceId::from(1),
                SpanId::from(id),
                flags,
                false,
                TraceState::default(),
            ),
            parent_span_id: SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Internal,
            name: "work".into(),
            start_time: SystemTime::now(),
            end_time: SystemTime::now(),
            attributes: Vec::new(),
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: Status::Unset,
            instrumentation_scope: opentelemetry::InstrumentationScope::builder("test").build(),
        }
    }

    fn exported(exporter: &InMemorySpanExporter) -> usize {
        exporter
            .get_finished_spans()
            .map(|spans| spans.len())
            .unwrap_or_default()
    }

    #[test]
    fn spans_wait_for_the_flush_and_unsampled_ones_are_kept() {
        let exporter = InMemorySpanExporter::default();
        let processor = InvocationSpanProcessor::new(exporter.clone(), 100);
        processor.on_end(span(1, true));
        processor.on_end(span(2, false));
        assert_eq!(exported(&exporter), 0, "nothing leaves before the flush");
        assert!(processor.force_flush().is_ok());
        assert_eq!(exported(&exporter), 2);
        assert!(processor.force_flush().is_ok(), "an empty flush is fine");
        assert_eq!(exported(&exporter), 2);
    }

    #[test]
    fn a_long_invocation_exports_early_past_the_bound() {
        let exporter = InMemorySpanExporter::default();
        let processor = InvocationSpanProcessor::new(exporter.clone(), 10);
        for id in 1..=10 {
            processor.on_end(span(id, true));
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while exported(&exporter) < 10 {
            assert!(Instant::now() < deadline, "the overflow was never exported");
            std::thread::sleep(Duration::from_millis(5));
        }
        processor.on_end(span(11, true));
        assert!(processor.force_flush().is_ok());
        assert_eq!(exported(&exporter), 11);
        assert_eq!(processor.dropped(), 0);
    }

    /// Holds every export until released.
    #[derive(Debug)]
    struct Gate(Mutex<std::sync::mpsc::Receiver<()>>);

    impl SpanExporter for Gate {
        async fn export(&self, _batch: Vec<SpanData>) -> OTelSdkResult {
            let _ = self.0.lock().map(|release| release.recv());
            Ok(())
        }
    }

    #[test]
    fn an_overflow_while_the_last_one_exports_is_dropped_and_reported_not_waited_for() {
        let (release, released) = std::sync::mpsc::channel();
        let processor = InvocationSpanProcessor::new(Gate(Mutex::new(released)), 2);
        let started = Instant::now();
        // The first overflow occupies the exporter, the second waits in the channel, the third
        // has nowhere to go.
        for id in 1..=6 {
            processor.on_end(span(id, true));
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "on_end never waits for the exporter"
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while processor.dropped() == 0 {
            assert!(Instant::now() < deadline, "nothing was dropped");
            std::thread::sleep(Duration::from_millis(5));
        }
        for _ in 0..3 {
            let _ = release.send(());
        }
        let error = processor.force_flush().expect_err("the drop is reported");
        assert!(error.to_string().contains("spans dropped"), "{error}");
    }
}
