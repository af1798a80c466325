//! A fault-injecting proxy on 127.0.0.1 between the functions and the AWS emulator: it forwards
//! every request unchanged, except those a rule picks, which get the error AWS would send (or
//! are held back first). Rules pick by service (from the request's SigV4 credential scope), by
//! operation, by a string in the body (an event id), for a number of requests or at a rate, so a
//! test can make exactly the failures it wants: one message's writes, every SendMessage for a
//! while, 5% of DynamoDB. Each rule counts what it picked, also after it is removed, so a run can
//! prove each fault was injected rather than assume it.

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
    /// SNS.
    Sns,
    /// Secrets Manager.
    SecretsManager,
    /// SES (the notifier's `SendEmail`).
    Ses,
    /// Any other service.
    Other,
}

impl AwsService {
    /// From the service in the SigV4 credential scope of the `Authorization` header
    /// (`Credential=<key>/<date>/<region>/<service>/aws4_request`), which every SDK call signs,
    /// whatever its protocol.
    fn of(authorization: Option<&str>) -> Self {
        let service = authorization
            .and_then(|header| header.split_once("Credential="))
            .and_then(|(_, credential)| credential.split(['/', ',']).nth(3));
        match service {
            Some("dynamodb") => Self::DynamoDb,
            Some("sqs") => Self::Sqs,
            Some("sns") => Self::Sns,
            Some("secretsmanager") => Self::SecretsManager,
            Some("ses") => Self::Ses,
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

/// The operation a request calls: the `X-Amz-Target` suffix (JSON protocols), else the
/// `Action` of a query-protocol form body (SNS).
fn operation_of(target: Option<&str>, body: &[u8]) -> Option<String> {
    if let Some((_, operation)) = target.and_then(|target| target.split_once('.')) {
        return Some(operation.to_owned());
    }
    let body = std::str::from_utf8(body).ok()?;
    body.split('&')
        .find_map(|pair| pair.strip_prefix("Action="))
        .map(str::to_owned)
}

/// What a picked request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `503 ServiceUnavailable`: the service is down (the SDK retries, then gives up).
    Unavailable,
    /// `400 ThrottlingException`: the request rate is too high.
    Throttled,
    /// `400 ProvisionedThroughputExceededException` (DynamoDB): the table's capacity is used up.
    ThroughputExceeded,
    /// Held back this long, then forwarded: a slow dependency.
    Delay(Duration),
}

/// Which requests a rule picks.
#[derive(Debug, Clone)]
pub struct FaultRule {
    /// The service whose requests it fails.
    pub service: AwsService,
    /// Only this operation (`SendMessage`, `Publish`); `None`: any.
    pub operation: Option<String>,
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
            operation: None,
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

    /// Fails only calls of `operation` (`SendMessage`, `Publish`).
    pub fn operation(mut self, operation: &str) -> Self {
        self.operation = Some(operation.to_owned());
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

/// A rule added to the proxy, to remove it or read what it picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct RuleId(u64);

#[derive(Debug)]
struct ActiveRule {
    id: RuleId,
    rule: FaultRule,
    used: u64,
}

#[derive(Debug, Default)]
struct State {
    rules: Vec<ActiveRule>,
    next_rule: u64,
    /// Requests each rule picked, kept after the rule is removed.
    picked: BTreeMap<RuleId, u64>,
    injected: BTreeMap<AwsService, u64>,
    delayed: BTreeMap<AwsService, u64>,
    forwarded: BTreeMap<AwsService, u64>,
    /// Calls the emulator answered, by service and operation.
    answered: BTreeMap<(AwsService, String), u64>,
    draws: FixedSeedDraws,
}

impl State {
    fn add(&mut self, rule: FaultRule) -> RuleId {
        let id = RuleId(self.next_rule);
        self.next_rule += 1;
        self.picked.insert(id, 0);
        self.rules.push(ActiveRule { id, rule, used: 0 });
        id
    }

    fn remove(&mut self, id: RuleId) {
        self.rules.retain(|active| active.id != id);
    }

    /// The fault for this request, if a rule picks it.
    fn pick(&mut self, service: AwsService, operation: Option<&str>, body: &[u8]) -> Option<Fault> {
        for index in 0..self.rules.len() {
            let ActiveRule { rule, used, .. } = &self.rules[index];
            let matches = rule.service == service
                && rule
                    .operation
                    .as_deref()
                    .is_none_or(|wanted| operation == Some(wanted))
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
            let picked = &mut self.rules[index];
            picked.used += 1;
            *self.picked.entry(picked.id).or_default() += 1;
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

    /// Adds a rule; its id removes it or reads its count.
    pub fn add(&self, rule: FaultRule) -> RuleId {
        match self.state.lock() {
            Ok(mut state) => state.add(rule),
            Err(poisoned) => poisoned.into_inner().add(rule),
        }
    }

    /// Removes one rule (its count stays readable).
    pub fn remove(&self, id: RuleId) {
        if let Ok(mut state) = self.state.lock() {
            state.remove(id);
        }
    }

    /// Requests rule `id` picked, while it was active.
    pub fn picked(&self, id: RuleId) -> u64 {
        self.state
            .lock()
            .map(|state| state.picked.get(&id).copied().unwrap_or_default())
            .unwrap_or_default()
    }

    /// Calls of `operation` the emulator has answered (whatever the answer): for
    /// `TransactWriteItems`, writes that may have committed.
    pub fn answered(&self, service: AwsService, operation: &str) -> u64 {
        self.state
            .lock()
            .map(|state| {
                state
                    .answered
                    .get(&(service, operation.to_owned()))
                    .copied()
                    .unwrap_or_default()
            })
            .unwrap_or_default()
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
        let header = |name: &str| parts.headers.get(name).and_then(|value| value.to_str().ok());
        let service = AwsService::of(header("authorization"));
        let operation = operation_of(header("x-amz-target"), &body);
        let fault = self
            .state
            .lock()
            .ok()
            .and_then(|mut state| state.pick(service, operation.as_deref(), &body));
        match fault {
            Some(Fault::Unavailable) => {
                return aws_error(service, StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable");
            }
            Some(Fault::Throttled) => {
                return aws_error(service, StatusCode::BAD_REQUEST, "ThrottlingException");
            }
            Some(Fault::ThroughputExceeded) => {
                return aws_error(
                    service,
                    StatusCode::BAD_REQUEST,
                    "ProvisionedThroughputExceededException",
                );
            }
            Some(Fault::Delay(delay)) => tokio::time::sleep(delay).await,
            None => {}
        }
        if let Ok(mut state) = self.state.lock() {
            *state.forwarded.entry(service).or_default() += 1;
        }
        let response = forward(&self.http, &self.upstream, &parts, body).await;
        if let (Ok(mut state), Some(operation)) = (self.state.lock(), operation) {
            *state.answered.entry((service, operation)).or_default() += 1;
        }
        response
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

    fn authorization(service: &str) -> String {
        format!(
            "AWS4-HMAC-SHA256 Credential=AKID/20261204/us-east-1/{service}/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature=00"
        )
    }

    #[test]
    fn services_are_told_apart_by_their_credential_scope() {
        for (scope, service) in [
            ("dynamodb", AwsService::DynamoDb),
            ("sqs", AwsService::Sqs),
            ("sns", AwsService::Sns),
            ("secretsmanager", AwsService::SecretsManager),
            ("logs", AwsService::Other),
        ] {
            assert_eq!(AwsService::of(Some(&authorization(scope))), service, "{scope}");
        }
        assert_eq!(AwsService::of(None), AwsService::Other);
        assert_eq!(AwsService::of(Some("Bearer x")), AwsService::Other);
    }

    #[test]
    fn operations_come_from_the_target_or_the_query_action() {
        assert_eq!(
            operation_of(Some("AmazonSQS.SendMessage"), b"{}").as_deref(),
            Some("SendMessage")
        );
        assert_eq!(
            operation_of(None, b"Action=Publish&Version=2010-03-31&TopicArn=x").as_deref(),
            Some("Publish")
        );
        assert_eq!(operation_of(None, b"{}"), None);
    }

    #[test]
    fn rules_pick_by_service_operation_body_and_count() {
        let mut state = State::default();
        let id = state.add(
            FaultRule::always(AwsService::DynamoDb, Fault::Throttled)
                .matching("evt_2")
                .times(2),
        );
        let send = state.add(FaultRule::always(AwsService::Sqs, Fault::Unavailable).operation("SendMessage"));
        assert_eq!(
            state.pick(AwsService::DynamoDb, None, b"{\"id\":\"evt_1\"}"),
            None
        );
        assert_eq!(
            state.pick(AwsService::Sqs, Some("ReceiveMessage"), b"evt_2"),
            None
        );
        assert_eq!(
            state.pick(AwsService::Sqs, Some("SendMessage"), b"evt_2"),
            Some(Fault::Unavailable)
        );
        assert_eq!(
            state.pick(AwsService::DynamoDb, None, b"..evt_2.."),
            Some(Fault::Throttled)
        );
        assert_eq!(
            state.pick(AwsService::DynamoDb, None, b"..evt_2.."),
            Some(Fault::Throttled)
        );
        assert_eq!(
            state.pick(AwsService::DynamoDb, None, b"..evt_2.."),
            None,
            "spent after two"
        );
        assert_eq!(state.injected[&AwsService::DynamoDb], 2);
        assert_eq!((state.picked[&id], state.picked[&send]), (2, 1));
    }

    #[test]
    fn a_removed_rule_picks_nothing_and_keeps_its_count() {
        let mut state = State::default();
        let id = state.add(FaultRule::always(AwsService::Sqs, Fault::Unavailable));
        assert!(state.pick(AwsService::Sqs, None, b"").is_some());
        state.remove(id);
        assert_eq!(state.pick(AwsService::Sqs, None, b""), None);
        assert_eq!(state.picked[&id], 1);
    }

    #[test]
    fn a_rate_picks_about_that_share_reproducibly() {
        let picked = |seedless_runs: usize| {
            let mut state = State::default();
            state.add(FaultRule::always(AwsService::DynamoDb, Fault::Unavailable).rate(0.05));
            (0..seedless_runs)
                .filter(|_| state.pick(AwsService::DynamoDb, None, b"").is_some())
                .count()
        };
        let share = picked(20_000) as f64 / 20_000.0;
        assert!((0.04..0.06).contains(&share), "{share}");
        assert_eq!(picked(1_000), picked(1_000));
    }
}
