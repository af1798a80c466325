//! A minimal Lambda runtime API for one cold start: the first `GET .../invocation/next` gets
//! the prepared event at once, the response (or error) is recorded, and the second `next` is
//! never answered, as when Lambda freezes the sandbox. Every step is timestamped.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

const NEXT: &str = "/2018-06-01/runtime/invocation/next";
const INIT_ERROR: &str = "/2018-06-01/runtime/init/error";

/// The invocation to hand out.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub request_id: String,
    pub function_arn: String,
    /// `Lambda-Runtime-Trace-Id`, as Lambda sends it with active tracing.
    pub trace_header: String,
    pub body: Vec<u8>,
}

/// What happened, as it happened.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    pub first_next: Option<Instant>,
    pub response: Option<(Instant, Vec<u8>)>,
    pub error: Option<String>,
    pub second_next: Option<Instant>,
}

/// The running API; stops when dropped.
#[derive(Debug)]
pub struct RuntimeApi {
    address: SocketAddr,
    timeline: watch::Receiver<Timeline>,
    task: tokio::task::JoinHandle<()>,
}

impl RuntimeApi {
    pub async fn start(invocation: Invocation) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let address = listener.local_addr()?;
        let (sender, timeline) = watch::channel(Timeline::default());
        let task = tokio::spawn(serve(listener, invocation, sender));
        Ok(Self {
            address,
            timeline,
            task,
        })
    }

    /// `AWS_LAMBDA_RUNTIME_API` for the function.
    pub fn address(&self) -> String {
        self.address.to_string()
    }

    /// Waits until `done` holds for the timeline (or the sender is gone) and returns it.
    pub async fn wait_for(&mut self, done: impl Fn(&Timeline) -> bool) -> Timeline {
        let reached = self
            .timeline
            .wait_for(|timeline| done(timeline))
            .await
            .map(|timeline| timeline.clone());
        reached.unwrap_or_else(|_| self.timeline.borrow().clone())
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(listener: TcpListener, invocation: Invocation, timeline: watch::Sender<Timeline>) {
    while let Ok((stream, _)) = listener.accept().await {
        let (invocation, timeline) = (invocation.clone(), timeline.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                handle(request, invocation.clone(), timeline.clone())
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(
    request: Request<Incoming>,
    invocation: Invocation,
    timeline: watch::Sender<Timeline>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let now = Instant::now();
    let path = request.uri().path().to_owned();
    if request.method() == Method::GET && path == NEXT {
        let mut first = false;
        timeline.send_modify(|timeline| match timeline.first_next {
            None => {
                timeline.first_next = Some(now);
                first = true;
            }
            Some(_) => timeline.second_next = timeline.second_next.or(Some(now)),
        });
        if !first {
            // The sandbox is frozen here: the process waits until it is killed.
            std::future::pending::<()>().await;
        }
        return Ok(next_invocation(&invocation));
    }
    let body = request
        .into_body()
        .collect()
        .await
        .map(|body| body.to_bytes().to_vec())
        .unwrap_or_default();
    let response_path = format!(
        "/2018-06-01/runtime/invocation/{}/response",
        invocation.request_id
    );
    let error_path = format!("/2018-06-01/runtime/invocation/{}/error", invocation.request_id);
    if path == response_path {
        timeline.send_modify(|timeline| timeline.response = Some((now, body)));
    } else if path == error_path || path == INIT_ERROR {
        let detail = String::from_utf8_lossy(&body).into_owned();
        timeline.send_modify(|timeline| timeline.error = Some(format!("{path}: {detail}")));
    } else {
        return Ok(reply(StatusCode::NOT_FOUND, Vec::new()));
    }
    Ok(reply(StatusCode::ACCEPTED, b"{\"status\":\"OK\"}".to_vec()))
}

fn next_invocation(invocation: &Invocation) -> Response<Full<Bytes>> {
    let deadline_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() + 30_000)
        .unwrap_or_default();
    let mut response = reply(StatusCode::OK, invocation.body.clone());
    let headers = response.headers_mut();
    for (name, value) in [
        ("lambda-runtime-aws-request-id", invocation.request_id.clone()),
        ("lambda-runtime-deadline-ms", deadline_ms.to_string()),
        (
            "lambda-runtime-invoked-function-arn",
            invocation.function_arn.clone(),
        ),
        ("lambda-runtime-trace-id", invocation.trace_header.clone()),
        ("content-type", "application/json".to_owned()),
    ] {
        if let Ok(value) = value.parse() {
            headers.insert(name, value);
        }
    }
    response
}

fn reply(status: StatusCode, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
}
