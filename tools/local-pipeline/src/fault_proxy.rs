//! A fault-injecting proxy on 127.0.0.1 between the functions and the AWS emulator: it forwards
//! every request unchanged, except those a rule picks, which get the error AWS would send (or
//! are held back first). Rules pick by service (from `X-Amz-Target`), by a string in the body
//! (an event id), for a number of requests or at a rate, so a test can make exactly the
//! failures it wants: one message's writes, every SendMessage for a while, 5% of DynamoDB.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use tokio::net::TcpListener;

use crate::draws::FixedSeedDraws;
use crate::http::{HttpResponse, forward, reply, serve};

/// The AWS service a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AwsService {
    /// DynamoDB.
    DynamoDb,
    /// SQS.
    Sqs,
    /// Secrets Manager.
    SecretsManager,
    /// Any other service.
    Other,
}

impl AwsService {
    /// From the `X-Amz-Target` header of an AWS JSON-protocol request.
    fn of(target: Option<&str>) -> Self {
        match target
            .and_then(|target| target.split_once('.'))
            .map(|(prefix, _)| prefix)
        {
            Some(prefix) if prefix.starts_with("DynamoDB_") => Self::DynamoDb,
            Some("AmazonSQS") => Self::Sqs,
            Some("secretsmanager") => Self::SecretsManager,
            _ => Self::Other,
        }
    }

    fn error_type_prefix(self) -> &'static str {
        match self {
            Self::DynamoDb => "com.amazonaws.dynamodb.v20120810#",
            _ => "",
        }
    }
}

/// What a picked request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `503 ServiceUnavailable`: the service is down (the SDK retries, then gives up).
    Unavailable,
    /// `400 ThrottlingException` (`ProvisionedThroughputExceededException` for DynamoDB).
    Throttled,
    /// Held back this long, then forwarded: a slow dependency.
    Delay(Duration),
}

/// Which requests a rule picks.
#[derive(Debug, Clone)]
pub struct FaultRule {
    /// The service whose requests it fails.
    pub service: AwsService,
    /// How it fails them.
    pub fault: Fault,
    /// Only requests whose body contains this (an event id, a queue name).
    pub body_contains: Option<String>,
    /// At most this many requests, then the rule is spent; `None`: until removed.
    pub times: Option<u64>,
    /// The share of matching requests picked (1.0: all), drawn from a fixed-seed sequence so
    /// a run is reproducible.
    pub rate: f64,
}

impl FaultRule {
    /// Every request to `service`, until removed.
    pub fn always(service: AwsService, fault: Fault) -> Self {
        Self {
            service,
            fault,
            body_contains: None,
            times: None,
            rate: 1.0,
        }
    }

    /// Fails only the first `times` matching requests.
    pub fn times(mut self, times: u64) -> Self {
        self.times = Some(times);
        self
    }

    /// Fails only requests whose body contains `needle`.
    pub fn matching(mut self, needle: &str) -> Self {
        self.body_contains = Some(needle.to_owned());
        self
    }

    /// Fails this share of matching requests, drawn with the proxy's seed.
    pub fn rate(mut self, rate: f64) -> Self {
        self.rate = rate;
        self
    }
}

#[derive(Debug, Default)]
struct State {
    rules: Vec<(FaultRule, u64)>,
    injected: BTreeMap<AwsService, u64>,
    delayed: BTreeMap<AwsService, u64>,
    forwarded: BTreeMap<AwsService, u64>,
    draws: FixedSeedDraws,
}

impl State {
    /// The fault for this request, if a rule picks it.
    fn pick(&mut self, service: AwsService, body: &[u8]) -> Option<Fault> {
        for index in 0..self.rules.len() {
            let (rule, used) = &self.rules[index];
            let matches = rule.service == service
                && rule.times.is_none_or(|times| *used < times)
                && rule
                    .body_contains
                    .as_deref()
                    .is_none_or(|needle| contains(body, needle.as_bytes()));
            if !matches {
                continue;
            }
            let (rate, fault) = (rule.rate, rule.fault);
            if rate < 1.0 && self.draws.draw() >= rate {
                continue;
            }
            self.rules[index].1 += 1;
            let counter = match fault {
                Fault::Delay(_) => &mut self.delayed,
                _ => &mut self.injected,
            };
            *counter.entry(service).or_default() += 1;
            return Some(fault);
        }
        None
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|window| window == needle)
}

/// The running proxy; stops when dropped.
#[derive(Debug)]
pub struct FaultProxy {
    address: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on a free port of 127.0.0.1 and forwards to `upstream` (`http://host:port`).
    pub async fn start(upstream: &str) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let address = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State::default()));
        let forward = Forward {
            upstream: upstream.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
            state: Arc::clone(&state),
        };
        let forward = Arc::new(forward);
        let task = tokio::spawn(serve(listener, move |request| {
            let forward = Arc::clone(&forward);
            async move { forward.handle(request).await }
        }));
        Ok(Self { address, state, task })
    }

    /// `AWS_ENDPOINT_URL` for whoever should go through the proxy.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Adds a rule.
    pub fn add(&self, rule: FaultRule) {
        if let Ok(mut state) = self.state.lock() {
            state.rules.push((rule, 0));
        }
    }

    /// Removes every rule.
    pub fn clear(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.rules.clear();
        }
    }

    /// Errors injected so far for `service` (delays not counted).
    pub fn injected(&self, service: AwsService) -> u64 {
        self.state
            .lock()
            .map(|state| state.injected.get(&service).copied().unwrap_or_default())
            .unwrap_or_default()
    }

    /// Requests held back so far for `service`.
    pub fn delayed(&self, service: AwsService) -> u64 {
        self.state
            .lock()
            .map(|state| state.delayed.get(&service).copied().unwrap_or_default())
            .unwrap_or_default()
    }

    /// Requests forwarded to the emulator so far for `service`.
    pub fn forwarded(&self, service: AwsService) -> u64 {
        self.state
            .lock()
            .map(|state| state.forwarded.get(&service).copied().unwrap_or_default())
            .unwrap_or_default()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Forward {
    upstream: String,
    http: reqwest::Client,
    state: Arc<Mutex<State>>,
}

impl Forward {
    async fn handle(&self, request: Request<Incoming>) -> HttpResponse {
        let (parts, body) = request.into_parts();
        let Ok(body) = body.collect().await.map(|body| body.to_bytes()) else {
            return reply(StatusCode::BAD_REQUEST, "text/plain", "unreadable request body");
        };
        let target = parts
            .headers
            .get("x-amz-target")
            .and_then(|value| value.to_str().ok());
        let service = AwsService::of(target);
        let fault = self
            .state
            .lock()
            .ok()
            .and_then(|mut state| state.pick(service, &body));
        match fault {
            Some(Fault::Unavailable) => {
                return aws_error(service, StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable");
            }
            Some(Fault::Throttled) => {
                let kind = match service {
                    AwsService::DynamoDb => "ProvisionedThroughputExceededException",
                    _ => "ThrottlingException",
                };
                return aws_error(service, StatusCode::BAD_REQUEST, kind);
            }
            Some(Fault::Delay(delay)) => tokio::time::sleep(delay).await,
            None => {}
        }
        if let Ok(mut state) = self.state.lock() {
            *state.forwarded.entry(service).or_default() += 1;
        }
        forward(&self.http, &self.upstream, &parts, body).await
    }
}

/// An AWS JSON-protocol error, as the SDKs parse it.
fn aws_error(service: AwsService, status: StatusCode, kind: &str) -> HttpResponse {
    let body = serde_json::json!({
        "__type": format!("{}{kind}", service.error_type_prefix()),
        "message": "injected by the local pipeline's fault proxy",
    });
    let mut response = reply(status, "application/x-amz-json-1.0", body.to_string());
    if let Ok(value) = kind.parse() {
        response.headers_mut().insert("x-amzn-errortype", value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_are_told_apart_by_their_target() {
        assert_eq!(
            AwsService::of(Some("DynamoDB_20120810.TransactWriteItems")),
            AwsService::DynamoDb
        );
        assert_eq!(AwsService::of(Some("AmazonSQS.SendMessage")), AwsService::Sqs);
        assert_eq!(
            AwsService::of(Some("secretsmanager.GetSecretValue")),
            AwsService::SecretsManager
        );
        assert_eq!(AwsService::of(None), AwsService::Other);
    }

    #[test]
    fn rules_pick_by_service_body_and_count() {
        let mut state = State::default();
        state.rules.push((
            FaultRule::always(AwsService::DynamoDb, Fault::Throttled)
                .matching("evt_2")
                .times(2),
            0,
        ));
        assert_eq!(state.pick(AwsService::DynamoDb, b"{\"id\":\"evt_1\"}"), None);
        assert_eq!(state.pick(AwsService::Sqs, b"evt_2"), None);
        assert_eq!(
            state.pick(AwsService::DynamoDb, b"..evt_2.."),
            Some(Fault::Throttled)
        );
        assert_eq!(
            state.pick(AwsService::DynamoDb, b"..evt_2.."),
            Some(Fault::Throttled)
        );
        assert_eq!(
            state.pick(AwsService::DynamoDb, b"..evt_2.."),
            None,
            "spent after two"
        );
        assert_eq!(state.injected[&AwsService::DynamoDb], 2);
    }

    #[test]
    fn a_rate_picks_about_that_share_reproducibly() {
        let picked = |seedless_runs: usize| {
            let mut state = State::default();
            state.rules.push((
                FaultRule::always(AwsService::DynamoDb, Fault::Unavailable).rate(0.05),
                0,
            ));
            (0..seedless_runs)
                .filter(|_| state.pick(AwsService::DynamoDb, b"").is_some())
                .count()
        };
        let share = picked(20_000) as f64 / 20_000.0;
        assert!((0.04..0.06).contains(&share), "{share}");
        assert_eq!(picked(1_000), picked(1_000));
    }
}
