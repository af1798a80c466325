//! cargo-lambda's Lambda runtime emulator (`cargo lambda watch --only-lambda-apis`) and the
//! prebuilt function binaries running against it, each under its own function name, exactly as
//! in Lambda: the runtime API hands them invocations, the invoke API and function URLs send them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use emulator::process::{ManagedProcess, ProcessError, free_port};

const STARTUP_DEADLINE: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("cargo-lambda not found at {0}; run `make tools` (make demo does it for you)")]
    NotInstalled(PathBuf),
    #[error("the function binary {0} does not exist; build it first (make demo does: cargo build --bins)")]
    MissingBinary(PathBuf),
    #[error("no free port for the Lambda emulator: {0}")]
    NoPort(std::io::Error),
    #[error(transparent)]
    Process(#[from] ProcessError),
}

/// The running runtime API emulator.
#[derive(Debug)]
pub struct LambdaEmulator {
    process: ManagedProcess,
    port: u16,
}

impl LambdaEmulator {
    /// Starts cargo-lambda's runtime and invoke APIs on 127.0.0.1:`port` (a free port if `None`).
    pub fn start(workspace_root: &Path, port: Option<u16>, log: &Path) -> Result<Self, EmulatorError> {
        let binary = workspace_root.join(".venv/bin/cargo-lambda");
        if !binary.exists() {
            return Err(EmulatorError::NotInstalled(binary));
        }
        let port = match port {
            Some(port) => port,
            None => free_port().map_err(EmulatorError::NoPort)?,
        };
        let mut command = Command::new(&binary);
        command
            .current_dir(workspace_root)
            .args([
                "lambda",
                "watch",
                "--only-lambda-apis",
                "--invoke-address",
                "127.0.0.1",
            ])
            // `--timeout` also bounds an idle `GET /next`: cargo-lambda then answers 408, on
            // which lambda_runtime 1.5 panics (no request id header). An hour outlasts any
            // idle spell of the demo, the tests or a soak's drain.
            .args(["--invoke-port", &port.to_string(), "--timeout", "3600"]);
        let mut process = ManagedProcess::spawn("cargo-lambda", command, log)?;
        process.wait_until_listening(port, STARTUP_DEADLINE)?;
        Ok(Self { process, port })
    }

    /// `AWS_LAMBDA_RUNTIME_API` for the function routed as `function` (see [`FunctionSpec::route`]).
    pub fn runtime_api(&self, function: &str) -> String {
        format!("http://127.0.0.1:{}/.rt/{function}", self.port)
    }

    /// The Lambda Invoke API URL of `function`.
    pub fn invoke_url(&self, function: &str) -> String {
        format!(
            "http://127.0.0.1:{}/2015-03-31/functions/{function}/invocations",
            self.port
        )
    }

    /// The function URL of `function` for `path` (requests arrive as function URL events).
    pub fn function_url(&self, function: &str, path: &str) -> String {
        format!("http://127.0.0.1:{}/lambda-url/{function}{path}", self.port)
    }

    pub fn process(&mut self) -> &mut ManagedProcess {
        &mut self.process
    }
}

/// What to run as one function.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    /// The function's name (`AWS_LAMBDA_FUNCTION_NAME`), as Terraform names it.
    pub name: String,
    /// The binary; its file name is the function's route in cargo-lambda, which only serves
    /// functions that are binaries of the workspace.
    pub binary: PathBuf,
    pub memory_mb: u32,
    pub env: Vec<(String, String)>,
}

impl FunctionSpec {
    /// The binary with the environment Lambda gives a function, plus `env`, and nothing
    /// inherited: no real AWS credentials or OTel settings leak in from the shell.
    /// `runtime_api` is the `host:port[/path]` of the Lambda runtime API to poll.
    pub fn command(&self, runtime_api: &str) -> Command {
        let mut command = Command::new(&self.binary);
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_FUNCTION_NAME", &self.name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", self.memory_mb.to_string())
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{}", self.name))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
            .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
            .envs(self.env.iter().map(|(key, value)| (key, value)));
        command
    }

    /// The name cargo-lambda routes invocations by: the binary's file name.
    pub fn route(&self) -> String {
        self.binary
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// A function binary polling the emulator's runtime API.
#[derive(Debug)]
pub struct FunctionProcess {
    process: ManagedProcess,
}

impl FunctionProcess {
    /// Starts the binary against the emulator (see [`FunctionSpec::command`]).
    pub fn start(spec: &FunctionSpec, emulator: &LambdaEmulator, log: &Path) -> Result<Self, EmulatorError> {
        if !spec.binary.exists() {
            return Err(EmulatorError::MissingBinary(spec.binary.clone()));
        }
        let command = spec.command(&emulator.runtime_api(&spec.route()));
        let process = ManagedProcess::spawn(&spec.name, command, log)?;
        Ok(Self { process })
    }

    pub fn process(&mut self) -> &mut ManagedProcess {
        &mut self.process
    }
}
