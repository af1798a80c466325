//! A moto server (the AWS emulator for SQS, DynamoDB and Secrets Manager) on a free loopback
//! port, stopped when dropped. Tests start one each; the demo starts one for the whole stack.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use aws_config::SdkConfig;

use child_process::{ManagedProcess, ProcessError, free_port};

/// moto's account id; queue URLs and ARNs use it.
pub const ACCOUNT_ID: &str = "123456789012";
/// The region moto's resources are in.
pub const REGION: &str = "us-east-1";
const STARTUP_DEADLINE: Duration = Duration::from_secs(60);

/// Why moto could not be started.
#[derive(Debug, thiserror::Error)]
pub enum MotoError {
    /// The project's virtualenv has no moto.
    #[error("moto_server not found at {0}; run `make tools` (make test and make demo do it for you)")]
    NotInstalled(PathBuf),
    /// No loopback port was free.
    #[error("no free port for moto: {0}")]
    NoPort(std::io::Error),
    /// The process did not start or become ready.
    #[error(transparent)]
    Process(#[from] ProcessError),
}

/// A running moto server.
#[derive(Debug)]
pub struct MotoServer {
    process: ManagedProcess,
    endpoint: String,
}

impl MotoServer {
    /// Starts moto's server from the project virtualenv with the repository's DynamoDB
    /// transaction fix (`tools/python/moto_server.py`; or the `$MOTO_SERVER` executable) on
    /// `port` (a free one if `None`), logging to `log`, and waits until it accepts connections.
    pub fn start_with(workspace_root: &Path, port: Option<u16>, log: &Path) -> Result<Self, MotoError> {
        let mut command = match std::env::var_os("MOTO_SERVER").map(PathBuf::from) {
            Some(binary) if binary.exists() => Command::new(binary),
            Some(binary) => return Err(MotoError::NotInstalled(binary)),
            None => {
                let python = workspace_root.join(".venv/bin/python");
                if !python.exists() {
                    return Err(MotoError::NotInstalled(python));
                }
                let mut command = Command::new(python);
                command.arg(workspace_root.join("tools/python/moto_server.py"));
                command
            }
        };
        let port = match port {
            Some(port) => port,
            None => free_port().map_err(MotoError::NoPort)?,
        };
        command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
        let mut process = ManagedProcess::spawn("moto", command, log)?;
        process.wait_until_listening(port, STARTUP_DEADLINE)?;
        Ok(Self {
            process,
            endpoint: format!("http://127.0.0.1:{port}"),
        })
    }

    /// A moto server for one test, logging into the system's temporary directory.
    ///
    /// # Panics
    /// When moto cannot start: in a test that is the failure to report.
    #[allow(clippy::expect_used)]
    pub fn start() -> Self {
        let root = crate::workspace_root();
        let log = std::env::temp_dir().join(format!("moto-{}-{}.log", std::process::id(), unique()));
        Self::start_with(&root, None, &log).expect("start moto")
    }

    /// The server's base URL, `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The server's process, to read its log or stop it early.
    pub fn process(&mut self) -> &mut ManagedProcess {
        &mut self.process
    }

    /// SDK configuration that talks to this server with moto's test credentials.
    pub async fn sdk_config(&self) -> SdkConfig {
        sdk_config_for(&self.endpoint).await
    }

    /// The environment a function binary needs to talk to this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", REGION.to_owned()),
            ("AWS_DEFAULT_REGION", REGION.to_owned()),
            ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
        ]
    }
}

/// SDK configuration for a moto server (or another stand-in) at `endpoint`, with moto's region
/// and test credentials.
pub async fn sdk_config_for(endpoint: &str) -> SdkConfig {
    sdk_config::local_endpoint(endpoint, REGION).await
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
