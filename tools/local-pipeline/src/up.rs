//! `make up` / `make down` / `make send`: the local pipeline as a development environment that
//! stays up. `up` starts a detached `local-pipeline serve`, which runs the stack `make demo` uses
//! on fixed ports and records what it started in a state file; `down` stops exactly those
//! processes, by PID; `send` signs and posts one Stripe event file to the running stack.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::stack::{LocalStack, StackError, StackOptions};
pub use up_state::{RecordedProcess, UpState};

/// The ports `make up` uses unless `LOCAL_PIPELINE_*_PORT` say otherwise: moto's, the front door's,
/// the tools' AWS endpoint's, OTLP/HTTP's and the X-Ray daemon's own defaults.
pub const DEFAULT_MOTO_PORT: u16 = 5000;
/// The API Gateway front door's port.
pub const DEFAULT_GATEWAY_PORT: u16 = 9000;
/// The tools' AWS endpoint's port.
pub const DEFAULT_AWS_PORT: u16 = 4000;
/// The OTLP/HTTP receiver's port.
pub const DEFAULT_OTLP_PORT: u16 = 4318;
/// The X-Ray daemon's UDP port.
pub const DEFAULT_XRAY_PORT: u16 = 2000;

/// How long `up` waits for the stack to be ready, and `down` for it to stop.
const START_DEADLINE: Duration = Duration::from_secs(180);
const STOP_DEADLINE: Duration = Duration::from_secs(30);
/// How often the running stack checks its processes (and records new sandboxes' ids).
const SUPERVISE_EVERY: Duration = Duration::from_secs(2);

/// Why `make up`, `send` or `down` failed.
#[derive(Debug, thiserror::Error)]
pub enum UpError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// The state file is not one `make up` wrote.
    #[error("{path} is not a local pipeline's state: {detail}")]
    State {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// The stack did not come up.
    #[error("the local pipeline did not start: {0}")]
    NotStarted(String),
    /// No stack is running.
    #[error("no local pipeline is running (start one with `make up`)")]
    NotRunning,
    // Boxed: a stack error is large, and every other variant is small.
    /// The stack failed.
    #[error(transparent)]
    Stack(Box<StackError>),
}

impl From<StackError> for UpError {
    fn from(error: StackError) -> Self {
        Self::Stack(Box::new(error))
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> UpError + '_ {
    move |source| UpError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The files of one `make up`: its state and the owner's log.
#[derive(Debug, Clone)]
pub struct UpDir {
    /// The directory.
    pub dir: PathBuf,
}

impl UpDir {
    /// `LOCAL_PIPELINE_STATE_DIR`, else `<target>/local-pipeline/up` (ignored by git).
    pub fn for_options(options: &StackOptions) -> Self {
        let dir = match std::env::var_os("LOCAL_PIPELINE_STATE_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => options
                .log_dir
                .parent()
                .map(|runs| runs.join("up"))
                .unwrap_or_else(|| options.log_dir.join("up")),
        };
        Self { dir }
    }

    /// The state file.
    pub fn state_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    /// The stack's own log.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("local-pipeline.log")
    }

    /// The recorded state, if any (running or not).
    pub fn read(&self) -> Result<Option<UpState>, UpError> {
        let path = self.state_path();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|error| UpError::State {
                    path,
                    detail: error.to_string(),
                }),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(UpError::Io { path, source }),
        }
    }

    /// The state of a stack that is running now.
    pub fn running(&self) -> Result<Option<UpState>, UpError> {
        Ok(self.read()?.filter(|state| state.owner.is_running()))
    }

    /// Written whole or not at all: readers never see half a file.
    pub fn write(&self, state: &UpState) -> Result<(), UpError> {
        std::fs::create_dir_all(&self.dir).map_err(io_error(&self.dir))?;
        let path = self.state_path();
        let partial = self.dir.join("state.json.partial");
        let text = serde_json::to_vec_pretty(state).map_err(|error| UpError::State {
            path: path.clone(),
            detail: error.to_string(),
        })?;
        std::fs::write(&partial, text).map_err(io_error(&partial))?;
        std::fs::rename(&partial, &path).map_err(io_error(&path))
    }

    fn remove(&self) {
        let _ = std::fs::remove_file(self.state_path());
    }
}

/// What `up` did.
#[derive(Debug)]
pub enum Started {
    /// Started by this call.
    Now(UpState),
    /// Already running; nothing started.
    AlreadyRunning(UpState),
}

/// Starts `program serve` detached (its own process group, so the terminal's Ctrl-C does not
/// reach it), and waits until its state file says the stack is ready. `env` is passed on.
pub fn start(up: &UpDir, program: &Path, env: &[(String, String)]) -> Result<Started, UpError> {
    if let Some(state) = up.running()? {
        return Ok(Started::AlreadyRunning(state));
    }
    // A state file whose owner is gone is stale: that stack was killed without `down`.
    if let Some(stale) = up.read()? {
        stop_recorded(&stale);
        up.remove();
    }
    std::fs::create_dir_all(&up.dir).map_err(io_error(&up.dir))?;
    let log_path = up.log_path();
    let log = std::fs::File::create(&log_path).map_err(io_error(&log_path))?;
    let log_err = log.try_clone().map_err(io_error(&log_path))?;
    let mut command = Command::new(program);
    command
        .arg("serve")
        .envs(env.iter().map(|(key, value)| (key, value)))
        .env("LOCAL_PIPELINE_STATE_DIR", &up.dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err);
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command.spawn().map_err(io_error(program))?;
    let started = Instant::now();
    loop {
        if let Some(state) = up.running()? {
            return Ok(Started::Now(state));
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(UpError::NotStarted(format!(
                "local-pipeline serve exited ({status}); the end of {}:\n{}",
                log_path.display(),
                tail(&log_path, 20)
            )));
        }
        if started.elapsed() > START_DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            return Err(UpError::NotStarted(format!(
                "not ready after {} s; the end of {}:\n{}",
                START_DEADLINE.as_secs(),
                log_path.display(),
                tail(&log_path, 20)
            )));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// `local-pipeline serve`: runs the stack until SIGTERM or SIGINT (a function's sandbox that exits
/// is replaced by the local Lambda service, as Lambda starts a new one), keeps the state file's
/// process ids current, and removes the state file on the way out.
pub async fn serve(options: StackOptions) -> Result<(), UpError> {
    let up = UpDir::for_options(&options);
    let mut stack = LocalStack::start(options).await?;
    up.write(&state_of(&mut stack))?;
    println!("local pipeline ready: {}", stack.webhook_url());
    let outcome = supervise(&mut stack, &up).await;
    stack.shutdown().await;
    up.remove();
    println!("local pipeline stopped");
    outcome
}

async fn supervise(stack: &mut LocalStack, up: &UpDir) -> Result<(), UpError> {
    use tokio::signal::unix::{SignalKind, signal};
    let listen = |kind| signal(kind).map_err(io_error(Path::new("signal handler")));
    let mut terminate = listen(SignalKind::terminate())?;
    let mut interrupt = listen(SignalKind::interrupt())?;
    // The terminal that ran `make up` closing is no reason to stop.
    let mut hangup = listen(SignalKind::hangup())?;
    let mut tick = tokio::time::interval(SUPERVISE_EVERY);
    let mut recorded = state_of(stack).processes;
    loop {
        tokio::select! {
            _ = terminate.recv() => return Ok(()),
            _ = interrupt.recv() => return Ok(()),
            _ = hangup.recv() => {}
            _ = tick.tick() => {
                let state = state_of(stack);
                if state.processes != recorded {
                    up.write(&state)?;
                    recorded = state.processes;
                }
                // moto gone, or a function that cannot initialise, cannot be papered over.
                stack.check_health()?;
            }
        }
    }
}

/// What `make up` records of a running stack, owned by this process.
pub fn state_of(stack: &mut LocalStack) -> UpState {
    let processes = stack
        .process_table()
        .into_iter()
        .map(|(name, pid)| RecordedProcess::of(&name, pid))
        .collect();
    let options = &stack.options;
    let tcp_ports = [
        options.moto_port,
        Some(options.gateway_port),
        Some(options.aws_port),
        Some(options.otlp_port),
    ]
    .into_iter()
    .flatten()
    .filter(|port| *port != 0)
    .collect();
    UpState {
        owner: RecordedProcess::of("local-pipeline serve", std::process::id()),
        processes,
        tcp_ports,
        webhook_url: stack.webhook_url(),
        signing_secret: stack.provisioned.signing_secret.clone(),
        trace_sink_url: stack.trace_sink_url(),
        traces_destination: stack.traces_destination(),
        aws_endpoint: stack.aws_endpoint(),
        log_groups: stack.function_log_groups(),
        region: moto_server::REGION.to_owned(),
        queue_url: stack.provisioned.queue_url.clone(),
        dlq_url: stack.provisioned.dlq_url.clone(),
        notifier_failures_url: stack
            .provisioned
            .notifier
            .as_ref()
            .map(|notifier| notifier.failures_url.clone()),
        table_name: stack.provisioned.table_name.clone(),
        log_dir: stack.options.log_dir.clone(),
    }
}

/// What `down` stopped, and what it could not.
#[derive(Debug, Default)]
pub struct Stopped {
    /// `name (pid N)` of each process that was running and is gone.
    pub stopped: Vec<String>,
    /// Processes or ports still there afterwards.
    pub left: Vec<String>,
}

/// Stops the recorded stack: SIGTERM to its owner (which stops the rest), then SIGKILL to any
/// recorded process still running; then checks that every port is free.
pub fn stop(up: &UpDir) -> Result<Stopped, UpError> {
    let state = up.read()?.ok_or(UpError::NotRunning)?;
    let stopped = stop_recorded(&state);
    up.remove();
    Ok(stopped)
}

fn stop_recorded(state: &UpState) -> Stopped {
    let mut report = Stopped::default();
    let all: Vec<&RecordedProcess> = std::iter::once(&state.owner).chain(&state.processes).collect();
    let running: Vec<&RecordedProcess> = all.iter().copied().filter(|p| p.is_running()).collect();
    if state.owner.is_running() {
        signal(state.owner.pid, rustix::process::Signal::TERM);
        wait_until(STOP_DEADLINE, || !state.owner.is_running());
    }
    for process in &state.processes {
        if process.is_running() {
            signal(process.pid, rustix::process::Signal::KILL);
        }
    }
    wait_until(STOP_DEADLINE, || running.iter().all(|p| !p.is_running()));
    for process in running {
        let line = format!("{} (pid {})", process.name, process.pid);
        if process.is_running() {
            report.left.push(format!("{line} is still running"));
        } else {
            report.stopped.push(line);
        }
    }
    wait_until(STOP_DEADLINE, || {
        state.tcp_ports.iter().all(|port| !listening(*port))
    });
    for port in &state.tcp_ports {
        if listening(*port) {
            report
                .left
                .push(format!("something still listens on 127.0.0.1:{port}"));
        }
    }
    report
}

fn signal(pid: u32, signal: rustix::process::Signal) {
    let pid = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw);
    if let Some(pid) = pid {
        let _ = rustix::process::kill_process(pid, signal);
    }
}

fn wait_until(deadline: Duration, done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() && started.elapsed() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
pub fn listening(port: u16) -> bool {
    TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

/// What `send` posted and what the API answered.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The event's id.
    pub event_id: String,
    /// The HTTP status.
    pub status: u16,
    /// The response body.
    pub answer: String,
}

/// The event in `file` with its id replaced by a fresh one (unless `keep_id`), signed with the
/// stack's secret and posted to its webhook URL.
pub async fn send(state: &UpState, file: &Path, keep_id: bool) -> Result<Sent, UpError> {
    let bytes = std::fs::read(file).map_err(io_error(file))?;
    let mut event: Value = serde_json::from_slice(&bytes).map_err(|error| UpError::State {
        path: file.to_path_buf(),
        detail: format!("not a JSON Stripe event: {error}"),
    })?;
    if !keep_id {
        event["id"] = Value::from(fresh_event_id());
    }
    let event_id = event["id"].as_str().unwrap_or_default().to_owned();
    let body = serde_json::to_vec(&event).map_err(|error| UpError::State {
        path: file.to_path_buf(),
        detail: error.to_string(),
    })?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs() as i64)
        .unwrap_or_default();
    let signature = stripe_signature::sign(&state.signing_secret, now, &body);
    let response = reqwest::Client::new()
        .post(&state.webhook_url)
        .header("content-type", "application/json; charset=utf-8")
        .header("stripe-signature", signature)
        .body(body)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .map_err(|error| UpError::NotStarted(format!("POST {}: {error}", state.webhook_url)))?;
    let status = response.status().as_u16();
    let answer = response.text().await.unwrap_or_default();
    Ok(Sent {
        event_id,
        status,
        answer,
    })
}

/// `evt_local_` and 16 random hex digits.
fn fresh_event_id() -> String {
    let mut bytes = [0u8; 8];
    if getrandom(&mut bytes).is_err() {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        bytes = (nanos as u64).to_be_bytes();
    }
    format!("evt_local_{}", hex::encode(bytes))
}

fn getrandom(bytes: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(bytes)
}

/// The lines `up` prints: where everything is, and how to post a signed sample.
pub fn describe(state: &UpState, workspace_root: &Path) -> String {
    let sample = "events/stripe/payment_intent.payment_failed.json";
    let logs = state
        .log_dir
        .strip_prefix(workspace_root)
        .unwrap_or(&state.log_dir)
        .display();
    format!(
        "  webhooks:       POST {webhook}
  signing secret: {secret}  (this stack's own, random per `make up`)
  traces:         {traces}
  AWS:            {aws} (X-Ray and Logs Insights as in AWS; the rest is moto): queue {queue}, table {table}
  logs:           {logs}

Post a signed sample:
  make send EVENT={sample}
or with curl:
  body=$(cat {sample}); t=$(date +%s); \\
  sig=$(printf '%s.%s' \"$t\" \"$body\" | openssl dgst -sha256 -hmac '{secret}' | sed 's/^.* //'); \\
  curl -sS {webhook} -H 'Content-Type: application/json' -H \"Stripe-Signature: t=$t,v1=$sig\" --data-binary \"$body\"
Then `make trace EVENT=<event id>` tells that event's story; `make down` stops everything.",
        webhook = state.webhook_url,
        secret = state.signing_secret,
        traces = state.traces_destination,
        aws = state.aws_endpoint,
        queue = state.queue_url,
        table = state.table_name,
    )
}
