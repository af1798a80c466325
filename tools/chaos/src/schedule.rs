//! The run's schedule, decided before it starts from the event count, the rate and a seed: when
//! each fault begins and ends, when the worker is killed, which events are sent as storms, and
//! when each webhook is due. Pure, so a schedule is reproducible and printed before it runs.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::Duration;

use local_pipeline::draws::FixedSeedDraws;

/// A kind of fault the run injects; each can be switched off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultClass {
    /// Short windows in which most DynamoDB requests are throttled.
    ThrottleBursts,
    /// DynamoDB refuses every request for longer than a message's receives last: some messages
    /// dead-letter, and the run redrives them.
    DynamoDbDown,
    /// The API's send to the queue (or topic) fails: it answers 503 and the sender retries.
    QueueDown,
    /// The worker's sandbox is killed mid-batch.
    WorkerKills,
    /// Store calls slowed until invocations run out of time.
    SlowStore,
    /// One event sent many times at once, and replayed later.
    DuplicateStorms,
    /// Several times the steady rate for a window.
    Burst,
}

impl FaultClass {
    /// Every class, in the order the report lists them.
    pub const ALL: [FaultClass; 7] = [
        Self::ThrottleBursts,
        Self::DynamoDbDown,
        Self::QueueDown,
        Self::WorkerKills,
        Self::SlowStore,
        Self::DuplicateStorms,
        Self::Burst,
    ];

    /// The name `CHAOS_FAULTS` and `--faults` use.
    pub fn name(self) -> &'static str {
        match self {
            Self::ThrottleBursts => "throttle",
            Self::DynamoDbDown => "dynamodb-down",
            Self::QueueDown => "queue-down",
            Self::WorkerKills => "kill",
            Self::SlowStore => "slow-store",
            Self::DuplicateStorms => "storm",
            Self::Burst => "burst",
        }
    }

    /// The class a name stands for.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|class| class.name() == name)
    }

    /// A comma-separated list of names (`all` for every class, `none` for none).
    pub fn parse_list(list: &str) -> Result<BTreeSet<Self>, String> {
        match list.trim() {
            "all" => return Ok(Self::ALL.into_iter().collect()),
            "none" | "" => return Ok(BTreeSet::new()),
            _ => {}
        }
        list.split(',')
            .map(str::trim)
            .map(|name| {
                Self::parse(name).ok_or_else(|| {
                    let known: Vec<&str> = Self::ALL.iter().map(|class| class.name()).collect();
                    format!(
                        "unknown fault {name:?}; expected all, none or some of {}",
                        known.join(", ")
                    )
                })
            })
            .collect()
    }
}

/// A stretch of the run, from its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// When it opens, from the run's start.
    pub start: Duration,
    /// How long it stays open.
    pub length: Duration,
}

impl Window {
    /// When it closes.
    pub fn end(&self) -> Duration {
        self.start + self.length
    }

    /// Whether `at` falls inside it.
    pub fn contains(&self, at: Duration) -> bool {
        at >= self.start && at < self.end()
    }
}

/// One event sent many times: `copies` at once when it is due, and `replays` more later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Storm {
    /// The event's index.
    pub event: usize,
    /// Copies sent concurrently with its first delivery.
    pub copies: usize,
    /// When, after it was due, one more copy is replayed (as from Stripe's dashboard).
    pub replay_after: Duration,
}

/// What the schedule is made from.
#[derive(Debug, Clone)]
pub struct ScheduleSettings {
    /// Webhooks to send.
    pub events: usize,
    /// Webhooks a second, outside the burst.
    pub rate: f64,
    /// The seed every draw comes from.
    pub seed: u64,
    /// The faults injected.
    pub faults: BTreeSet<FaultClass>,
    /// Receives before the queue dead-letters a message.
    pub max_receive_count: u32,
    /// The queue's visibility timeout.
    pub visibility_timeout: Duration,
    /// The worker's timeout.
    pub worker_timeout: Duration,
}

/// Share of DynamoDB requests a throttling burst refuses.
pub const THROTTLE_RATE: f64 = 0.8;
/// Share of store calls a slow-store window holds back.
pub const SLOW_STORE_RATE: f64 = 0.5;
/// The burst sends this many times the steady rate.
pub const BURST_FACTOR: f64 = 4.0;

/// When everything happens.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// What it was made from.
    pub settings: ScheduleSettings,
    /// The steady rate, webhooks a second: the one asked for, or lower when a short run must
    /// send until its last fault.
    pub rate: f64,
    /// DynamoDB throttling bursts.
    pub throttle_bursts: Vec<Window>,
    /// DynamoDB refusing every request.
    pub dynamodb_down: Option<Window>,
    /// The API's send to the queue failing.
    pub queue_down: Option<Window>,
    /// Store calls held back by [`slow_store_delay`](Self::slow_store_delay).
    pub slow_store: Option<Window>,
    /// How long a slowed store call is held back.
    pub slow_store_delay: Duration,
    /// The burst of sending.
    pub burst: Option<Window>,
    /// When the worker is killed.
    pub kills: Vec<Duration>,
    /// The duplicate storms.
    pub storms: Vec<Storm>,
    /// When the DLQ is redriven: once DynamoDB is back and every message that was going to
    /// dead-letter has.
    pub redrive_at: Option<Duration>,
    due: Vec<Duration>,
}

impl Schedule {
    /// The schedule for `settings`: the same settings always give the same schedule.
    pub fn plan(settings: ScheduleSettings) -> Self {
        let mut draws = FixedSeedDraws::seeded(settings.seed);
        let on = |class: FaultClass| settings.faults.contains(&class);
        // Longer than every receive of a message that arrives as it starts, plus one more
        // visibility timeout for the receive that moves it to the DLQ.
        let down_length = settings.visibility_timeout * (settings.max_receive_count + 2);
        let down_start = Duration::from_secs_f64(0.15 * settings.events as f64 / settings.rate.max(0.1))
            .max(Duration::from_secs(5));
        // Sending lasts until 40 s after DynamoDB is back, so every fault meets live traffic:
        // a short run sends more slowly rather than finishing before its faults.
        let span = Duration::from_secs_f64(settings.events as f64 / settings.rate.max(0.1)).max(
            match on(FaultClass::DynamoDbDown) {
                true => down_start + down_length + Duration::from_secs(40),
                false => Duration::from_secs(40),
            },
        );
        let rate = settings.events as f64 / span.as_secs_f64();
        let at = |share: f64| span.mul_f64(share);
        let at_least = |share: f64, floor: Duration| span.mul_f64(share).max(floor);
        let dynamodb_down = on(FaultClass::DynamoDbDown).then_some(Window {
            start: down_start,
            length: down_length,
        });
        let redrive_at = dynamodb_down.map(|down| down.end() + settings.visibility_timeout * 2);
        // The other DynamoDB faults strike while DynamoDB is up: nothing would notice them
        // while it is down.
        let burst = on(FaultClass::Burst).then(|| Window {
            start: at(0.7),
            length: at_least(0.04, Duration::from_secs(5)),
        });
        let due = due_times(settings.events, rate, burst);
        let sending_ends = due.last().copied().unwrap_or_default();
        let up = UpTimeline::new(sending_ends, dynamodb_down);
        let throttle_bursts = match on(FaultClass::ThrottleBursts) {
            true => {
                let count = 2 + settings.events / 2500;
                let length = at_least(0.015, Duration::from_secs(4));
                let mut windows: Vec<Window> = (0..count).map(|_| up.window(draws.draw(), length)).collect();
                windows.sort_by_key(|window| window.start);
                windows
            }
            false => Vec::new(),
        };
        let slow_store = on(FaultClass::SlowStore)
            .then(|| up.window(draws.draw(), at_least(0.03, Duration::from_secs(12))));
        let kills = match on(FaultClass::WorkerKills) {
            true => {
                let count = 3 + settings.events / 1000;
                let mut kills: Vec<Duration> = (0..count)
                    .map(|_| up.window(draws.draw(), Duration::ZERO).start)
                    .collect();
                kills.sort();
                kills
            }
            false => Vec::new(),
        };
        let queue_down = on(FaultClass::QueueDown).then(|| Window {
            start: at(0.5),
            length: at_least(0.02, Duration::from_secs(8)),
        });
        let storms = match on(FaultClass::DuplicateStorms) && settings.events > 0 {
            true => {
                let count = (settings.events / 200).max(3);
                let mut storms: Vec<Storm> = (0..count)
                    .map(|_| Storm {
                        event: draws.below(settings.events),
                        copies: 5 + draws.below(6),
                        replay_after: Duration::from_secs(10 + draws.below(20) as u64),
                    })
                    .collect();
                storms.sort_by_key(|storm| storm.event);
                storms.dedup_by_key(|storm| storm.event);
                storms
            }
            false => Vec::new(),
        };
        Self {
            rate,
            slow_store_delay: settings.worker_timeout.mul_f64(0.45),
            settings,
            throttle_bursts,
            dynamodb_down,
            queue_down,
            slow_store,
            burst,
            kills,
            storms,
            redrive_at,
            due,
        }
    }

    /// When webhook `index` is first sent, from the run's start.
    pub fn due(&self, index: usize) -> Duration {
        self.due.get(index).copied().unwrap_or_default()
    }

    /// When the last webhook is first sent.
    pub fn sending_ends(&self) -> Duration {
        self.due.last().copied().unwrap_or_default()
    }

    /// The storm of event `index`, if it has one.
    pub fn storm_of(&self, index: usize) -> Option<&Storm> {
        self.storms
            .binary_search_by_key(&index, |storm| storm.event)
            .ok()
            .and_then(|found| self.storms.get(found))
    }

    /// The schedule as printed before the run: one line per fault, in time order.
    pub fn render(&self, send_operation: &str) -> String {
        let settings = &self.settings;
        let mut lines: Vec<(Duration, String)> = Vec::new();
        let span = |window: &Window| {
            format!(
                "t+{:>6.1} s .. t+{:>6.1} s",
                window.start.as_secs_f64(),
                window.end().as_secs_f64()
            )
        };
        for window in &self.throttle_bursts {
            lines.push((
                window.start,
                format!(
                    "{}  DynamoDB throttling burst: {:.0}% of requests refused (ProvisionedThroughputExceededException, ThrottlingException)",
                    span(window),
                    THROTTLE_RATE * 100.0
                ),
            ));
        }
        if let Some(window) = &self.dynamodb_down {
            lines.push((
                window.start,
                format!(
                    "{}  DynamoDB down: every request 503 ({} receives x {} s visibility, and 2 more): messages dead-letter",
                    span(window),
                    settings.max_receive_count,
                    settings.visibility_timeout.as_secs()
                ),
            ));
        }
        if let Some(at) = self.redrive_at {
            lines.push((
                at,
                format!(
                    "t+{:>6.1} s            the DLQ redriven (as make redrive does), and again at the end if needed",
                    at.as_secs_f64()
                ),
            ));
        }
        if let Some(window) = &self.queue_down {
            lines.push((
                window.start,
                format!(
                    "{}  {send_operation} down: the API answers 503, the sender retries with backoff",
                    span(window)
                ),
            ));
        }
        if let Some(window) = &self.slow_store {
            lines.push((
                window.start,
                format!(
                    "{}  slow store: {:.0}% of DynamoDB calls held {:.1} s (worker timeout {} s): deadlines and timeouts",
                    span(window),
                    SLOW_STORE_RATE * 100.0,
                    self.slow_store_delay.as_secs_f64(),
                    settings.worker_timeout.as_secs()
                ),
            ));
        }
        if let Some(window) = &self.burst {
            lines.push((
                window.start,
                format!(
                    "{}  burst: {:.0}x the steady {:.1} webhooks/s",
                    span(window),
                    BURST_FACTOR,
                    self.rate
                ),
            ));
        }
        for kill in &self.kills {
            lines.push((
                *kill,
                format!(
                    "t+{:>6.1} s            worker SIGKILLed mid-batch (after a commit when it can)",
                    kill.as_secs_f64()
                ),
            ));
        }
        for storm in &self.storms {
            let due = self.due(storm.event);
            lines.push((
                due,
                format!(
                    "t+{:>6.1} s            duplicate storm: event #{} sent {} times at once, replayed {} s later",
                    due.as_secs_f64(),
                    storm.event,
                    storm.copies + 1,
                    storm.replay_after.as_secs()
                ),
            ));
        }
        lines.sort_by_key(|(at, _)| *at);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Chaos schedule: {} webhooks at {:.1}/s (sending ends at t+{:.0} s), seed {}; faults: {}",
            settings.events,
            self.rate,
            self.sending_ends().as_secs_f64(),
            settings.seed,
            match settings.faults.is_empty() {
                true => "none".to_owned(),
                false => settings
                    .faults
                    .iter()
                    .map(|class| class.name())
                    .collect::<Vec<_>>()
                    .join(", "),
            }
        );
        for (_, line) in lines {
            let _ = writeln!(out, "  {line}");
        }
        out
    }
}

/// The part of the sending when DynamoDB is up: from 5% of it on, without the down window.
#[derive(Debug, Clone, Copy)]
struct UpTimeline {
    before: (Duration, Duration),
    after: (Duration, Duration),
}

impl UpTimeline {
    fn new(span: Duration, down: Option<Window>) -> Self {
        let from = span.mul_f64(0.05);
        match down {
            Some(down) => Self {
                before: (from, down.start.max(from)),
                after: (down.end(), span.max(down.end())),
            },
            None => Self {
                before: (from, span),
                after: (Duration::ZERO, Duration::ZERO),
            },
        }
    }

    /// A window of `length` placed at `share` (0 to 1) of the up time, inside one stretch.
    fn window(&self, share: f64, length: Duration) -> Window {
        let room = |(from, to): (Duration, Duration)| to.saturating_sub(from).saturating_sub(length);
        let (before, after) = (room(self.before), room(self.after));
        let offset = (before + after).mul_f64(share.clamp(0.0, 1.0));
        let start = match offset < before {
            true => self.before.0 + offset,
            false => self.after.0 + offset.saturating_sub(before),
        };
        Window { start, length }
    }
}

/// When each webhook is due: evenly at `rate`, `BURST_FACTOR` times faster inside the burst.
fn due_times(events: usize, rate: f64, burst: Option<Window>) -> Vec<Duration> {
    let mut due = Vec::with_capacity(events);
    let mut at = Duration::ZERO;
    for _ in 0..events {
        due.push(at);
        let here = match burst {
            Some(window) if window.contains(at) => rate * BURST_FACTOR,
            _ => rate,
        };
        at += Duration::from_secs_f64(1.0 / here);
    }
    due
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(events: usize) -> ScheduleSettings {
        ScheduleSettings {
            events,
            rate: 10.0,
            seed: 7,
            faults: FaultClass::ALL.into_iter().collect(),
            max_receive_count: 5,
            visibility_timeout: Duration::from_secs(12),
            worker_timeout: Duration::from_secs(6),
        }
    }

    #[test]
    fn the_same_settings_give_the_same_schedule() {
        let (one, two) = (Schedule::plan(settings(500)), Schedule::plan(settings(500)));
        assert_eq!(one.render("SendMessage"), two.render("SendMessage"));
        let mut other = settings(500);
        other.seed = 8;
        assert_ne!(
            Schedule::plan(other).render("SendMessage"),
            one.render("SendMessage")
        );
    }

    #[test]
    fn every_fault_is_scheduled_and_printed() {
        let schedule = Schedule::plan(settings(500));
        assert_eq!(schedule.throttle_bursts.len(), 2);
        assert_eq!(schedule.kills.len(), 3);
        assert!(schedule.storms.len() >= 2, "{:?}", schedule.storms);
        for window in [
            schedule.dynamodb_down,
            schedule.queue_down,
            schedule.slow_store,
            schedule.burst,
        ] {
            assert!(window.is_some());
        }
        let printed = schedule.render("SQS SendMessage");
        for expected in [
            "throttling burst",
            "DynamoDB down",
            "redriven",
            "SQS SendMessage down",
            "slow store",
            "burst: 4x",
            "SIGKILL",
            "duplicate storm",
        ] {
            assert!(printed.contains(expected), "{expected} missing from\n{printed}");
        }
    }

    #[test]
    fn dynamodb_is_down_longer_than_a_message_is_received_and_kills_avoid_it() {
        let schedule = Schedule::plan(settings(10_000));
        let down = schedule.dynamodb_down.unwrap_or(Window {
            start: Duration::ZERO,
            length: Duration::ZERO,
        });
        assert!(down.length > Duration::from_secs(5 * 12));
        assert!(schedule.redrive_at.is_some_and(|at| at > down.end()));
        assert!(schedule.kills.iter().all(|kill| !down.contains(*kill)));
        assert_eq!(schedule.kills.len(), 13);
    }

    #[test]
    fn a_switched_off_fault_is_not_scheduled() {
        let mut only = settings(500);
        only.faults = FaultClass::parse_list("storm,kill").unwrap_or_default();
        let schedule = Schedule::plan(only);
        assert!(schedule.throttle_bursts.is_empty() && schedule.dynamodb_down.is_none());
        assert!(schedule.redrive_at.is_none() && schedule.burst.is_none());
        assert!(!schedule.kills.is_empty() && !schedule.storms.is_empty());
        assert!(FaultClass::parse_list("storm,flood").is_err());
        assert_eq!(FaultClass::parse_list("all").map(|all| all.len()), Ok(7));
    }

    #[test]
    fn the_burst_sends_faster_and_the_rest_at_the_steady_rate() {
        let schedule = Schedule::plan(settings(1000));
        let burst = schedule.burst.unwrap_or(Window {
            start: Duration::ZERO,
            length: Duration::ZERO,
        });
        let in_burst = (0..1000)
            .filter(|index| burst.contains(schedule.due(*index)))
            .count();
        let expected = burst.length.as_secs_f64() * schedule.rate * BURST_FACTOR;
        assert!(
            (in_burst as f64 - expected).abs() <= 2.0,
            "{in_burst} vs {expected}"
        );
        assert_eq!(schedule.due(1), Duration::from_secs_f64(1.0 / schedule.rate));
    }

    #[test]
    fn a_short_run_sends_until_its_last_fault_and_a_long_one_at_its_rate() {
        let short = Schedule::plan(settings(500));
        let down = short.dynamodb_down.map(|down| down.end()).unwrap_or_default();
        assert!(
            short.sending_ends() > down + Duration::from_secs(20),
            "{:?}",
            short.sending_ends()
        );
        assert!(short.rate < 10.0);
        let long = Schedule::plan(settings(10_000));
        assert!((long.rate - 10.0).abs() < 1e-9);
        assert!(long.sending_ends() < Duration::from_secs(1000));
    }

    #[test]
    fn storms_are_found_by_event() {
        let schedule = Schedule::plan(settings(500));
        for storm in &schedule.storms {
            assert_eq!(schedule.storm_of(storm.event), Some(storm));
        }
    }
}
