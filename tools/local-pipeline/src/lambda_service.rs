//! Lambda, emulated for the local pipeline: each function's real binary runs in a "sandbox" (a
//! process) against its own local Runtime API, with the environment Terraform gives it. What
//! Lambda does around an invocation is done here too:
//!
//! - an invocation carries the trace header it was invoked with (`Lambda-Runtime-Trace-Id`) and
//!   a real deadline, the function's timeout;
//! - a runtime that does not answer by the deadline is killed and the invocation fails
//!   `Sandbox.Timedout`; a runtime that dies mid-invocation fails it `Runtime.ExitError`;
//!   either way the next invocation gets a new sandbox, a cold start, counted;
//! - everything the function writes to stdout and stderr lands in CloudWatch Logs, in the log
//!   group Lambda would use (`/aws/lambda/<name>`), one log stream per sandbox, and in the
//!   function's log file.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use runtime_api_emulator::{Answer, Invocation, RuntimeApiEmulator};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{Mutex as AsyncMutex, mpsc};

use moto_server::{ACCOUNT_ID, REGION};

/// CloudWatch Logs takes at most this many events per `PutLogEvents`.
const MAX_EVENTS_PER_PUT: usize = 1000;
/// How long a log line may wait to be sent with others.
const LOG_BATCH_WINDOW: Duration = Duration::from_millis(100);
/// A sandbox that lived less than this before exiting is replaced only after as long.
const RESTART_BACKOFF: Duration = Duration::from_secs(1);

/// Why a function could not be run.
#[derive(Debug, thiserror::Error)]
pub enum LambdaError {
    /// The function's binary has not been built.
    #[error("the function binary {0} does not exist; build it first (make demo does: cargo build --bins)")]
    MissingBinary(PathBuf),
    /// Its Runtime API could not start.
    #[error("cannot start the Runtime API of {function}: {source}")]
    RuntimeApi {
        /// The function.
        function: String,
        /// Why it could not listen.
        source: std::io::Error,
    },
    /// Its process could not start.
    #[error("cannot start {function} ({binary}): {source}")]
    Spawn {
        /// The function.
        function: String,
        /// Its binary.
        binary: PathBuf,
        /// Why it did not start.
        source: std::io::Error,
    },
    /// No function has that name.
    #[error("no function named {0}")]
    NoSuchFunction(String),
}

/// What to run as one function.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    /// The function's name (`AWS_LAMBDA_FUNCTION_NAME`), as Terraform names it.
    pub name: String,
    /// The binary run as its sandbox.
    pub binary: PathBuf,
    /// Its memory size, in MB, as Lambda tells it.
    pub memory_mb: u32,
    /// The function's timeout: the deadline each invocation gets.
    pub timeout: Duration,
    /// The environment Terraform's function module gives it.
    pub env: Vec<(String, String)>,
}

impl FunctionSpec {
    /// The binary with the environment Lambda gives a function, plus `env`, and nothing
    /// inherited: no real AWS credentials or OTel settings leak in from the shell.
    /// `runtime_api` is the `host:port` of the Lambda Runtime API to poll.
    pub fn command(&self, runtime_api: &str) -> std::process::Command {
        let mut command = std::process::Command::new(&self.binary);
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_FUNCTION_NAME", &self.name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", self.memory_mb.to_string())
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", log_group(&self.name))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
            .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
            .envs(self.env.iter().map(|(key, value)| (key, value)));
        command
    }

    /// Its ARN, as Lambda would name it.
    pub fn arn(&self) -> String {
        format!("arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{}", self.name)
    }
}

/// The log group Lambda writes a function's output to.
pub fn log_group(function: &str) -> String {
    format!("/aws/lambda/{function}")
}

/// Why an invocation returned no response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvokeError {
    /// The function answered with an error (`POST .../error`); `Unhandled` in Lambda's terms.
    #[error("{error_type}: {body}")]
    Function {
        /// The error type the function reported.
        error_type: String,
        /// The error body.
        body: String,
    },
    /// The runtime was still working at the deadline and was killed.
    #[error("Sandbox.Timedout: the invocation ran past its {0:?} timeout")]
    Timedout(Duration),
    /// The runtime exited mid-invocation.
    #[error("Runtime.ExitError: the runtime exited before answering")]
    RuntimeExited,
    /// The service stopped before the invocation was answered.
    #[error("the invocation was not answered: the service is stopping")]
    Stopped,
}

/// Counters of one function, as Lambda's metrics would show them.
#[derive(Debug, Default)]
struct Counters {
    invocations: AtomicU64,
    errors: AtomicU64,
    timeouts: AtomicU64,
    sandboxes: AtomicU64,
    in_flight: AtomicU64,
}

/// Counts an invocation in flight until dropped, whichever way it ends.
struct InFlight<'a>(&'a AtomicU64);

impl<'a> InFlight<'a> {
    fn enter(counter: &'a AtomicU64) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        Self(counter)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A snapshot of a function's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FunctionStats {
    /// Invocations started.
    pub invocations: u64,
    /// Invocations that failed: function errors, timeouts, runtime exits.
    pub errors: u64,
    /// Invocations that ran out of time.
    pub timeouts: u64,
    /// Sandboxes started: the first one and every cold start after a timeout, a crash or a kill.
    pub sandboxes: u64,
    /// Invocations running now.
    pub in_flight: u64,
}

/// One emulated function.
#[derive(Debug)]
struct Function {
    spec: FunctionSpec,
    runtime: RuntimeApiEmulator,
    log_path: PathBuf,
    counters: Counters,
    /// The running sandbox's process id.
    pid: Mutex<Option<u32>>,
    /// The task that reaps the running sandbox when it exits (and starts the next one).
    watcher: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Serialises sandbox starts (a timeout and an exit may both ask for one).
    starting: AsyncMutex<()>,
    stopping: AtomicBool,
    next_request: AtomicU64,
    /// Its place among the functions: request ids are unique across them, as Lambda's are.
    index: u16,
    logs: LogShipper,
}

/// The running functions; stops every sandbox when dropped.
#[derive(Debug)]
pub struct LambdaService {
    functions: BTreeMap<String, Arc<Function>>,
}

impl LambdaService {
    /// Starts a sandbox for each function, logging to `<log_dir>/<function>.log` and to
    /// CloudWatch Logs through `logs`.
    pub async fn start(
        specs: Vec<FunctionSpec>,
        log_dir: &Path,
        logs: aws_sdk_cloudwatchlogs::Client,
    ) -> Result<Self, LambdaError> {
        let mut functions = BTreeMap::new();
        for (index, spec) in specs.into_iter().enumerate() {
            if !spec.binary.exists() {
                return Err(LambdaError::MissingBinary(spec.binary.clone()));
            }
            let runtime = RuntimeApiEmulator::start()
                .await
                .map_err(|source| LambdaError::RuntimeApi {
                    function: spec.name.clone(),
                    source,
                })?;
            let function = Arc::new(Function {
                log_path: log_dir.join(format!("{}.log", service_of(&spec))),
                logs: LogShipper::start(logs.clone(), log_group(&spec.name)),
                spec,
                runtime,
                counters: Counters::default(),
                pid: Mutex::new(None),
                watcher: Mutex::new(None),
                starting: AsyncMutex::new(()),
                stopping: AtomicBool::new(false),
                next_request: AtomicU64::new(1),
                index: u16::try_from(index).unwrap_or(u16::MAX),
            });
            Function::start_sandbox(&function).await?;
            functions.insert(function.spec.name.clone(), function);
        }
        Ok(Self { functions })
    }

    /// Invokes `function` with `payload`, as Lambda's `Invoke` does (synchronously), handing it
    /// `trace_header`; the response, or why there is none.
    pub async fn invoke(
        &self,
        function: &str,
        payload: Vec<u8>,
        trace_header: &str,
    ) -> Result<Vec<u8>, InvokeError> {
        let Some(function) = self.functions.get(function) else {
            return Err(InvokeError::Function {
                error_type: "ResourceNotFoundException".to_owned(),
                body: format!("no function named {function}"),
            });
        };
        function.invoke(payload, trace_header).await
    }

    /// Kills `function`'s sandbox (SIGKILL), as when a sandbox dies mid-invocation; a new one
    /// starts in its place. Returns the killed process id.
    pub fn kill(&self, function: &str) -> Result<Option<u32>, LambdaError> {
        let function = self
            .functions
            .get(function)
            .ok_or_else(|| LambdaError::NoSuchFunction(function.to_owned()))?;
        Ok(function.kill())
    }

    /// What `function` has done so far.
    pub fn stats(&self, function: &str) -> FunctionStats {
        self.functions
            .get(function)
            .map(|function| function.stats())
            .unwrap_or_default()
    }

    /// (function, process id) of each running sandbox.
    pub fn pids(&self) -> Vec<(String, u32)> {
        self.functions
            .values()
            .filter_map(|function| Some((function.spec.name.clone(), function.pid()?)))
            .collect()
    }

    /// (function, log file) of each function.
    pub fn log_paths(&self) -> Vec<(String, PathBuf)> {
        self.functions
            .values()
            .map(|function| (function.spec.name.clone(), function.log_path.clone()))
            .collect()
    }

    /// An error naming the first function that failed to initialise (its init error).
    pub fn init_error(&self) -> Option<String> {
        self.functions.values().find_map(|function| {
            let (error_type, body) = function.runtime.record().init_error?;
            Some(format!(
                "{} failed to initialise: {error_type}: {}",
                function.spec.name,
                String::from_utf8_lossy(&body)
            ))
        })
    }

    /// Stops every sandbox and waits until their last log lines are sent.
    pub async fn shutdown(&self) {
        for function in self.functions.values() {
            function.stopping.store(true, Ordering::SeqCst);
            function.kill();
            function
                .runtime
                .fail_in_flight("Runtime.ExitError", "the local pipeline is stopping");
        }
        for function in self.functions.values() {
            function.logs.flush().await;
        }
    }
}

impl Drop for LambdaService {
    fn drop(&mut self) {
        for function in self.functions.values() {
            function.stopping.store(true, Ordering::SeqCst);
            function.kill();
        }
    }
}

/// `webhook-api` from `webhooks-local-webhook-api`: the file name the function logs to.
fn service_of(spec: &FunctionSpec) -> String {
    spec.binary
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| spec.name.clone())
}

impl Function {
    fn pid(&self) -> Option<u32> {
        self.pid.lock().ok().and_then(|pid| *pid)
    }

    fn stats(&self) -> FunctionStats {
        FunctionStats {
            invocations: self.counters.invocations.load(Ordering::Relaxed),
            errors: self.counters.errors.load(Ordering::Relaxed),
            timeouts: self.counters.timeouts.load(Ordering::Relaxed),
            sandboxes: self.counters.sandboxes.load(Ordering::Relaxed),
            in_flight: self.counters.in_flight.load(Ordering::SeqCst),
        }
    }

    fn kill(&self) -> Option<u32> {
        let pid = self.pid()?;
        let raw = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw)?;
        let _ = rustix::process::kill_process(raw, rustix::process::Signal::KILL);
        Some(pid)
    }

    /// Starts a new sandbox: the binary against the Runtime API, its output to the log file and
    /// CloudWatch Logs, and a watcher that fails the invocation in flight and starts the next
    /// sandbox when this one exits.
    fn start_sandbox(
        function: &Arc<Self>,
    ) -> Pin<Box<dyn Future<Output = Result<(), LambdaError>> + Send + '_>> {
        // Boxed: the watcher it spawns starts the next sandbox, so the future refers to itself.
        Box::pin(Self::start_sandbox_now(function))
    }

    async fn start_sandbox_now(function: &Arc<Self>) -> Result<(), LambdaError> {
        let _starting = function.starting.lock().await;
        if function.stopping.load(Ordering::SeqCst) {
            return Ok(());
        }
        let mut command: tokio::process::Command = function.spec.command(&function.runtime.address()).into();
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let spawn_error = |source| LambdaError::Spawn {
            function: function.spec.name.clone(),
            binary: function.spec.binary.clone(),
            source,
        };
        let mut child = command.spawn().map_err(spawn_error)?;
        let sandbox = function.counters.sandboxes.fetch_add(1, Ordering::Relaxed) + 1;
        if let Ok(mut pid) = function.pid.lock() {
            *pid = child.id();
        }
        let stream = log_stream(sandbox);
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&function.log_path)
            .await
            .map_err(spawn_error)?;
        let file = Arc::new(AsyncMutex::new(file));
        let mut readers = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            readers.push(tokio::spawn(ship_lines(
                stdout,
                Arc::clone(&file),
                function.logs.clone(),
                stream.clone(),
            )));
        }
        if let Some(stderr) = child.stderr.take() {
            readers.push(tokio::spawn(ship_lines(
                stderr,
                file,
                function.logs.clone(),
                stream,
            )));
        }
        let watched = Arc::clone(function);
        let started = tokio::time::Instant::now();
        let watcher = tokio::spawn(async move {
            let _ = child.wait().await;
            for reader in readers {
                let _ = reader.await;
            }
            watched
                .runtime
                .fail_in_flight("Runtime.ExitError", "the runtime exited before answering");
            // A runtime that cannot even initialise is not restarted in a tight loop.
            if !watched.stopping.load(Ordering::SeqCst) && started.elapsed() < RESTART_BACKOFF {
                tokio::time::sleep(RESTART_BACKOFF).await;
            }
            if !watched.stopping.load(Ordering::SeqCst) {
                let _ = Function::start_sandbox(&watched).await;
            }
        });
        if let Ok(mut slot) = function.watcher.lock() {
            *slot = Some(watcher);
        }
        Ok(())
    }

    async fn invoke(self: &Arc<Self>, payload: Vec<u8>, trace_header: &str) -> Result<Vec<u8>, InvokeError> {
        self.counters.invocations.fetch_add(1, Ordering::Relaxed);
        let _in_flight = InFlight::enter(&self.counters.in_flight);
        let number = self.next_request.fetch_add(1, Ordering::Relaxed);
        let request_id = format!(
            "{:08x}-{:04x}-4000-8000-{number:012x}",
            std::process::id(),
            self.index
        );
        let invocation = Invocation {
            request_id: request_id.clone(),
            function_arn: self.spec.arn(),
            trace_header: trace_header.to_owned(),
            deadline: SystemTime::now() + self.spec.timeout,
            body: payload,
        };
        let answer = self.runtime.invoke_awaiting(invocation);
        let result = match tokio::time::timeout(self.spec.timeout, answer).await {
            Ok(Ok(Answer::Response(body))) => return Ok(body),
            Ok(Ok(Answer::Error { error_type, .. })) if error_type == "Runtime.ExitError" => {
                Err(InvokeError::RuntimeExited)
            }
            Ok(Ok(Answer::Error { error_type, .. })) if error_type == "Sandbox.Timedout" => {
                Err(InvokeError::Timedout(self.spec.timeout))
            }
            Ok(Ok(Answer::Error { error_type, body })) => Err(InvokeError::Function {
                error_type,
                body: String::from_utf8_lossy(&body).into_owned(),
            }),
            Ok(Err(_)) => Err(InvokeError::Stopped),
            Err(_) => {
                // Never taken (the sandbox was busy): withdrawn. Taken: Lambda ends the sandbox.
                if !self.runtime.withdraw(&request_id) {
                    self.counters.timeouts.fetch_add(1, Ordering::Relaxed);
                    self.runtime.fail_in_flight("Sandbox.Timedout", "Task timed out");
                    self.kill();
                }
                Err(InvokeError::Timedout(self.spec.timeout))
            }
        };
        self.counters.errors.fetch_add(1, Ordering::Relaxed);
        result
    }
}

/// `2026/12/03/[$LATEST]<32 hex>`, Lambda's log stream name for a sandbox.
fn log_stream(sandbox: u64) -> String {
    let day = jiff::Timestamp::now().strftime("%Y/%m/%d");
    format!(
        "{day}/[$LATEST]{:016x}{sandbox:016x}",
        u64::from(std::process::id())
    )
}

/// Reads a sandbox's output line by line into its log file and CloudWatch Logs.
async fn ship_lines(
    output: impl tokio::io::AsyncRead + Unpin,
    file: Arc<AsyncMutex<tokio::fs::File>>,
    logs: LogShipper,
    stream: String,
) {
    let mut lines = BufReader::new(output).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        {
            let mut file = file.lock().await;
            let _ = file.write_all(line.as_bytes()).await;
            let _ = file.write_all(b"\n").await;
        }
        logs.send(&stream, line);
    }
}

/// One log line on its way to CloudWatch Logs.
#[derive(Debug)]
enum Shipment {
    Line {
        stream: String,
        timestamp_ms: i64,
        message: String,
    },
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// Sends a function's log lines to its log group, in batches, in order.
#[derive(Debug, Clone)]
struct LogShipper {
    sender: mpsc::UnboundedSender<Shipment>,
}

impl LogShipper {
    fn start(client: aws_sdk_cloudwatchlogs::Client, group: String) -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        tokio::spawn(run_shipper(client, group, receiver));
        Self { sender }
    }

    fn send(&self, stream: &str, message: String) {
        let timestamp_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as i64;
        let _ = self.sender.send(Shipment::Line {
            stream: stream.to_owned(),
            timestamp_ms,
            message,
        });
    }

    /// Waits until every line sent so far is in CloudWatch Logs (or could not be sent).
    async fn flush(&self) {
        let (done, flushed) = tokio::sync::oneshot::channel();
        if self.sender.send(Shipment::Flush(done)).is_ok() {
            let _ = flushed.await;
        }
    }
}

async fn run_shipper(
    client: aws_sdk_cloudwatchlogs::Client,
    group: String,
    mut receiver: mpsc::UnboundedReceiver<Shipment>,
) {
    let mut streams_made: Vec<String> = Vec::new();
    while let Some(first) = receiver.recv().await {
        let mut batch: Vec<(String, InputLogEvent)> = Vec::new();
        let mut flushes = Vec::new();
        let closes = tokio::time::Instant::now() + LOG_BATCH_WINDOW;
        let mut next = Some(first);
        loop {
            match next.take() {
                Some(Shipment::Line {
                    stream,
                    timestamp_ms,
                    message,
                }) => {
                    if let Ok(event) = InputLogEvent::builder()
                        .timestamp(timestamp_ms)
                        .message(message)
                        .build()
                    {
                        batch.push((stream, event));
                    }
                }
                Some(Shipment::Flush(done)) => {
                    flushes.push(done);
                    break;
                }
                None => {}
            }
            if batch.len() >= MAX_EVENTS_PER_PUT {
                break;
            }
            match tokio::time::timeout_at(closes, receiver.recv()).await {
                Ok(Some(shipment)) => next = Some(shipment),
                Ok(None) | Err(_) => break,
            }
        }
        put_batch(&client, &group, batch, &mut streams_made).await;
        for done in flushes {
            let _ = done.send(());
        }
    }
}

/// Puts one batch, stream by stream, creating each stream the first time.
async fn put_batch(
    client: &aws_sdk_cloudwatchlogs::Client,
    group: &str,
    batch: Vec<(String, InputLogEvent)>,
    streams_made: &mut Vec<String>,
) {
    let mut by_stream: BTreeMap<String, Vec<InputLogEvent>> = BTreeMap::new();
    for (stream, event) in batch {
        by_stream.entry(stream).or_default().push(event);
    }
    for (stream, events) in by_stream {
        if !streams_made.contains(&stream) {
            let _ = client
                .create_log_stream()
                .log_group_name(group)
                .log_stream_name(&stream)
                .send()
                .await;
            streams_made.push(stream.clone());
        }
        let put = client
            .put_log_events()
            .log_group_name(group)
            .log_stream_name(&stream)
            .set_log_events(Some(events))
            .send()
            .await;
        if let Err(error) = put {
            eprintln!(
                "local Lambda: log lines of {group} not stored in CloudWatch Logs: {}",
                aws_sdk_cloudwatchlogs::error::DisplayErrorContext(error)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_streams_are_named_as_lambda_names_them() {
        let stream = log_stream(2);
        let (day, sandbox) = stream.split_once("/[$LATEST]").unwrap_or_default();
        assert_eq!(day.len(), "2026/12/03".len(), "{stream}");
        assert!(
            sandbox.ends_with("0000000000000002") && sandbox.len() == 32,
            "{stream}"
        );
    }
}
