//! A shutdown drill (feature `testing`): start your service binary, keep requests in
//! flight, send it a real signal, watch its probes through the drain, and get a
//! report of what completed, what failed and how, and how long each phase took.
//! The seed's "Testing Shutdown" section (start, curl in a loop, kill, wait), done
//! so that a test can assert on it. [`Restarts`] restarts it under socket activation
//! the way systemd does and reports every request's outcome (see `docs/systemd.md`).
//!
//! The binary must read the addresses it binds from `APP_ADDR` and `PROBES_ADDR`
//! (the drill picks free ports) and serve `GET {path}` on the app address.
//!
//! ```no_run
//! use std::time::Duration;
//! use winddown::testing::Drill;
//!
//! // In an integration test, `env!("CARGO_BIN_EXE_myservice")` gives the path.
//! let report = Drill::new("target/debug/myservice")
//!     .requests(100)                       // in flight when the signal is sent
//!     .path(|ms| format!("/work?ms={ms}")) // each request takes `ms` to answer
//!     .durations(0, 2000)
//!     .late_requests(50)                   // sent during the drain
//!     .run()
//!     .unwrap();
//! assert_eq!(report.completed, 100, "{report}");
//! assert!(report.is_clean(), "{report}");
//! ```

use std::fmt;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::Signal;

#[cfg(unix)]
mod restart;
#[cfg(unix)]
pub use restart::{Handover, RestartReport, Restarts};

const HEALTH: &str = "GET /health HTTP/1.1\r\nHost: drill\r\nConnection: close\r\n\r\n";

/// A drill: configure, then [`run`](Drill::run).
#[must_use = "a drill does nothing until `run`"]
pub struct Drill {
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    requests: usize,
    late: usize,
    min_ms: u64,
    max_ms: u64,
    path: Box<dyn Fn(u64) -> String + Send + Sync>,
    signal: Signal,
    pace: Duration,
    limit: Duration,
}

/// Why a drill could not be run (the service's own failures are in the report).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DrillError {
    /// The program could not be started.
    #[error("cannot start {program}: {source}")]
    Start {
        /// The program.
        program: String,
        /// Why.
        source: std::io::Error,
    },
    /// The service never answered `/ready` with 200.
    #[error("the service never became ready within {0:?}; its stderr:\n{1}")]
    NeverReady(Duration, String),
    /// The service did not exit within the drill's time limit (it was killed).
    #[error("the service did not exit within {0:?} of the signal (killed); its stderr:\n{1}")]
    NoExit(Duration, String),
    /// The signal could not be sent to the service (it was killed).
    #[error("cannot send {signal} to the service: {source}")]
    Signal {
        /// The signal.
        signal: Signal,
        /// Why.
        source: std::io::Error,
    },
    /// No free port could be found.
    #[error("cannot pick a free port: {0}")]
    Port(std::io::Error),
    /// [`Restarts`] was given no socket names.
    #[error("no sockets to pass: name at least one with `sockets([\"app\", ..])`")]
    NoSockets,
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ending {
    /// Answered with this HTTP status.
    Status(u16),
    /// The connection was refused (nobody listening any more).
    Refused,
    /// The connection was reset.
    Reset,
    /// The connection closed without an answer.
    Eof,
    /// Another I/O error.
    Other,
}

/// What the drill saw.
#[derive(Debug, Clone, Default)]
pub struct DrillReport {
    /// Requests in flight at the signal that were answered 200.
    pub completed: usize,
    /// Requests in flight at the signal that ended otherwise, with how.
    pub failed: Vec<Ending>,
    /// Requests sent after the signal, by how they ended.
    pub late: Vec<Ending>,
    /// From the signal to `/ready` answering 503.
    pub ready_503_after: Option<Duration>,
    /// `/health` probes during the drain that did not answer 200 while the process ran.
    pub health_failures: usize,
    /// How the first failed `/health` probe ended, and when (from the signal).
    pub first_health_failure: Option<(Ending, Duration)>,
    /// `/health` probes during the drain.
    pub health_probes: usize,
    /// From the signal to the process's exit.
    pub exit_after: Duration,
    /// The exit code (128 + n for a death by signal n).
    pub exit_code: i32,
    /// The service's stderr (its logs and report).
    pub stderr: String,
}

impl DrillReport {
    /// Late requests that ended `ending`.
    pub fn late_count(&self, ending: Ending) -> usize {
        self.late.iter().filter(|e| **e == ending).count()
    }

    /// Every request in flight answered 200, no late request reset or dropped, no
    /// failed health probe, exit code 0.
    pub fn is_clean(&self) -> bool {
        self.failed.is_empty()
            && self.health_failures == 0
            && self.exit_code == 0
            && self.late.iter().all(|e| {
                matches!(
                    e,
                    Ending::Status(200) | Ending::Status(503) | Ending::Refused
                )
            })
    }
}

impl fmt::Display for DrillReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "drill: exit code {} after {:?}",
            self.exit_code, self.exit_after
        )?;
        writeln!(
            f,
            "  in flight at the signal: {} completed, {} failed {:?}",
            self.completed,
            self.failed.len(),
            self.failed
        )?;
        let late = |e| self.late_count(e);
        writeln!(
            f,
            "  late requests: {} ok, {} answered 503, {} refused, {} reset, {} dropped, {} other",
            late(Ending::Status(200)),
            late(Ending::Status(503)),
            late(Ending::Refused),
            late(Ending::Reset),
            late(Ending::Eof),
            self.late.len()
                - late(Ending::Status(200))
                - late(Ending::Status(503))
                - late(Ending::Refused)
                - late(Ending::Reset)
                - late(Ending::Eof),
        )?;
        writeln!(
            f,
            "  /ready 503 after {:?}; /health failed {} of {} probes (first: {:?})",
            self.ready_503_after,
            self.health_failures,
            self.health_probes,
            self.first_health_failure
        )
    }
}

impl Drill {
    /// A drill of `program` (e.g. `env!("CARGO_BIN_EXE_myservice")`): by default 10
    /// requests of 0–1000 ms on `/`, SIGTERM, 60 s to exit.
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Drill {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            requests: 10,
            late: 0,
            min_ms: 0,
            max_ms: 1000,
            path: Box::new(|_| "/".to_owned()),
            signal: Signal::Term,
            pace: Duration::from_millis(1),
            limit: Duration::from_secs(60),
        }
    }
    /// An argument for the program.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }
    /// An environment variable for the program.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }
    /// How many requests are in flight when the signal is sent.
    pub fn requests(mut self, n: usize) -> Self {
        self.requests = n;
        self
    }
    /// How many requests to send during the drain, after the signal.
    pub fn late_requests(mut self, n: usize) -> Self {
        self.late = n;
        self
    }
    /// Request durations, spread evenly from `min_ms` to `max_ms`.
    pub fn durations(mut self, min_ms: u64, max_ms: u64) -> Self {
        self.min_ms = min_ms;
        self.max_ms = max_ms.max(min_ms);
        self
    }
    /// The path of a request that takes `ms` milliseconds, e.g. `/work?ms=1500`.
    pub fn path(mut self, path: impl Fn(u64) -> String + Send + Sync + 'static) -> Self {
        self.path = Box::new(path);
        self
    }
    /// The signal to send (default SIGTERM).
    pub fn signal(mut self, signal: Signal) -> Self {
        self.signal = signal;
        self
    }
    /// The pause between two connects (default 1 ms), so the drill does not overflow
    /// the listen backlog by itself.
    pub fn pace(mut self, pace: Duration) -> Self {
        self.pace = pace;
        self
    }
    /// How long the service may take to become ready, and to exit after the signal
    /// (default 60 s each); past it, it is killed and the drill fails.
    pub fn time_limit(mut self, limit: Duration) -> Self {
        self.limit = limit;
        self
    }

    /// Runs the drill.
    pub fn run(self) -> Result<DrillReport, DrillError> {
        raise_fd_limit();
        let app = free_port()?;
        let probes = free_port()?;
        let mut child = Command::new(&self.program)
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("APP_ADDR", app.to_string())
            .env("PROBES_ADDR", probes.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| DrillError::Start {
                program: self.program.display().to_string(),
                source,
            })?;
        let stderr = collect(&mut child);
        let stderr_now = || stderr.lock().map(|s| s.clone()).unwrap_or_default();

        let until = Instant::now() + self.limit;
        while http_status(probes, "/ready") != Some(200) {
            if Instant::now() > until || child.try_wait().ok().flatten().is_some() {
                let _ = child.kill();
                return Err(DrillError::NeverReady(self.limit, stderr_now()));
            }
            thread::sleep(Duration::from_millis(10));
        }

        // Requests in flight: all sent (paced) before the signal.
        let sent = Arc::new(AtomicUsize::new(0));
        let path = Arc::new(self.path);
        let spread = |i: usize, n: usize| {
            if n <= 1 {
                self.min_ms
            } else {
                self.min_ms + (self.max_ms - self.min_ms) * i as u64 / (n as u64 - 1)
            }
        };
        let mut in_flight = Vec::with_capacity(self.requests);
        for i in 0..self.requests {
            let req = format!(
                "GET {} HTTP/1.1\r\nHost: drill\r\nConnection: close\r\n\r\n",
                path(spread(i, self.requests))
            );
            let sent = sent.clone();
            in_flight.push(spawn_small(move || request(app, &req, Some(&sent))));
            thread::sleep(self.pace);
        }
        while sent.load(Ordering::Acquire) < self.requests {
            if child.try_wait().ok().flatten().is_some() {
                break;
            }
            thread::sleep(Duration::from_millis(1));
        }

        let signalled = Instant::now();
        if let Err(error) = send_signal(&mut child, self.signal) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(error);
        }
        let exited = Arc::new(AtomicBool::new(false));

        // /ready and /health, watched until the process exits.
        let watcher = {
            let exited = exited.clone();
            thread::spawn(move || {
                let (mut ready_503, mut probes_n, mut failures) = (None, 0, 0);
                let mut first = None;
                while !exited.load(Ordering::Acquire) {
                    if ready_503.is_none() && http_status(probes, "/ready") == Some(503) {
                        ready_503 = Some(signalled.elapsed());
                    }
                    let health = request(probes, HEALTH, None);
                    if !exited.load(Ordering::Acquire) {
                        probes_n += 1;
                        let failed = match health {
                            Ending::Status(200) => false,
                            // Nobody listening: a failure only if the process still runs.
                            Ending::Refused | Ending::Reset | Ending::Eof => {
                                thread::sleep(Duration::from_millis(200));
                                !exited.load(Ordering::Acquire)
                            }
                            _ => true,
                        };
                        failures += usize::from(failed);
                        if failed && first.is_none() {
                            first = Some((health, signalled.elapsed()));
                        }
                    }
                    thread::sleep(Duration::from_millis(5));
                }
                (ready_503, probes_n, failures, first)
            })
        };
        // Late requests, paced over the drain (during the delay, then after intake
        // closed) from their own thread, so the exit is seen the moment it happens.
        let late = {
            let (path, count, min_ms) = (path.clone(), self.late, self.min_ms);
            let pace = self.pace.max(Duration::from_millis(8));
            thread::spawn(move || {
                let req = format!(
                    "GET {} HTTP/1.1\r\nHost: drill\r\nConnection: close\r\n\r\n",
                    path(min_ms)
                );
                let handles: Vec<_> = (0..count)
                    .map(|_| {
                        let req = req.clone();
                        let handle = spawn_small(move || request(app, &req, None));
                        thread::sleep(pace);
                        handle
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or(Ending::Other))
                    .collect::<Vec<_>>()
            })
        };

        let status = wait(&mut child, self.limit);
        let exit_after = signalled.elapsed();
        exited.store(true, Ordering::Release);
        let Some(status) = status else {
            return Err(DrillError::NoExit(self.limit, stderr_now()));
        };
        let mut report = DrillReport {
            exit_after,
            exit_code: exit_code(status),
            ..DrillReport::default()
        };
        for handle in in_flight {
            match handle.join().unwrap_or(Ending::Other) {
                Ending::Status(200) => report.completed += 1,
                other => report.failed.push(other),
            }
        }
        report.late = late.join().unwrap_or_default();
        let (ready_503, probes_n, failures, first) = watcher.join().unwrap_or_default();
        report.ready_503_after = ready_503;
        report.health_probes = probes_n;
        report.health_failures = failures;
        report.first_health_failure = first;
        thread::sleep(Duration::from_millis(50));
        report.stderr = stderr_now();
        Ok(report)
    }
}

fn spawn_small<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> thread::JoinHandle<T> {
    thread::Builder::new()
        .stack_size(128 * 1024)
        .spawn(f)
        .expect("spawn a drill thread")
}

/// One request; `sent` is bumped once it is on the wire.
fn request(addr: SocketAddr, req: &str, sent: Option<&AtomicUsize>) -> Ending {
    let mark = || {
        if let Some(s) = sent {
            s.fetch_add(1, Ordering::Release);
        }
    };
    let classify = |e: std::io::Error| match e.kind() {
        ErrorKind::ConnectionRefused => Ending::Refused,
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe => {
            Ending::Reset
        }
        ErrorKind::UnexpectedEof => Ending::Eof,
        _ => Ending::Other,
    };
    let mut conn = match TcpStream::connect_timeout(&addr, Duration::from_secs(10)) {
        Ok(c) => c,
        Err(e) => {
            mark();
            return classify(e);
        }
    };
    let _ = conn.set_read_timeout(Some(Duration::from_secs(120)));
    let written = conn.write_all(req.as_bytes());
    mark();
    if let Err(e) = written {
        return classify(e);
    }
    let mut out = Vec::new();
    match conn.read_to_end(&mut out) {
        Ok(_) if out.is_empty() => Ending::Eof,
        Ok(_) => status_of(&out).map_or(Ending::Other, Ending::Status),
        Err(e) => classify(e),
    }
}

fn status_of(response: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(response.get(..response.len().min(64))?).ok()?;
    text.split_whitespace().nth(1)?.parse().ok()
}

fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut conn = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    conn.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: drill\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .ok()?;
    let mut out = Vec::new();
    conn.read_to_end(&mut out).ok()?;
    status_of(&out)
}

fn free_port() -> Result<SocketAddr, DrillError> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(DrillError::Port)?;
    l.local_addr().map_err(DrillError::Port)
}

fn collect(child: &mut Child) -> Arc<Mutex<String>> {
    let sink = Arc::new(Mutex::new(String::new()));
    if let Some(mut err) = child.stderr.take() {
        let sink = sink.clone();
        thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut s) = sink.lock() {
                    s.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }
        });
    }
    sink
}

fn wait(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let until = Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        thread::sleep(Duration::from_millis(2));
    }
}

#[cfg(unix)]
fn exit_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

#[cfg(not(unix))]
fn exit_code(status: ExitStatus) -> i32 {
    status.code().unwrap_or(1)
}

/// Sends `signal` to the child. A child that already exited (its status is kept by
/// `Child`) is not an error: the report shows how it ended.
#[cfg(unix)]
fn send_signal(child: &mut Child, signal: Signal) -> Result<(), DrillError> {
    use nix::sys::signal::{Signal as NixSignal, kill};
    use nix::unistd::Pid;
    let failed = |source: std::io::Error| DrillError::Signal { signal, source };
    if child.try_wait().map_err(failed)?.is_some() {
        return Ok(());
    }
    let number = NixSignal::try_from(signal.number()).map_err(|e| failed(e.into()))?;
    let pid =
        i32::try_from(child.id()).map_err(|_| failed(std::io::Error::other("pid out of range")))?;
    kill(Pid::from_raw(pid), number).map_err(|e| failed(e.into()))
}

#[cfg(not(unix))]
fn send_signal(child: &mut Child, signal: Signal) -> Result<(), DrillError> {
    // No signals to send here: stop it the only way there is.
    let status = std::process::Command::new("taskkill")
        .args(["/PID", &child.id().to_string()])
        .status()
        .map_err(|source| DrillError::Signal { signal, source })?;
    if status.success() {
        Ok(())
    } else {
        Err(DrillError::Signal {
            signal,
            source: std::io::Error::other(format!("taskkill: {status}")),
        })
    }
}

/// Lifts the soft limit on open files to the hard one: a drill holds a socket per
/// request. Best effort: with the limit unchanged the drill still runs, smaller.
#[cfg(unix)]
fn raise_fd_limit() {
    if let Err(error) = rlimit::increase_nofile_limit(u64::MAX) {
        tracing::debug!(%error, "cannot raise the open-files limit");
    }
}

#[cfg(not(unix))]
fn raise_fd_limit() {}
