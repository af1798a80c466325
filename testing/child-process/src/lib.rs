#![doc = include_str!("../README.md")]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Why a process could not be started or did not become ready.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The program could not be started.
    #[error("cannot start {name} ({program}): {source}")]
    Spawn {
        /// The name it was to run under.
        name: String,
        /// The program.
        program: String,
        /// Why it did not start.
        source: std::io::Error,
    },
    /// The log file could not be created.
    #[error("cannot create the log file {path}: {source}")]
    Log {
        /// The log file.
        path: PathBuf,
        /// Why it could not be created.
        source: std::io::Error,
    },
    /// The process exited before it was ready.
    #[error("{name} exited with {status} before it was ready; the end of its log ({log}):\n{tail}")]
    Exited {
        /// The process's name.
        name: String,
        /// How it exited.
        status: std::process::ExitStatus,
        /// Its log file.
        log: PathBuf,
        /// The end of its log.
        tail: String,
    },
    /// The process did not listen in time.
    #[error("{name} did not listen on {address} within {deadline:?}; the end of its log ({log}):\n{tail}")]
    NotReady {
        /// The process's name.
        name: String,
        /// Where it should have listened.
        address: SocketAddr,
        /// How long it was given.
        deadline: Duration,
        /// Its log file.
        log: PathBuf,
        /// The end of its log.
        tail: String,
    },
}

/// A running child process, killed and reaped when dropped.
#[derive(Debug)]
pub struct ManagedProcess {
    name: String,
    child: Child,
    log: PathBuf,
}

impl ManagedProcess {
    /// Starts `command` with stdout and stderr appended to `log`.
    pub fn spawn(name: &str, mut command: Command, log: &Path) -> Result<Self, ProcessError> {
        let log_error = |source| ProcessError::Log {
            path: log.to_path_buf(),
            source,
        };
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir).map_err(log_error)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(log_error)?;
        let stderr = file.try_clone().map_err(log_error)?;
        let child = command
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(stderr)
            .spawn()
            .map_err(|source| ProcessError::Spawn {
                name: name.to_owned(),
                program: command.get_program().to_string_lossy().into_owned(),
                source,
            })?;
        Ok(Self {
            name: name.to_owned(),
            child,
            log: log.to_path_buf(),
        })
    }

    /// Polls until the process accepts connections on `port`, it exits, or `deadline` passes.
    pub fn wait_until_listening(&mut self, port: u16, deadline: Duration) -> Result<(), ProcessError> {
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let started = Instant::now();
        loop {
            if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            self.check_running()?;
            if started.elapsed() > deadline {
                return Err(ProcessError::NotReady {
                    name: self.name.clone(),
                    address,
                    deadline,
                    log: self.log.clone(),
                    tail: self.log_tail(20),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// An error with the log's tail if the process has exited.
    pub fn check_running(&mut self) -> Result<(), ProcessError> {
        match self.child.try_wait() {
            Ok(Some(status)) => Err(ProcessError::Exited {
                name: self.name.clone(),
                status,
                log: self.log.clone(),
                tail: self.log_tail(20),
            }),
            _ => Ok(()),
        }
    }

    /// The name it was started under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Where its output goes.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The last `lines` lines of the log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Kills the process and waits for it, so no zombie or orphan is left.
    pub fn stop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Drop for ManagedProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port that was free a moment ago; the OS does not hand it out again straight away.
pub fn free_port() -> std::io::Result<u16> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
}

/// Whether a process with this id is still alive (it exists and is not a zombie).
pub fn is_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}
