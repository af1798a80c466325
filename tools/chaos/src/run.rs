//! The run: start the schedule's faults on the fault proxy and the Lambda emulation while the
//! sender delivers every webhook, redrive the DLQ as `make redrive` does, wait for the pipeline
//! to drain, then count everything and look events up as `make trace` does.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use local_pipeline::api_gateway::SamplingRule;
use local_pipeline::fault_proxy::{AwsService, Fault, FaultProxy, FaultRule, RuleId};
use local_pipeline::probe::{StackView, dlq_depth, leftovers, queue_depth};
use local_pipeline::stack::{LocalStack, StackError, StackOptions};
use operator::OperatorError;
use operator::environment::Environment;
use operator::redrive::{self, Mover, Pace, RedriveError};
use operator::story::{self, Verdict};
use terraform_config::pipeline::FanOut;
use tokio::time::Instant;
use trace_reader::pipeline::{is_message_span, is_producer};
use trace_reader::span::{SpanRecord, SpanStatus};

use crate::function_logs::{ApiTally, LogFollower, WorkerTally};
use crate::report::{ChaosReport, Injected};
use crate::schedule::{FaultClass, SLOW_STORE_RATE, Schedule, ScheduleSettings};
use crate::sender::{Sender, event_id};

/// The worker's timeout in a chaos run: scaled down from Terraform's, as the visibility timeout
/// is, so timeouts and redeliveries happen in seconds.
pub const WORKER_TIMEOUT: Duration = Duration::from_secs(6);
/// The queue's visibility timeout: longer than the batching window and the worker's timeout
/// together, so a message is never redelivered while its first invocation still runs.
pub const VISIBILITY_TIMEOUT_SECONDS: u32 = 12;
/// Messages of a batch the worker processes at once: fewer than a full batch, so a slow store
/// leaves some unstarted at the deadline and the bound is exercised.
pub const WORKER_MAX_CONCURRENCY: u32 = 2;
/// The sampling rule of a chaos run unless `SAMPLING_*` say otherwise: most traced, some not,
/// so both kinds of event must be found.
pub const SAMPLING: SamplingRule = SamplingRule {
    reservoir_per_second: 1,
    fixed_rate: 0.9,
};
/// A progress line this often.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(30);
/// Lookups run at once.
const LOOKUPS_IN_FLIGHT: usize = 16;

/// Why the run could not run (a broken promise is a failed report, not an error).
#[derive(Debug, thiserror::Error)]
pub enum ChaosError {
    /// The stack failed.
    #[error(transparent)]
    Stack(#[from] StackError),
    /// The operator's environment could not be read.
    #[error("the operator cannot use the run's stack: {0}")]
    Operator(#[from] OperatorError),
    /// The state file the operator reads could not be written.
    #[error("cannot write {path}: {source}")]
    StateFile {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The stack was started without a fault proxy.
    #[error("the chaos run needs a stack started with chaos::run::stack_options (a fault proxy)")]
    NoFaultProxy,
}

/// What `make chaos` runs.
#[derive(Debug, Clone)]
pub struct ChaosOptions {
    /// Distinct webhooks.
    pub events: usize,
    /// Webhooks a second outside the burst.
    pub rate: f64,
    /// The schedule's seed.
    pub seed: u64,
    /// The faults injected.
    pub faults: BTreeSet<FaultClass>,
    /// The whole run's bound.
    pub deadline: Duration,
    /// Events looked up with the operator's story: every event up to this many, else this many
    /// (every one with a failed or duplicate attempt first, then a seeded draw).
    pub lookup_limit: usize,
}

impl Default for ChaosOptions {
    fn default() -> Self {
        Self {
            events: 10_000,
            rate: 10.0,
            seed: 1,
            faults: FaultClass::ALL.into_iter().collect(),
            deadline: Duration::from_secs(60 * 60),
            lookup_limit: 1000,
        }
    }
}

/// The stack a chaos run needs, from `options`: the fault proxy, the scaled worker timeout and
/// visibility timeout, the worker's concurrency, and a sampling rule that leaves some events
/// unsampled (unless one was given).
pub fn stack_options(mut options: StackOptions) -> StackOptions {
    options.fault_proxy = true;
    options.invocation_timeout = Some(WORKER_TIMEOUT);
    options.visibility_timeout_seconds = Some(VISIBILITY_TIMEOUT_SECONDS);
    options
        .pipeline_variables
        .insert("worker_max_concurrency".to_owned(), WORKER_MAX_CONCURRENCY.into());
    // The schedule's faults and checks cover the hops to DynamoDB; the notifier's stream hop is
    // not in them yet, and would only compete for the machine's cores.
    options
        .pipeline_variables
        .insert("notifier_enabled".to_owned(), false.into());
    options.sampling.get_or_insert(SAMPLING);
    options
}

/// What the injectors did, as they did it.
#[derive(Debug, Default)]
struct Injections {
    rules: BTreeMap<FaultClass, Vec<RuleId>>,
    kills: u64,
    kills_after_commit: u64,
    redriven: u64,
    redrives: usize,
    burst_sent: u64,
    problems: Vec<String>,
}

/// Runs the schedule on `stack` (started with [`stack_options`]) and reports.
pub async fn run(stack: &mut LocalStack, options: &ChaosOptions) -> Result<ChaosReport, ChaosError> {
    let schedule = Schedule::plan(ScheduleSettings {
        events: options.events,
        rate: options.rate,
        seed: options.seed,
        faults: options.faults.clone(),
        max_receive_count: stack.settings.max_receive_count,
        visibility_timeout: Duration::from_secs(u64::from(stack.provisioned.visibility_timeout_seconds)),
        worker_timeout: stack.options.invocation_timeout.unwrap_or(WORKER_TIMEOUT),
    });
    println!("{}", schedule.render(send_operation(stack).0));
    let environment = operator_environment(stack).await?;
    let mut logs = FunctionLogs::of(stack);
    let sender = Sender::new(stack.webhook_url(), stack.provisioned.signing_secret.clone());
    let injections = Mutex::new(Injections::default());
    let started = Instant::now();
    let since = SystemTime::now() - Duration::from_secs(60);
    let give_up_at = started + options.deadline;

    let stack_view: &LocalStack = stack;
    let faults = stack_view.faults().ok_or(ChaosError::NoFaultProxy)?;
    let (done, finished) = tokio::sync::watch::channel(false);
    let send_seconds = Mutex::new(0.0);
    let work = async {
        tokio::join!(
            async {
                send_all(&sender, &schedule, started, give_up_at, &injections).await;
                if let Ok(mut seconds) = send_seconds.lock() {
                    *seconds = started.elapsed().as_secs_f64();
                }
            },
            inject(stack_view, faults, &schedule, &environment, started, &injections),
        );
        let _ = done.send(true);
    };
    tokio::join!(
        work,
        progress(stack_view, &sender, &mut logs, started, options.events, finished)
    );

    let mut report = ChaosReport {
        topology: topology(stack),
        events: options.events,
        send_seconds: send_seconds.lock().map(|seconds| *seconds).unwrap_or_default(),
        ..ChaosReport::default()
    };
    report.timed_out = !drain(
        stack,
        &environment,
        &sender,
        &mut logs,
        &injections,
        started,
        give_up_at,
    )
    .await?;
    report.drain_seconds = started.elapsed().as_secs_f64() - report.send_seconds;
    count(stack, &sender, &mut logs, &injections, &schedule, &mut report).await?;
    println!(
        "  drained after {:.0} s; looking events up as make trace does ...",
        started.elapsed().as_secs_f64()
    );
    let lookups_started = Instant::now();
    look_up(&environment, &logs.worker, options, since, &mut report).await;
    report.lookup_seconds = lookups_started.elapsed().as_secs_f64();
    Ok(report)
}

/// The API's send, as the fault proxy names it, and the service it goes to.
fn send_operation(stack: &LocalStack) -> (&'static str, AwsService, &'static str) {
    match stack.settings.fan_out {
        FanOut::Sns { .. } => ("SNS Publish", AwsService::Sns, "Publish"),
        FanOut::None => ("SQS SendMessage", AwsService::Sqs, "SendMessage"),
    }
}

fn topology(stack: &LocalStack) -> String {
    let queue = match stack.settings.fifo {
        true => "FIFO queue",
        false => "standard queue",
    };
    match stack.settings.fan_out {
        FanOut::Sns { raw_message_delivery } => format!(
            "{queue} behind an SNS topic, {} delivery",
            if raw_message_delivery { "raw" } else { "enveloped" }
        ),
        FanOut::None => queue.to_owned(),
    }
}

/// The operator's view of this stack, through the state file `make up` would write: the
/// redrive and the lookups take the path `make redrive` and `make trace` take.
async fn operator_environment(stack: &mut LocalStack) -> Result<Environment, ChaosError> {
    let state = local_pipeline::up::state_of(stack);
    let path = state_file(&stack.options.log_dir);
    let unwritable = |source| ChaosError::StateFile {
        path: path.display().to_string(),
        source,
    };
    std::fs::create_dir_all(&stack.options.log_dir).map_err(unwritable)?;
    let json = serde_json::to_vec_pretty(&state).map_err(|error| unwritable(std::io::Error::other(error)))?;
    std::fs::write(&path, json).map_err(unwritable)?;
    Ok(Environment::local(&path).await?)
}

/// Both functions' log files, followed.
struct FunctionLogs {
    api_file: LogFollower,
    worker_file: LogFollower,
    api: ApiTally,
    worker: WorkerTally,
}

impl FunctionLogs {
    fn of(stack: &mut LocalStack) -> Self {
        let paths: HashMap<String, std::path::PathBuf> = stack.log_paths().into_iter().collect();
        let path = |function: &str| paths.get(function).cloned().unwrap_or_default();
        Self {
            api_file: LogFollower::new(path(&stack.settings.names.api_function)),
            worker_file: LogFollower::new(path(&stack.settings.names.worker_function)),
            api: ApiTally::default(),
            worker: WorkerTally::default(),
        }
    }

    fn update(&mut self) {
        for line in self.api_file.new_lines() {
            self.api.add(&line);
        }
        for line in self.worker_file.new_lines() {
            self.worker.add(&line);
        }
    }
}

/// Every webhook at its due time (storms and replays included), each until accepted.
async fn send_all(
    sender: &Sender,
    schedule: &Schedule,
    started: Instant,
    give_up_at: Instant,
    injections: &Mutex<Injections>,
) {
    let mut deliveries = tokio::task::JoinSet::new();
    for index in 0..schedule.settings.events {
        tokio::time::sleep_until(started + schedule.due(index)).await;
        if schedule
            .burst
            .is_some_and(|burst| burst.contains(started.elapsed()))
            && let Ok(mut injections) = injections.lock()
        {
            injections.burst_sent += 1;
        }
        let first = sender.clone();
        deliveries.spawn(async move { first.deliver(index, false, give_up_at).await });
        if let Some(storm) = schedule.storm_of(index) {
            for _ in 0..storm.copies {
                let copy = sender.clone();
                deliveries.spawn(async move { copy.deliver(index, true, give_up_at).await });
            }
            let (replay, after) = (sender.clone(), storm.replay_after);
            deliveries.spawn(async move {
                tokio::time::sleep(after).await;
                replay.deliver(index, true, give_up_at).await;
            });
        }
    }
    while deliveries.join_next().await.is_some() {}
}

/// Every fault of the schedule, at its time.
async fn inject(
    stack: &LocalStack,
    faults: &FaultProxy,
    schedule: &Schedule,
    environment: &Environment,
    started: Instant,
    injections: &Mutex<Injections>,
) {
    let record = |class: FaultClass, ids: Vec<RuleId>| {
        if let Ok(mut injections) = injections.lock() {
            injections.rules.entry(class).or_default().extend(ids);
        }
    };
    let window = |class: FaultClass, window: crate::schedule::Window, rules: Vec<FaultRule>| async move {
        tokio::time::sleep_until(started + window.start).await;
        let ids: Vec<RuleId> = rules.into_iter().map(|rule| faults.add(rule)).collect();
        record(class, ids.clone());
        tokio::time::sleep_until(started + window.end()).await;
        for id in ids {
            faults.remove(id);
        }
    };
    let throttling = async {
        for burst in &schedule.throttle_bursts {
            window(
                FaultClass::ThrottleBursts,
                *burst,
                vec![
                    FaultRule::always(AwsService::DynamoDb, Fault::ThroughputExceeded).rate(0.5),
                    FaultRule::always(AwsService::DynamoDb, Fault::Throttled).rate(0.6),
                ],
            )
            .await;
        }
    };
    let down = async {
        if let Some(down) = schedule.dynamodb_down {
            window(
                FaultClass::DynamoDbDown,
                down,
                vec![FaultRule::always(AwsService::DynamoDb, Fault::Unavailable)],
            )
            .await;
        }
    };
    let (_, service, operation) = send_operation(stack);
    let queue_down = async {
        if let Some(down) = schedule.queue_down {
            window(
                FaultClass::QueueDown,
                down,
                vec![FaultRule::always(service, Fault::Unavailable).operation(operation)],
            )
            .await;
        }
    };
    let slow = async {
        if let Some(slow) = schedule.slow_store {
            window(
                FaultClass::SlowStore,
                slow,
                vec![
                    FaultRule::always(AwsService::DynamoDb, Fault::Delay(schedule.slow_store_delay))
                        .rate(SLOW_STORE_RATE),
                ],
            )
            .await;
        }
    };
    let kills = async {
        for at in &schedule.kills {
            tokio::time::sleep_until(started + *at).await;
            let after_commit = kill_mid_batch(stack, faults).await;
            if let Ok(mut injections) = injections.lock() {
                injections.kills += 1;
                injections.kills_after_commit += u64::from(after_commit);
            }
        }
    };
    let redrive = async {
        if let Some(at) = schedule.redrive_at {
            tokio::time::sleep_until(started + at).await;
            redrive_dlq(environment, injections).await;
        }
    };
    tokio::join!(throttling, down, queue_down, slow, kills, redrive);
}

/// Kills the worker's sandbox while it runs a batch, after one of the batch's writes was
/// answered when that happens within 2 s (else mid-batch, else idle after 5 s): whether a
/// write had been answered.
async fn kill_mid_batch(stack: &LocalStack, faults: &FaultProxy) -> bool {
    let writes = || faults.answered(AwsService::DynamoDb, "TransactWriteItems");
    let give_up = Instant::now() + Duration::from_secs(5);
    while Instant::now() < give_up {
        if stack.worker_stats().in_flight > 0 {
            let (before, waited) = (writes(), Instant::now());
            while stack.worker_stats().in_flight > 0 {
                if writes() > before || waited.elapsed() > Duration::from_secs(2) {
                    let after_commit = writes() > before;
                    let _ = stack.kill_worker();
                    return after_commit;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let _ = stack.kill_worker();
    false
}

/// One redrive, as `make redrive` runs it against the local stack.
async fn redrive_dlq(environment: &Environment, injections: &Mutex<Injections>) {
    let moved = redrive::redrive(
        environment,
        Mover::for_environment(environment),
        Pace::default(),
        |_| {},
    )
    .await;
    match &moved {
        Ok(moved) => println!("  redrive: {moved} messages moved from the DLQ back to the queue"),
        Err(error) => eprintln!("  redrive failed: {error}"),
    }
    if let Ok(mut injections) = injections.lock() {
        injections.redrives += 1;
        match moved {
            Ok(moved) => injections.redriven += moved,
            Err(error) => injections.problems.push(redrive_problem(&error)),
        }
    }
}

fn redrive_problem(error: &RedriveError) -> String {
    format!("a redrive failed: {error}")
}

/// A line every 30 s until `finished`.
async fn progress(
    stack: &LocalStack,
    sender: &Sender,
    logs: &mut FunctionLogs,
    started: Instant,
    events: usize,
    mut finished: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(PROGRESS_INTERVAL) => {}
            _ = finished.changed() => return,
        }
        logs.update();
        print_progress(stack, sender, logs, started, events).await;
    }
}

async fn print_progress(
    stack: &LocalStack,
    sender: &Sender,
    logs: &FunctionLogs,
    started: Instant,
    events: usize,
) {
    let view = StackView::of(stack);
    let (queue, dlq) = (queue_depth(&view).await, dlq_depth(&view).await);
    let (accepted, retrying) = {
        let tally = sender.tally();
        (
            tally.accepted.len(),
            tally.retried.len() - tally.retried.intersection(&tally.accepted).count(),
        )
    };
    let worker = stack.worker_stats();
    println!(
        "  t+{:>5.0} s: {accepted} of {events} accepted ({retrying} retrying), {} stored, queue {queue}, DLQ {dlq}; worker {} invocations, {} cold starts, {} timeouts",
        started.elapsed().as_secs_f64(),
        logs.worker.stored(),
        worker.invocations,
        worker.sandboxes.saturating_sub(1),
        worker.timeouts
    );
}

/// Waits until every accepted event is stored and both queues are empty, redriving the DLQ
/// whenever the queue is empty and it is not; false at the deadline.
async fn drain(
    stack: &mut LocalStack,
    environment: &Environment,
    sender: &Sender,
    logs: &mut FunctionLogs,
    injections: &Mutex<Injections>,
    started: Instant,
    give_up_at: Instant,
) -> Result<bool, ChaosError> {
    let mut last_progress = Instant::now();
    loop {
        logs.update();
        let view = StackView::of(stack);
        let accepted = sender.tally().accepted.len();
        let (queue, dlq) = (queue_depth(&view).await, dlq_depth(&view).await);
        match drain_step(queue, dlq, logs.worker.stored(), accepted) {
            DrainStep::Drained => return Ok(true),
            DrainStep::Redrive => redrive_dlq(environment, injections).await,
            DrainStep::Wait => {}
        }
        stack.check_health()?;
        if Instant::now() > give_up_at {
            return Ok(false);
        }
        if last_progress.elapsed() >= PROGRESS_INTERVAL {
            print_progress(stack, sender, logs, started, accepted).await;
            last_progress = Instant::now();
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// What draining does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DrainStep {
    /// Every accepted event is stored and both queues are empty.
    Drained,
    /// Nothing is left on the queue and the DLQ holds messages: move them back.
    Redrive,
    /// The pipeline is still working.
    Wait,
}

/// Messages dead-lettered after the scheduled redrive (a slow store's timeouts can push a
/// message the outage had retried past maxReceiveCount) keep their events unstored: the DLQ is
/// redriven once nothing else is left to process, whatever is stored.
fn drain_step(queue: u64, dlq: u64, stored: usize, accepted: usize) -> DrainStep {
    match (queue, dlq) {
        (0, 0) if stored >= accepted => DrainStep::Drained,
        (0, dead) if dead > 0 => DrainStep::Redrive,
        _ => DrainStep::Wait,
    }
}

/// What the table, the queues, the logs, the spans and the injectors hold after the run.
async fn count(
    stack: &LocalStack,
    sender: &Sender,
    logs: &mut FunctionLogs,
    injections: &Mutex<Injections>,
    schedule: &Schedule,
    report: &mut ChaosReport,
) -> Result<(), ChaosError> {
    logs.update();
    let left = leftovers(&StackView::of(stack)).await?;
    report.event_records = left.event_records;
    report.notifications = left.notifications;
    report.left_on_queue = left.on_queue;
    report.left_in_dlq = left.in_dlq;
    {
        let tally = sender.tally();
        report.accepted_events = tally.accepted.len();
        report.never_accepted = report.events - tally.accepted.len().min(report.events);
        report.accepted_deliveries = tally.accepted_deliveries;
        report.refused_answers = tally.refused.clone();
        report.retried_events = tally.retried.len();
    }
    report.api_timeouts = stack.api_stats().timeouts;
    let worker = stack.worker_stats();
    report.invocations = worker.invocations;
    report.failed_invocations = worker.errors;
    report.timeouts = worker.timeouts;
    report.cold_starts = worker.sandboxes.saturating_sub(1);
    let batch_size = stack.settings.batch_size as usize;
    let full = stack
        .mapping_log()
        .invocations()
        .iter()
        .filter(|invocation| invocation.message_ids.len() >= batch_size)
        .count();
    report.full_batches = (full, batch_size);
    let tally = &logs.worker;
    report.message_attempts = tally.attempts;
    report.failed_attempts = tally.failed;
    report.redeliveries = tally.redeliveries;
    report.left_at_deadline = tally.left_at_deadline;
    report.left_behind_group = tally.left_behind_group;
    report.doubled_effects = tally
        .events
        .values()
        .filter(|attempts| attempts.applied > 1)
        .count();
    report.duplicates_marked = tally.events.values().map(|attempts| attempts.duplicate).sum();
    report.panics = tally.panics + logs.api.panics;
    trace_counts(&stack.spans(), &logs.worker, report);
    report.dropped_span_datagrams = stack.dropped_span_datagrams();
    let injections = match injections.lock() {
        Ok(injections) => injections,
        Err(poisoned) => poisoned.into_inner(),
    };
    report.redriven = injections.redriven;
    report.redrives = injections.redrives;
    let storm_copies = sender.tally().storm_copies as u64;
    report.injected = injected(stack, schedule, &injections, report, &logs.api, storm_copies);
    for problem in &injections.problems {
        eprintln!("  {problem}");
    }
    Ok(())
}

/// The spans' side: every message span of a sampled event in its producer's trace, and the
/// ERROR spans' types. Spans sent only for Application Signals (unsampled) are not traces.
///
/// A message span is in its producer's trace when its parent (or link) is the API's send span
/// for its event. One more case counts: the API sandbox that sent it ran out of time before it
/// answered (API Gateway answered 5xx and the sender retried), so its spans were never
/// exported; the message span is then in that request's trace, under a send span nobody
/// received, as it would be in AWS.
///
/// Every sampled event must have a stored attempt in its trace, unless each invocation that
/// stored it (its log lines say which) was killed or timed out before its spans were exported.
fn trace_counts(spans: &[SpanRecord], worker: &WorkerTally, report: &mut ChaosReport) {
    let spans: Vec<&SpanRecord> = spans.iter().filter(|span| span.sampled).collect();
    let mut producers: HashMap<&str, Vec<&SpanRecord>> = HashMap::new();
    for span in spans.iter().copied().filter(|span| is_producer(span)) {
        if let Some(event) = span.attribute("webhook.event_id") {
            producers.entry(event).or_default().push(span);
        }
    }
    let traces_with_producer: HashSet<&str> = producers
        .values()
        .flatten()
        .map(|send| send.trace_id.as_str())
        .collect();
    let failed_requests: HashSet<&str> = spans
        .iter()
        .filter(|span| {
            span.attribute(trace_reader::xray::ORIGIN_ATTRIBUTE)
                == Some(trace_reader::xray::API_GATEWAY_ORIGIN)
                && span
                    .attribute("http.response.status_code")
                    .and_then(|status| status.parse::<u16>().ok())
                    .is_some_and(|status| status >= 500)
        })
        .map(|span| span.trace_id.as_str())
        .collect();
    let mut stored_in_trace: HashSet<&str> = HashSet::new();
    for span in spans.iter().copied().filter(|span| is_message_span(span)) {
        if let SpanStatus::Error(_) = span.status {
            let kind = span.attribute("error.type").unwrap_or("none").to_owned();
            *report.error_spans.entry(kind).or_default() += 1;
        }
        let Some(event) = span.attribute("webhook.event_id") else {
            continue;
        };
        report.message_spans += 1;
        let under_send = producers.get(event).is_some_and(|sends| {
            sends
                .iter()
                .any(|send| span.is_child_of(send) || span.links_to(send))
        });
        let upstream_traces =
            std::iter::once(span.trace_id.as_str()).chain(span.links.iter().map(|(trace, _)| trace.as_str()));
        let under_lost_send = !under_send
            && upstream_traces
                .into_iter()
                .any(|trace| failed_requests.contains(trace) && !traces_with_producer.contains(trace));
        if under_lost_send {
            report.spans_under_lost_sends += 1;
        } else if !under_send {
            report.disconnected_spans += 1;
            continue;
        }
        if !matches!(span.status, SpanStatus::Error(_)) {
            stored_in_trace.insert(event);
        }
    }
    let exported_invocations: HashSet<&str> = spans
        .iter()
        .filter_map(|span| span.attribute("faas.invocation_id"))
        .collect();
    report.sampled_events = producers.len();
    for event in producers.keys().filter(|event| !stored_in_trace.contains(*event)) {
        let invocations = worker
            .stored_in
            .get(*event)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let lost_with_sandbox = !invocations.is_empty()
            && invocations
                .iter()
                .all(|invocation| !exported_invocations.contains(invocation.as_str()));
        match lost_with_sandbox {
            true => report.events_lost_with_sandbox += 1,
            false => report.events_without_connected_span += 1,
        }
    }
}

/// Each scheduled class, counted where it struck.
fn injected(
    stack: &LocalStack,
    schedule: &Schedule,
    injections: &Injections,
    report: &ChaosReport,
    api: &ApiTally,
    storm_copies: u64,
) -> Vec<Injected> {
    let picked = |class: FaultClass| -> u64 {
        let faults = stack.faults();
        injections
            .rules
            .get(&class)
            .into_iter()
            .flatten()
            .map(|id| faults.map(|faults| faults.picked(*id)).unwrap_or_default())
            .sum()
    };
    let span = |window: Option<crate::schedule::Window>| match window {
        Some(window) => format!(
            "t+{:.0}..{:.0} s",
            window.start.as_secs_f64(),
            window.end().as_secs_f64()
        ),
        None => String::new(),
    };
    let mut injected = Vec::new();
    for class in &schedule.settings.faults {
        let (count, detail) = match class {
            FaultClass::ThrottleBursts => (
                picked(*class),
                format!(
                    "DynamoDB requests refused (ProvisionedThroughputExceeded / Throttling) in {} windows of {:.0} s",
                    schedule.throttle_bursts.len(),
                    schedule
                        .throttle_bursts
                        .first()
                        .map(|window| window.length.as_secs_f64())
                        .unwrap_or_default()
                ),
            ),
            FaultClass::DynamoDbDown => (
                picked(*class),
                format!(
                    "DynamoDB requests answered 503 over {}; {} messages dead-lettered and redriven",
                    span(schedule.dynamodb_down),
                    injections.redriven
                ),
            ),
            FaultClass::QueueDown => (
                picked(*class),
                format!(
                    "{} calls refused over {}; the API answered 503 {} times",
                    send_operation(stack).0,
                    span(schedule.queue_down),
                    api.unavailable
                ),
            ),
            FaultClass::WorkerKills => (
                injections.kills,
                format!(
                    "SIGKILLs of the worker mid-batch, {} right after a write was answered",
                    injections.kills_after_commit
                ),
            ),
            FaultClass::SlowStore => (
                picked(*class),
                format!(
                    "DynamoDB calls held {:.1} s over {}: {} invocations timed out, {} messages left at the deadline",
                    schedule.slow_store_delay.as_secs_f64(),
                    span(schedule.slow_store),
                    report.timeouts,
                    report.left_at_deadline
                ),
            ),
            FaultClass::DuplicateStorms => (
                storm_copies,
                format!(
                    "extra copies of {} events sent at once and replayed later",
                    schedule.storms.len()
                ),
            ),
            FaultClass::Burst => (
                injections.burst_sent,
                format!(
                    "webhooks sent at {:.0}/s over {}",
                    schedule.rate * crate::schedule::BURST_FACTOR,
                    span(schedule.burst)
                ),
            ),
        };
        injected.push(Injected {
            class: *class,
            count,
            detail,
        });
    }
    injected
}

/// Looks events up with the operator's story, as `make trace` does: each must be found
/// processed, sampled or not.
async fn look_up(
    environment: &Environment,
    worker: &WorkerTally,
    options: &ChaosOptions,
    since: SystemTime,
    report: &mut ChaosReport,
) {
    let ids = lookup_ids(worker, options);
    report.looked_up = ids.len();
    let verdicts: Vec<(String, Result<Verdict, OperatorError>)> = futures_util::stream::iter(ids)
        .map(|id| async move {
            let verdict = story::gather(environment, &id, since)
                .await
                .map(|story| story.verdict());
            (id, verdict)
        })
        .buffer_unordered(LOOKUPS_IN_FLIGHT)
        .collect()
        .await;
    let mut missing: Vec<String> = verdicts
        .into_iter()
        .filter_map(|(id, verdict)| match verdict {
            Ok(Verdict::Processed(_)) => None,
            Ok(other) => Some(format!("{id}: {}", other.describe())),
            Err(error) => Some(format!("{id}: the lookup failed: {error}")),
        })
        .collect();
    missing.sort();
    report.not_found_count = missing.len();
    missing.truncate(5);
    report.not_found = missing;
}

/// Every event up to the limit; past it, the events whose story has a failed or duplicate
/// attempt first, then a seeded draw of the rest.
fn lookup_ids(worker: &WorkerTally, options: &ChaosOptions) -> Vec<String> {
    let all: Vec<String> = (0..options.events).map(event_id).collect();
    if all.len() <= options.lookup_limit {
        return all;
    }
    let mut eventful: Vec<String> = all
        .iter()
        .filter(|id| {
            worker
                .events
                .get(*id)
                .is_some_and(|attempts| attempts.failed + attempts.duplicate > 0)
        })
        .cloned()
        .collect();
    eventful.truncate(options.lookup_limit / 2);
    let chosen: HashSet<String> = eventful.iter().cloned().collect();
    let mut draws = local_pipeline::draws::FixedSeedDraws::seeded(options.seed);
    let mut ids = eventful;
    while ids.len() < options.lookup_limit {
        let id = event_id(draws.below(options.events));
        if !chosen.contains(&id) && !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids
}

/// The state file a run writes for the operator (as `make up` does), under the stack's logs.
pub fn state_file(log_dir: &Path) -> std::path::PathBuf {
    log_dir.join("chaos-state.json")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use trace_reader::span::SpanKind;

    use super::*;

    #[test]
    fn the_dlq_is_redriven_once_the_queue_is_empty_whatever_is_stored() {
        // What a CI run met: three events' messages dead-lettered after the scheduled redrive.
        assert_eq!(drain_step(0, 9, 497, 500), DrainStep::Redrive);
        assert_eq!(drain_step(0, 0, 500, 500), DrainStep::Drained);
        assert_eq!(drain_step(3, 9, 497, 500), DrainStep::Wait, "the queue first");
        assert_eq!(drain_step(0, 0, 497, 500), DrainStep::Wait, "still in flight");
    }

    fn span(trace: &str, id: &str, parent: &str, kind: SpanKind, attributes: &[(&str, &str)]) -> SpanRecord {
        SpanRecord {
            service: "test".to_owned(),
            trace_id: trace.to_owned(),
            span_id: id.to_owned(),
            parent_span_id: parent.to_owned(),
            name: match kind {
                SpanKind::Producer => "send webhooks-local-events".to_owned(),
                SpanKind::Consumer => "process-webhook".to_owned(),
                _ => "webhooks-local/v1".to_owned(),
            },
            kind,
            start_unix_nanos: 1,
            end_unix_nanos: 2,
            status: SpanStatus::Unset,
            attributes: attributes
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                .collect::<BTreeMap<_, _>>(),
            links: Vec::new(),
            events: Vec::new(),
            sampled: true,
        }
    }

    fn send(trace: &str, id: &str, event: &str) -> SpanRecord {
        span(
            trace,
            id,
            "gw",
            SpanKind::Producer,
            &[("webhook.event_id", event)],
        )
    }

    fn process(trace: &str, id: &str, parent: &str, event: &str) -> SpanRecord {
        span(
            trace,
            id,
            parent,
            SpanKind::Consumer,
            &[("webhook.event_id", event), ("webhook.outcome", "applied")],
        )
    }

    fn gateway(trace: &str, status: &str) -> SpanRecord {
        span(
            trace,
            "gw",
            "",
            SpanKind::Server,
            &[
                (
                    trace_reader::xray::ORIGIN_ATTRIBUTE,
                    trace_reader::xray::API_GATEWAY_ORIGIN,
                ),
                ("http.response.status_code", status),
            ],
        )
    }

    #[test]
    fn message_spans_under_their_send_are_connected_and_the_rest_are_not() {
        let spans = [
            send("t1", "s1", "evt_1"),
            process("t1", "p1", "s1", "evt_1"),
            send("t2", "s2", "evt_2"),
            // Redriven without its context: a new trace.
            process("t9", "p2", "inv", "evt_2"),
        ];
        let mut report = ChaosReport::default();
        trace_counts(&spans, &WorkerTally::default(), &mut report);
        assert_eq!((report.message_spans, report.disconnected_spans), (2, 1));
        assert_eq!(
            (report.sampled_events, report.events_without_connected_span),
            (2, 1)
        );
    }

    #[test]
    fn a_send_lost_with_a_timed_out_api_invocation_keeps_its_message_in_the_request_trace() {
        let spans = [
            // The first request timed out after sending: 504, and no API span was exported.
            gateway("t1", "504"),
            process("t1", "p1", "lost-send", "evt_1"),
            // The retry was queued and found the event stored.
            gateway("t2", "202"),
            send("t2", "s2", "evt_1"),
            process("t2", "p2", "s2", "evt_1"),
        ];
        let mut report = ChaosReport::default();
        trace_counts(&spans, &WorkerTally::default(), &mut report);
        assert_eq!((report.disconnected_spans, report.spans_under_lost_sends), (0, 1));
        assert_eq!(report.events_without_connected_span, 0);

        // A 202 request's trace is no excuse: its send span must be there.
        let spans = [gateway("t1", "202"), process("t1", "p1", "lost-send", "evt_1")];
        let mut report = ChaosReport::default();
        trace_counts(&spans, &WorkerTally::default(), &mut report);
        assert_eq!(report.disconnected_spans, 1);
    }

    #[test]
    fn an_event_whose_storing_invocation_died_before_exporting_is_told_apart() {
        let mut worker = WorkerTally::default();
        worker.add(r#"{"outcome":"applied","webhook.event_id":"evt_1","sampled":true,"request_id":"r1"}"#);
        worker.add(r#"{"outcome":"applied","webhook.event_id":"evt_2","sampled":true,"request_id":"r2"}"#);
        let exported_invocation = span("t8", "i2", "", SpanKind::Server, &[("faas.invocation_id", "r2")]);
        let spans = [
            send("t1", "s1", "evt_1"),
            send("t2", "s2", "evt_2"),
            exported_invocation,
        ];
        let mut report = ChaosReport::default();
        trace_counts(&spans, &worker, &mut report);
        // evt_1's invocation exported nothing (killed); evt_2's did, without its message span.
        assert_eq!(report.events_lost_with_sandbox, 1);
        assert_eq!(report.events_without_connected_span, 1);
    }
}
