//! API Gateway's REST API in front of webhook-api, emulated as the local pipeline's front door:
//! `POST /<stage>/webhooks/stripe` becomes a REST proxy event (payload version 1.0) for the
//! function, and its answer the HTTP response.
//!
//! Tracing is API Gateway's: the stage is where a trace starts. A request that carries an
//! `X-Amzn-Trace-Id` with a sampling decision keeps it; otherwise the X-Ray sampling rule
//! decides, as API Gateway applies it: a reservoir of requests each second, then a fixed rate
//! of the rest. A sampled request gets API Gateway's segment (`<api>/<stage>`, origin
//! `AWS::ApiGateway::Stage`) and its `Lambda` subsegment, and the function is invoked under
//! that subsegment with `Sampled=1`; an unsampled one is invoked with `Sampled=0` and leaves no
//! segment. The response carries the trace header, as API Gateway's does.
//!
//! Like a REST API, anything but `POST` on the one resource is `403 Missing Authentication
//! Token`, a function error is `502`, a function past its timeout `504`.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
use aws_lambda_events::encodings::Body;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use tokio::net::TcpListener;
use trace_reader::span::{SpanKind, SpanRecord, SpanStatus};

use crate::draws::FixedSeedDraws;
use crate::http::{HttpResponse, reply, serve};
use crate::lambda_service::{InvokeError, LambdaService};
use crate::trace_sink::SpanStore;

/// An X-Ray sampling rule as API Gateway applies it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplingRule {
    /// Requests sampled each second before the rate applies.
    pub reservoir_per_second: u32,
    /// The share of the requests beyond the reservoir that are sampled (0.0 to 1.0).
    pub fixed_rate: f64,
}

impl SamplingRule {
    /// Every request.
    pub const ALL: Self = Self {
        reservoir_per_second: 0,
        fixed_rate: 1.0,
    };
}

/// Which requests a rule samples: the reservoir by the clock's second, the rate from a
/// fixed-seed sequence, so a scripted run samples the same requests every time.
#[derive(Debug)]
struct Sampler {
    rule: SamplingRule,
    second: u64,
    taken_this_second: u32,
    draws: FixedSeedDraws,
}

impl Sampler {
    fn new(rule: SamplingRule) -> Self {
        Self {
            rule,
            second: 0,
            taken_this_second: 0,
            draws: FixedSeedDraws::default(),
        }
    }

    fn decide(&mut self, now: SystemTime) -> bool {
        let second = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        if second != self.second {
            self.second = second;
            self.taken_this_second = 0;
        }
        if self.taken_this_second < self.rule.reservoir_per_second {
            self.taken_this_second += 1;
            return true;
        }
        self.draws.draw() < self.rule.fixed_rate
    }
}

/// What the front door needs to know.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The REST API's name and stage: X-Ray names API Gateway's segment `<api>/<stage>`.
    pub api_name: String,
    /// The stage, as in the invoke URL.
    pub stage: String,
    /// The one resource, `/webhooks/stripe`.
    pub resource_path: String,
    /// The function behind it.
    pub function: String,
    /// The route's X-Ray sampling rule.
    pub sampling: SamplingRule,
}

/// How many requests were sampled and not.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SamplingCounts {
    /// Requests the rule traced.
    pub sampled: u64,
    /// Requests it left out.
    pub unsampled: u64,
}

#[derive(Debug)]
struct Gateway {
    config: GatewayConfig,
    lambda: Arc<LambdaService>,
    spans: SpanStore,
    sampler: Mutex<Sampler>,
    sampled: AtomicU64,
    unsampled: AtomicU64,
    requests: AtomicU64,
}

/// The running front door; stops when dropped.
#[derive(Debug)]
pub struct ApiGateway {
    address: SocketAddr,
    gateway: Arc<Gateway>,
    task: tokio::task::JoinHandle<()>,
}

impl ApiGateway {
    /// Listens on 127.0.0.1:`port` (a free one for 0).
    pub async fn start(
        port: u16,
        config: GatewayConfig,
        lambda: Arc<LambdaService>,
        spans: SpanStore,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let address = listener.local_addr()?;
        let gateway = Arc::new(Gateway {
            sampler: Mutex::new(Sampler::new(config.sampling)),
            config,
            lambda,
            spans,
            sampled: AtomicU64::new(0),
            unsampled: AtomicU64::new(0),
            requests: AtomicU64::new(0),
        });
        let serving = Arc::clone(&gateway);
        let task = tokio::spawn(serve(listener, move |request| {
            let gateway = Arc::clone(&serving);
            async move { gateway.handle(request).await }
        }));
        Ok(Self {
            address,
            gateway,
            task,
        })
    }

    /// The invoke URL of the webhook route: `http://127.0.0.1:<port>/<stage>/webhooks/stripe`.
    pub fn webhook_url(&self) -> String {
        format!(
            "http://{}/{}{}",
            self.address, self.gateway.config.stage, self.gateway.config.resource_path
        )
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// The sampling rule it applies.
    pub fn rule(&self) -> SamplingRule {
        self.gateway.config.sampling
    }

    /// How many requests were sampled and not, so far.
    pub fn sampling(&self) -> SamplingCounts {
        SamplingCounts {
            sampled: self.gateway.sampled.load(Ordering::Relaxed),
            unsampled: self.gateway.unsampled.load(Ordering::Relaxed),
        }
    }
}

impl Drop for ApiGateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An X-Ray trace header's parts that API Gateway keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
struct IncomingTrace {
    root: Option<String>,
    sampled: Option<bool>,
}

impl IncomingTrace {
    fn parse(header: Option<&str>) -> Self {
        let mut trace = Self {
            root: None,
            sampled: None,
        };
        for part in header.unwrap_or_default().split(';') {
            match part.trim().split_once('=') {
                Some(("Root", root)) if shared_telemetry::root_is_well_formed(root) => {
                    trace.root = Some(root.to_owned())
                }
                Some(("Sampled", "1")) => trace.sampled = Some(true),
                Some(("Sampled", "0")) => trace.sampled = Some(false),
                _ => {}
            }
        }
        trace
    }
}

impl Gateway {
    async fn handle(&self, request: Request<Incoming>) -> HttpResponse {
        let (parts, body) = request.into_parts();
        let Ok(body) = body.collect().await.map(|body| body.to_bytes()) else {
            return reply(
                StatusCode::BAD_REQUEST,
                "application/json",
                r#"{"message":"unreadable body"}"#,
            );
        };
        let stage_prefix = format!("/{}", self.config.stage);
        let resource = parts.uri.path().strip_prefix(&stage_prefix);
        if resource != Some(self.config.resource_path.as_str()) || parts.method != hyper::Method::POST {
            // What a REST API answers for a resource or method it does not have.
            return reply(
                StatusCode::FORBIDDEN,
                "application/json",
                r#"{"message":"Missing Authentication Token"}"#,
            );
        }

        let header = parts
            .headers
            .get("x-amzn-trace-id")
            .and_then(|value| value.to_str().ok());
        let incoming = IncomingTrace::parse(header);
        let started = SystemTime::now();
        let sampled = match incoming.sampled {
            Some(decision) => decision,
            None => self
                .sampler
                .lock()
                .map(|mut sampler| sampler.decide(started))
                .unwrap_or(true),
        };
        let counter = if sampled { &self.sampled } else { &self.unsampled };
        counter.fetch_add(1, Ordering::Relaxed);
        let root = incoming.root.unwrap_or_else(|| new_root(started));
        let (segment_id, lambda_id) = (random_hex(16), random_hex(16));
        let flag = u8::from(sampled);
        let function_header = format!("Root={root};Parent={lambda_id};Sampled={flag}");

        let request_number = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
        let event = self.proxy_event(&parts, &body, request_number, started);
        let payload = serde_json::to_vec(&event).unwrap_or_default();
        let invoked = SystemTime::now();
        let result = self
            .lambda
            .invoke(&self.config.function, payload, &function_header)
            .await;
        let invoke_ended = SystemTime::now();
        let mut response = match result {
            Ok(body) => proxy_response(&body),
            Err(InvokeError::Timedout(_)) => reply(
                StatusCode::GATEWAY_TIMEOUT,
                "application/json",
                r#"{"message":"Endpoint request timed out"}"#,
            ),
            Err(_) => reply(
                StatusCode::BAD_GATEWAY,
                "application/json",
                r#"{"message":"Internal server error"}"#,
            ),
        };
        if let Ok(value) = format!("Root={root};Sampled={flag}").parse() {
            response.headers_mut().insert("x-amzn-trace-id", value);
        }
        if sampled {
            let trace = Segments {
                trace_id: root.trim_start_matches("1-").replace('-', ""),
                segment_id,
                lambda_id,
                status: response.status().as_u16(),
            };
            self.spans
                .extend(trace.spans(&self.config, started, invoked, invoke_ended, SystemTime::now()));
        }
        response
    }

    /// The REST API proxy event (payload version 1.0) for the request.
    fn proxy_event(
        &self,
        parts: &hyper::http::request::Parts,
        body: &Bytes,
        request_number: u64,
        now: SystemTime,
    ) -> ApiGatewayProxyRequest {
        let mut event = ApiGatewayProxyRequest::default();
        event.resource = Some(self.config.resource_path.clone());
        event.path = Some(self.config.resource_path.clone());
        event.http_method = parts.method.clone();
        event.headers = parts.headers.clone();
        event.multi_value_headers = parts.headers.clone();
        match std::str::from_utf8(body) {
            Ok(text) => event.body = Some(text.to_owned()),
            Err(_) => {
                event.body = Some(base64::engine::general_purpose::STANDARD.encode(body));
                event.is_base64_encoded = true;
            }
        }
        let context = &mut event.request_context;
        context.stage = Some(self.config.stage.clone());
        context.request_id = Some(format!("{:08x}-local-{request_number:012x}", std::process::id()));
        context.resource_path = Some(self.config.resource_path.clone());
        context.path = Some(format!("/{}{}", self.config.stage, self.config.resource_path));
        context.http_method = parts.method.clone();
        context.protocol = Some("HTTP/1.1".to_owned());
        context.request_time_epoch = now
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.as_millis() as i64)
            .unwrap_or_default();
        context.identity.source_ip = Some("127.0.0.1".to_owned());
        event
    }
}

/// The function's proxy response as HTTP; one that is not a proxy response is API Gateway's
/// `502 Internal server error`.
fn proxy_response(body: &[u8]) -> HttpResponse {
    let Ok(answer) = serde_json::from_slice::<ApiGatewayProxyResponse>(body) else {
        return reply(
            StatusCode::BAD_GATEWAY,
            "application/json",
            r#"{"message":"Internal server error"}"#,
        );
    };
    let bytes: Vec<u8> = match answer.body {
        Some(Body::Text(text)) if answer.is_base64_encoded => base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap_or_default(),
        Some(Body::Text(text)) => text.into_bytes(),
        Some(Body::Binary(bytes)) => bytes,
        _ => Vec::new(),
    };
    let status = u16::try_from(answer.status_code)
        .ok()
        .and_then(|code| StatusCode::from_u16(code).ok())
        .unwrap_or(StatusCode::BAD_GATEWAY);
    let mut response = reply(status, "application/json", bytes);
    for (name, value) in answer.headers.iter().chain(answer.multi_value_headers.iter()) {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    response
}

/// API Gateway's segment and its `Lambda` subsegment for one sampled request.
struct Segments {
    trace_id: String,
    segment_id: String,
    lambda_id: String,
    status: u16,
}

impl Segments {
    fn spans(
        &self,
        config: &GatewayConfig,
        started: SystemTime,
        invoked: SystemTime,
        invoke_ended: SystemTime,
        ended: SystemTime,
    ) -> Vec<SpanRecord> {
        let nanos = |time: SystemTime| time.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos() as u64;
        let service = format!("{}/{}", config.api_name, config.stage);
        let status = match self.status {
            500.. => SpanStatus::Error(format!("HTTP {}", self.status)),
            _ => SpanStatus::Unset,
        };
        let attributes = |pairs: &[(&str, String)]| {
            pairs
                .iter()
                .map(|(key, value)| ((*key).to_owned(), value.clone()))
                .collect()
        };
        let stage = SpanRecord {
            service: service.clone(),
            trace_id: self.trace_id.clone(),
            span_id: self.segment_id.clone(),
            parent_span_id: String::new(),
            name: service.clone(),
            kind: SpanKind::Server,
            start_unix_nanos: nanos(started),
            end_unix_nanos: nanos(ended),
            status: status.clone(),
            attributes: attributes(&[
                (
                    trace_reader::xray::ORIGIN_ATTRIBUTE,
                    trace_reader::xray::API_GATEWAY_ORIGIN.to_owned(),
                ),
                ("http.request.method", "POST".to_owned()),
                ("url.path", format!("/{}{}", config.stage, config.resource_path)),
                ("http.response.status_code", self.status.to_string()),
            ]),
            links: Vec::new(),
            events: Vec::new(),
            sampled: true,
        };
        let lambda = SpanRecord {
            service,
            trace_id: self.trace_id.clone(),
            span_id: self.lambda_id.clone(),
            parent_span_id: self.segment_id.clone(),
            name: "Lambda".to_owned(),
            kind: SpanKind::Client,
            start_unix_nanos: nanos(invoked),
            end_unix_nanos: nanos(invoke_ended),
            status,
            attributes: attributes(&[
                ("rpc.system", "aws-api".to_owned()),
                ("rpc.service", "Lambda".to_owned()),
                ("rpc.method", "Invoke".to_owned()),
                ("aws.lambda.function.name", config.function.clone()),
            ]),
            links: Vec::new(),
            events: Vec::new(),
            sampled: true,
        };
        vec![stage, lambda]
    }
}

/// The header Lambda invokes an event source mapping's function with: a new sampled trace of its
/// own (the records carry their producers' contexts).
pub(crate) fn new_sampled_trace_header() -> String {
    format!(
        "Root={};Parent={};Sampled=1",
        new_root(SystemTime::now()),
        random_hex(16)
    )
}

/// A new X-Ray trace id: `1-<epoch seconds>-<96 random bits>`.
pub(crate) fn new_root(now: SystemTime) -> String {
    let epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as u32;
    format!("1-{epoch:08x}-{}", random_hex(24))
}

/// `digits` random hex digits (RandomState is seeded from the OS for each process).
pub(crate) fn random_hex(digits: usize) -> String {
    let mut out = String::with_capacity(digits + 16);
    let mut salt = 0_u64;
    while out.len() < digits {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(salt);
        out.push_str(&format!("{:016x}", hasher.finish()));
        salt += 1;
    }
    out.truncate(digits);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_reservoir_comes_first_each_second_then_the_rate() {
        let mut sampler = Sampler::new(SamplingRule {
            reservoir_per_second: 2,
            fixed_rate: 0.0,
        });
        let second = UNIX_EPOCH + Duration::from_secs(100);
        let decisions: Vec<bool> = (0..4).map(|_| sampler.decide(second)).collect();
        assert_eq!(decisions, [true, true, false, false]);
        assert!(
            sampler.decide(second + Duration::from_secs(1)),
            "a new second, a new reservoir"
        );
    }

    #[test]
    fn the_rate_samples_about_its_share_and_the_same_requests_every_run() {
        let run = || {
            let mut sampler = Sampler::new(SamplingRule {
                reservoir_per_second: 0,
                fixed_rate: 0.05,
            });
            (0..20_000)
                .map(|_| sampler.decide(UNIX_EPOCH))
                .collect::<Vec<bool>>()
        };
        let share = run().iter().filter(|sampled| **sampled).count() as f64 / 20_000.0;
        assert!((0.04..0.06).contains(&share), "{share}");
        assert_eq!(run(), run());
    }

    #[test]
    fn an_upstream_decision_is_kept_and_a_malformed_root_is_not() {
        let kept = IncomingTrace::parse(Some("Root=1-6b072030-a2b7091c360c3217ec38674e;Sampled=0"));
        assert_eq!(kept.root.as_deref(), Some("1-6b072030-a2b7091c360c3217ec38674e"));
        assert_eq!(kept.sampled, Some(false));
        let garbled = IncomingTrace::parse(Some("Root=1-zz;Sampled=?"));
        assert_eq!(
            garbled,
            IncomingTrace {
                root: None,
                sampled: None
            }
        );
        assert_eq!(new_root(UNIX_EPOCH + Duration::from_secs(0x6b07_2030)).len(), 35);
    }
}
