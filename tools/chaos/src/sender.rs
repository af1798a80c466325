//! Sends webhooks as Stripe does: signed, each retried with backoff until the API accepts it
//! (202), or until the run's bound. The backoff is jittered: thousands of senders refused at
//! once must not all come back at once.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use local_pipeline::draws::FixedSeedDraws;
use tokio::time::Instant;

/// The first retry waits up to this long; each next one up to twice as long, up to
/// [`MAX_BACKOFF`], the wait drawn from [half of it, all of it].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The id of webhook `index`: its event and its customer (one customer per event, so a FIFO
/// queue orders nothing across events).
pub fn event_id(index: usize) -> String {
    format!("evt_chaos{index:06}")
}

fn customer_id(index: usize) -> String {
    format!("cus_chaos{index:06}")
}

/// What every delivery came to.
#[derive(Debug, Default)]
pub struct SendTally {
    /// Events accepted at least once.
    pub accepted: BTreeSet<usize>,
    /// 202 answers, storm copies included.
    pub accepted_deliveries: usize,
    /// Events given up on.
    pub given_up: BTreeSet<usize>,
    /// Non-202 answers (and failed connections as 0), by status.
    pub refused: BTreeMap<u16, usize>,
    /// Events that needed a retry.
    pub retried: BTreeSet<usize>,
    /// Storm copies and replays sent.
    pub storm_copies: usize,
}

/// Posts signed webhooks to the API.
#[derive(Debug, Clone)]
pub struct Sender {
    http: reqwest::Client,
    url: String,
    secret: Arc<String>,
    tally: Arc<Mutex<SendTally>>,
}

impl Sender {
    /// A sender to `url`, signing with `secret`.
    pub fn new(url: String, secret: String) -> Self {
        Self {
            http: reqwest::Client::new(),
            url,
            secret: Arc::new(secret),
            tally: Arc::default(),
        }
    }

    /// What the deliveries came to so far.
    pub fn tally(&self) -> std::sync::MutexGuard<'_, SendTally> {
        match self.tally.lock() {
            Ok(tally) => tally,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Delivers webhook `index` until accepted or `give_up_at`; `storm_copy` counts it as one
    /// of a storm's extra copies.
    pub async fn deliver(&self, index: usize, storm_copy: bool, give_up_at: Instant) {
        let body = local_pipeline::probe::payment_failure(&event_id(index), &customer_id(index));
        if storm_copy {
            self.tally().storm_copies += 1;
        }
        let mut backoff = FIRST_BACKOFF;
        let mut jitter = FixedSeedDraws::seeded(index as u64);
        loop {
            let signature = stripe_signature::sign(&self.secret, local_pipeline::probe::unix_now(), &body);
            let status = self
                .http
                .post(&self.url)
                .header("content-type", "application/json")
                .header("stripe-signature", signature)
                .body(body.clone())
                .send()
                .await
                .map(|response| response.status().as_u16())
                .unwrap_or(0);
            if status == 202 {
                let mut tally = self.tally();
                tally.accepted.insert(index);
                tally.accepted_deliveries += 1;
                return;
            }
            {
                let mut tally = self.tally();
                *tally.refused.entry(status).or_default() += 1;
                tally.retried.insert(index);
            }
            let wait = backoff.mul_f64(0.5 + 0.5 * jitter.draw());
            if Instant::now() + wait > give_up_at {
                self.tally().given_up.insert(index);
                return;
            }
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}
