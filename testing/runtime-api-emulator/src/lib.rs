#![doc = include_str!("../README.md")]

use std::collections::{HashMap, HashSet, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot, watch};

const NEXT: &str = "/2018-06-01/runtime/invocation/next";
const INIT_ERROR: &str = "/2018-06-01/runtime/init/error";
const INVOCATION: &str = "/2018-06-01/runtime/invocation/";

/// One invocation to hand out.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The invocation's request id (`Lambda-Runtime-Aws-Request-Id`).
    pub request_id: String,
    /// The function's ARN (`Lambda-Runtime-Invoked-Function-Arn`).
    pub function_arn: String,
    /// `Lambda-Runtime-Trace-Id`, as Lambda sends it with active tracing.
    pub trace_header: String,
    /// The deadline Lambda gives the invocation.
    pub deadline: SystemTime,
    /// The event, as the function receives it.
    pub body: Vec<u8>,
}

impl Invocation {
    /// An invocation of `function` with `body`, 30 s to run, and no trace header.
    pub fn new(request_id: &str, function: &str, body: impl Into<Vec<u8>>) -> Self {
        Self {
            request_id: request_id.to_owned(),
            function_arn: format!("arn:aws:lambda:us-east-1:123456789012:function:{function}"),
            trace_header: String::new(),
            deadline: SystemTime::now() + std::time::Duration::from_secs(30),
            body: body.into(),
        }
    }
}

/// A function's answer to one invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// `POST .../<id>/response`, with its body.
    Response(Vec<u8>),
    /// `POST .../<id>/error`: the `Lambda-Runtime-Function-Error-Type` header and the body.
    Error {
        /// The error type header.
        error_type: String,
        /// The error body.
        body: Vec<u8>,
    },
}

impl Answer {
    /// The body the function answered with.
    pub fn body(&self) -> &[u8] {
        match self {
            Answer::Response(body) | Answer::Error { body, .. } => body,
        }
    }
}

/// Everything the function did, in order.
#[derive(Debug, Clone, Default)]
pub struct Record {
    /// When each `GET .../next` arrived.
    pub next_requests: Vec<Instant>,
    /// (when, request id, answer) for each answered invocation.
    pub answers: Vec<(Instant, String, Answer)>,
    /// `POST /runtime/init/error`: the error type header and the body.
    pub init_error: Option<(String, Vec<u8>)>,
}

impl Record {
    /// The answer to `request_id`, once it has come.
    pub fn answer(&self, request_id: &str) -> Option<&Answer> {
        self.answers
            .iter()
            .find(|(_, id, _)| id == request_id)
            .map(|(_, _, answer)| answer)
    }
}

#[derive(Debug, Default)]
struct Queue {
    pending: Mutex<VecDeque<Invocation>>,
    queued: Notify,
    /// Request ids handed to the runtime and not yet answered.
    in_flight: Mutex<HashSet<String>>,
    /// Who waits for which invocation's answer.
    waiters: Mutex<HashMap<String, oneshot::Sender<Answer>>>,
}

impl Queue {
    /// Delivers `answer` to whoever waits for `request_id`.
    fn settle(&self, request_id: &str, answer: &Answer) {
        if let Ok(mut in_flight) = self.in_flight.lock() {
            in_flight.remove(request_id);
        }
        let waiter = self
            .waiters
            .lock()
            .ok()
            .and_then(|mut waiters| waiters.remove(request_id));
        if let Some(waiter) = waiter {
            let _ = waiter.send(answer.clone());
        }
    }
}

/// The running API; stops when dropped.
#[derive(Debug)]
pub struct RuntimeApiEmulator {
    address: SocketAddr,
    queue: Arc<Queue>,
    record: watch::Receiver<Record>,
    task: tokio::task::JoinHandle<()>,
}

impl RuntimeApiEmulator {
    /// Listens on a free loopback port.
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let address = listener.local_addr()?;
        let (sender, record) = watch::channel(Record::default());
        let queue = Arc::new(Queue::default());
        let task = tokio::spawn(serve(listener, Arc::clone(&queue), sender));
        Ok(Self {
            address,
            queue,
            record,
            task,
        })
    }

    /// `AWS_LAMBDA_RUNTIME_API` for the function.
    pub fn address(&self) -> String {
        self.address.to_string()
    }

    /// Queues `invocation` for the next `GET .../next`.
    pub fn invoke(&self, invocation: Invocation) {
        if let Ok(mut pending) = self.queue.pending.lock() {
            pending.push_back(invocation);
        }
        self.queue.queued.notify_one();
    }

    /// Queues `invocation` and returns where its answer will arrive.
    pub fn invoke_awaiting(&self, invocation: Invocation) -> oneshot::Receiver<Answer> {
        let (sender, receiver) = oneshot::channel();
        if let Ok(mut waiters) = self.queue.waiters.lock() {
            waiters.insert(invocation.request_id.clone(), sender);
        }
        self.invoke(invocation);
        receiver
    }

    /// Fails every invocation the runtime has taken and not answered, as Lambda does when a
    /// runtime dies or times out mid-invocation (`error_type`, e.g. `Runtime.ExitError`). Queued
    /// invocations stay queued for the next runtime. Returns how many were failed.
    pub fn fail_in_flight(&self, error_type: &str, message: &str) -> usize {
        let taken: Vec<String> = self
            .queue
            .in_flight
            .lock()
            .map(|mut in_flight| in_flight.drain().collect())
            .unwrap_or_default();
        let body = format!(r#"{{"errorType":"{error_type}","errorMessage":"{message}"}}"#).into_bytes();
        for request_id in &taken {
            let answer = Answer::Error {
                error_type: error_type.to_owned(),
                body: body.clone(),
            };
            self.queue.settle(request_id, &answer);
        }
        taken.len()
    }

    /// Withdraws a queued invocation nobody took (its caller gave up); true if it was queued.
    pub fn withdraw(&self, request_id: &str) -> bool {
        if let Ok(mut waiters) = self.queue.waiters.lock() {
            waiters.remove(request_id);
        }
        self.queue
            .pending
            .lock()
            .map(|mut pending| {
                let before = pending.len();
                pending.retain(|invocation| invocation.request_id != request_id);
                pending.len() != before
            })
            .unwrap_or(false)
    }

    /// Waits until `done` holds for the record (or the server is gone) and returns it.
    pub async fn wait_for(&mut self, done: impl Fn(&Record) -> bool) -> Record {
        let reached = self
            .record
            .wait_for(|record| done(record))
            .await
            .map(|record| record.clone());
        reached.unwrap_or_else(|_| self.record.borrow().clone())
    }

    /// What happened so far.
    pub fn record(&self) -> Record {
        self.record.borrow().clone()
    }
}

impl Drop for RuntimeApiEmulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(listener: TcpListener, queue: Arc<Queue>, record: watch::Sender<Record>) {
    while let Ok((stream, _)) = listener.accept().await {
        let (queue, record) = (Arc::clone(&queue), record.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                handle(request, Arc::clone(&queue), record.clone())
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(
    request: Request<Incoming>,
    queue: Arc<Queue>,
    record: watch::Sender<Record>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let now = Instant::now();
    let path = request.uri().path().to_owned();
    if request.method() == Method::GET && path == NEXT {
        record.send_modify(|record| record.next_requests.push(now));
        let invocation = next_queued(&queue).await;
        if let Ok(mut in_flight) = queue.in_flight.lock() {
            in_flight.insert(invocation.request_id.clone());
        }
        return Ok(next_invocation(&invocation));
    }
    let error_type = request
        .headers()
        .get("lambda-runtime-function-error-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = request
        .into_body()
        .collect()
        .await
        .map(|body| body.to_bytes().to_vec())
        .unwrap_or_default();
    if path == INIT_ERROR {
        record.send_modify(|record| record.init_error = Some((error_type, body)));
        return Ok(reply(StatusCode::ACCEPTED, b"{\"status\":\"OK\"}".to_vec()));
    }
    let answered = path.strip_prefix(INVOCATION).and_then(|rest| {
        let (request_id, kind) = rest.split_once('/')?;
        let answer = match kind {
            "response" => Answer::Response(body),
            "error" => Answer::Error { error_type, body },
            _ => return None,
        };
        Some((request_id.to_owned(), answer))
    });
    match answered {
        Some((request_id, answer)) => {
            queue.settle(&request_id, &answer);
            record.send_modify(|record| record.answers.push((now, request_id, answer)));
            Ok(reply(StatusCode::ACCEPTED, b"{\"status\":\"OK\"}".to_vec()))
        }
        None => Ok(reply(StatusCode::NOT_FOUND, Vec::new())),
    }
}

/// The next invocation, once there is one: until then the function waits, like a frozen sandbox.
async fn next_queued(queue: &Queue) -> Invocation {
    loop {
        let notified = queue.queued.notified();
        if let Some(invocation) = queue
            .pending
            .lock()
            .ok()
            .and_then(|mut pending| pending.pop_front())
        {
            return invocation;
        }
        notified.await;
    }
}

fn next_invocation(invocation: &Invocation) -> Response<Full<Bytes>> {
    let deadline_ms = invocation
        .deadline
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis())
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
        if value.is_empty() {
            continue;
        }
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

/// A function binary running against a [`RuntimeApiEmulator`], as Lambda would run it; stopped
/// (killed, by its PID) when dropped.
#[derive(Debug)]
pub struct FunctionProcess {
    child: std::process::Child,
    log: std::path::PathBuf,
}

impl FunctionProcess {
    /// Starts `binary` as function `name` with the variables Lambda sets and `env`; its stdout
    /// and stderr go to `log`.
    pub fn start(
        api: &RuntimeApiEmulator,
        binary: &std::path::Path,
        name: &str,
        env: &[(&str, &str)],
        log: &std::path::Path,
    ) -> std::io::Result<Self> {
        let output = std::fs::File::create(log)?;
        let child = std::process::Command::new(binary)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", api.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_REGION", "us-east-1")
            .envs(env.iter().copied())
            .stdout(output.try_clone()?)
            .stderr(output)
            .spawn()?;
        Ok(Self {
            child,
            log: log.to_path_buf(),
        })
    }

    /// The function process's id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status, once it has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Everything it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for FunctionProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
