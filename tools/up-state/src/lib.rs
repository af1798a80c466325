#![doc = include_str!("../README.md")]

use std::path::PathBuf;

use aws_config::SdkConfig;
use child_process::is_alive;
use serde::{Deserialize, Serialize};

/// One process the stack started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedProcess {
    /// The process's name.
    pub name: String,
    /// Its process id.
    pub pid: u32,
    /// Its command line when recorded: a PID the OS has since given to another program is
    /// never signalled.
    pub cmdline: String,
}

impl RecordedProcess {
    /// `pid`, recorded as `name` with its command line now.
    pub fn of(name: &str, pid: u32) -> Self {
        Self {
            name: name.to_owned(),
            pid,
            cmdline: cmdline(pid).unwrap_or_default(),
        }
    }

    /// Alive and still the program that was recorded.
    pub fn is_running(&self) -> bool {
        is_alive(self.pid) && cmdline(self.pid).is_some_and(|now| now == self.cmdline)
    }
}

fn cmdline(pid: u32) -> Option<String> {
    std::fs::read(format!("/proc/{pid}/cmdline")).ok().map(|bytes| {
        String::from_utf8_lossy(&bytes)
            .replace('\0', " ")
            .trim()
            .to_owned()
    })
}

/// What a running `make up` stack is, where, and what it started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpState {
    /// The `local-pipeline serve` process that owns the others.
    pub owner: RecordedProcess,
    /// Every process it started.
    pub processes: Vec<RecordedProcess>,
    /// TCP ports that must be free again after `down`.
    pub tcp_ports: Vec<u16>,
    /// Where webhooks are posted.
    pub webhook_url: String,
    /// The stack's own signing secret: random per `make up`, valid nowhere else.
    pub signing_secret: String,
    /// Where spans are sent.
    pub trace_sink_url: String,
    /// Where X-Ray keeps segments (Transaction Search on or off).
    pub traces_destination: String,
    /// The AWS endpoint the tools call (moto, with X-Ray and Logs Insights answered as AWS does).
    pub aws_endpoint: String,
    /// The functions' log groups in that endpoint's CloudWatch Logs, API first.
    pub log_groups: Vec<String>,
    /// The region.
    pub region: String,
    /// The event queue's URL.
    pub queue_url: String,
    /// The dead-letter queue's URL.
    pub dlq_url: String,
    /// The notifier's on-failure queue, when the stack has the notifier.
    #[serde(default)]
    pub notifier_failures_url: Option<String>,
    /// The event table's name.
    pub table_name: String,
    /// Where the processes log.
    pub log_dir: PathBuf,
}

impl UpState {
    /// An AWS SDK configuration for the stack's AWS endpoint: its region, and the test
    /// credentials the local endpoint accepts.
    pub async fn sdk_config(&self) -> SdkConfig {
        sdk_config::local_endpoint(&self.aws_endpoint, &self.region).await
    }
}
