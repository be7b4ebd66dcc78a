//! Restarts under socket activation: the harness holds the listening sockets the
//! way systemd does, passes them to each process it starts, keeps requests coming,
//! and reports every request's outcome across the restarts.

use std::collections::HashMap;
use std::fmt;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::{DrillError, collect, exit_code, send_signal, status_of};
use crate::Signal;

/// When the successor starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Handover {
    /// Once the old process has exited, as `systemctl restart` does with a socket
    /// unit: connections wait in the kernel's queue meanwhile.
    AfterExit,
    /// Right after the signal: both processes accept from the same queue until the
    /// old one's intake closes.
    AtSignal,
}

/// Restarts of a service under socket activation: configure, then
/// [`run`](Restarts::run).
///
/// The harness binds one listening socket per name on `127.0.0.1` and starts the
/// program with them as descriptors 3, 4, … (`LISTEN_FDS`, `LISTEN_FDNAMES`, and
/// `LISTEN_PID` set to the program's own pid), as systemd does. Clients keep
/// sending `GET {path}`, each request on a new connection and on keep-alive
/// connections. Each restart sends the signal and starts the successor on the
/// same sockets (after the exit, by default). The service must take its sockets
/// with [`crate::listener`] (and serve `/ready` on the one named `probes`).
///
/// `LISTEN_PID` is the pid of the process after `exec`, which a parent cannot put
/// in the environment it prepares before `fork` (and setting it in the child
/// before `exec` is not async-signal-safe). So the program is started through
/// `/bin/sh -c 'LISTEN_PID=$$ exec "$0" "$@"'`: the shell's pid is the program's
/// once it execs. The descriptors are moved into place with `dup2` only, between
/// `fork` and `exec`.
///
/// ```no_run
/// use winddown::testing::Restarts;
///
/// let report = Restarts::new("target/debug/myservice")
///     .restarts(3)
///     .path("/work?ms=20")
///     .run()
///     .unwrap();
/// assert_eq!((report.refused, report.reset, report.failed), (0, 0, 0), "{report}");
/// ```
#[must_use = "restarts do nothing until `run`"]
pub struct Restarts {
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    names: Vec<String>,
    restarts: usize,
    clients: usize,
    keep_alive: usize,
    path: String,
    warm: Duration,
    handover: Handover,
    limit: Duration,
}

/// What the clients saw across the restarts.
#[derive(Debug, Clone, Default)]
pub struct RestartReport {
    /// Requests sent.
    pub requests: usize,
    /// Answered 200.
    pub ok: usize,
    /// Answered 503.
    pub unavailable: usize,
    /// Connection refused.
    pub refused: usize,
    /// Connection reset (or a broken pipe).
    pub reset: usize,
    /// Anything else: closed without an answer, another status, a timeout.
    pub failed: usize,
    /// Of those, by kind (`eof`, `status 404`, `timeout`, ...).
    pub failures: Vec<(String, usize)>,
    /// The longest a request waited for its answer (connect included).
    pub longest_wait: Duration,
    /// The longest wait of a request sent on a new connection.
    pub longest_wait_new_connection: Duration,
    /// Each process's exit code, in order (restarts + 1 processes).
    pub exit_codes: Vec<i32>,
    /// For each restart: from the signal to the old process's exit.
    pub exit_after: Vec<Duration>,
    /// For each restart: from the old process's exit (or the signal, with
    /// [`Handover::AtSignal`]) to the successor answering `/ready` with 200.
    pub ready_after: Vec<Duration>,
    /// Each process's stderr (its logs and report).
    pub stderr: Vec<String>,
}

impl RestartReport {
    /// No request refused, reset or failed, and every exit code 0.
    pub fn is_clean(&self) -> bool {
        self.refused == 0
            && self.reset == 0
            && self.failed == 0
            && self.exit_codes.iter().all(|c| *c == 0)
    }
}

impl fmt::Display for RestartReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "restarts: {} processes, exit codes {:?}",
            self.exit_codes.len(),
            self.exit_codes
        )?;
        writeln!(
            f,
            "  {} requests: {} ok, {} answered 503, {} refused, {} reset, {} failed {:?}",
            self.requests,
            self.ok,
            self.unavailable,
            self.refused,
            self.reset,
            self.failed,
            self.failures
        )?;
        writeln!(
            f,
            "  longest wait {:?} (new connections {:?}); exit after {:?}; successor ready after {:?}",
            self.longest_wait, self.longest_wait_new_connection, self.exit_after, self.ready_after
        )
    }
}

impl Restarts {
    /// Restarts of `program`: by default 3, sockets `app` and `probes`, 4 clients on
    /// new connections and 2 on keep-alive connections sending `GET /`, 1 s of load
    /// before each signal, SIGTERM, the successor started after the exit, 60 s for
    /// each process to become ready and to exit.
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Restarts {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            names: vec!["app".into(), "probes".into()],
            restarts: 3,
            clients: 4,
            keep_alive: 2,
            path: "/".into(),
            warm: Duration::from_secs(1),
            handover: Handover::AfterExit,
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
    /// The sockets' names, in descriptor order (default `app`, `probes`). The
    /// clients use the first; readiness is read from `/ready` on `probes`.
    pub fn sockets<I, N>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = N>,
        N: Into<String>,
    {
        self.names = names.into_iter().map(Into::into).collect();
        self
    }
    /// How many restarts (each a signal and a successor).
    pub fn restarts(mut self, n: usize) -> Self {
        self.restarts = n;
        self
    }
    /// Clients sending each request on a new connection.
    pub fn clients(mut self, n: usize) -> Self {
        self.clients = n;
        self
    }
    /// Clients keeping their connection open between requests (until the service
    /// answers `Connection: close`).
    pub fn keep_alive_clients(mut self, n: usize) -> Self {
        self.keep_alive = n;
        self
    }
    /// The path requested (default `/`).
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }
    /// How long the load runs on each process before its signal (default 1 s).
    pub fn warm_up(mut self, warm: Duration) -> Self {
        self.warm = warm;
        self
    }
    /// When the successor starts (default [`Handover::AfterExit`]).
    pub fn handover(mut self, handover: Handover) -> Self {
        self.handover = handover;
        self
    }
    /// How long a process may take to become ready, and to exit after the signal
    /// (default 60 s each); past it, it is killed and the run fails.
    pub fn time_limit(mut self, limit: Duration) -> Self {
        self.limit = limit;
        self
    }

    /// Runs the restarts.
    pub fn run(self) -> Result<RestartReport, DrillError> {
        if self.names.is_empty() {
            return Err(DrillError::NoSockets);
        }
        super::raise_fd_limit();
        // The sockets, held for the whole run as systemd holds them.
        let mut held = Vec::new();
        let mut addrs = HashMap::new();
        for name in &self.names {
            let l = TcpListener::bind("127.0.0.1:0").map_err(DrillError::Port)?;
            addrs.insert(name.clone(), l.local_addr().map_err(DrillError::Port)?);
            held.push(high_dup(&l).map_err(DrillError::Port)?);
            drop(l);
        }
        let app = addrs[&self.names[0]];
        let probes = addrs.get("probes").copied();
        let fds: Arc<Vec<RawFd>> = Arc::new(held.iter().map(|fd| fd.as_raw_fd()).collect());

        let mut report = RestartReport::default();
        let mut stderrs = Vec::new();
        let mut current = self.spawn(&fds)?;
        stderrs.push(collect(&mut current));
        let ready = |child: &mut Child, stderr: &Arc<Mutex<String>>| {
            wait_ready(child, app, probes, self.limit).map_err(|()| {
                let _ = child.kill();
                let _ = child.wait();
                DrillError::NeverReady(self.limit, snapshot(stderr))
            })
        };
        ready(&mut current, &stderrs[0])?;

        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let mut clients = Vec::new();
        for i in 0..self.clients + self.keep_alive {
            let (stop, seen, path) = (stop.clone(), seen.clone(), self.path.clone());
            let keep = i >= self.clients;
            clients.push(super::spawn_small(move || {
                client(app, &path, keep, &stop, &seen)
            }));
        }

        for _ in 0..self.restarts {
            thread::sleep(self.warm);
            let signalled = Instant::now();
            send_signal(&mut current, Signal::Term)?;
            let mut next = None;
            if self.handover == Handover::AtSignal {
                next = Some(self.spawn(&fds)?);
            }
            let status = wait_exit(&mut current, self.limit);
            report.exit_after.push(signalled.elapsed());
            let Some(code) = status else {
                stop.store(true, Ordering::Release);
                return Err(DrillError::NoExit(
                    self.limit,
                    snapshot(stderrs.last().expect("a process")),
                ));
            };
            report.exit_codes.push(code);
            let since = match self.handover {
                Handover::AfterExit => Instant::now(),
                Handover::AtSignal => signalled,
            };
            current = match next {
                Some(child) => child,
                None => self.spawn(&fds)?,
            };
            stderrs.push(collect(&mut current));
            let stderr = stderrs.last().expect("a process").clone();
            if let Err(e) = ready(&mut current, &stderr) {
                stop.store(true, Ordering::Release);
                return Err(e);
            }
            report.ready_after.push(since.elapsed());
        }
        thread::sleep(self.warm);
        stop.store(true, Ordering::Release);
        for c in clients {
            let _ = c.join();
        }
        send_signal(&mut current, Signal::Term)?;
        match wait_exit(&mut current, self.limit) {
            Some(code) => report.exit_codes.push(code),
            None => {
                return Err(DrillError::NoExit(
                    self.limit,
                    snapshot(stderrs.last().expect("a process")),
                ));
            }
        }
        thread::sleep(Duration::from_millis(50));
        report.stderr = stderrs.iter().map(snapshot).collect();
        let seen = std::mem::take(&mut *seen.lock().unwrap_or_else(|p| p.into_inner()));
        seen.into_report(&mut report);
        Ok(report)
    }

    fn spawn(&self, fds: &Arc<Vec<RawFd>>) -> Result<Child, DrillError> {
        let names = self.names.join(":");
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c")
            .arg(r#"LISTEN_PID=$$ exec "$0" "$@""#)
            .arg(&self.program)
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("LISTEN_FDS", self.names.len().to_string())
            .env("LISTEN_FDNAMES", names)
            .env_remove("LISTEN_PID")
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for name in &self.names {
            cmd.env_remove(format!("{}_ADDR", name.to_ascii_uppercase()));
        }
        let fds = fds.clone();
        // SAFETY: between fork and exec only dup2 runs (async-signal-safe); the
        // sources are at 64 and above, so no target overwrites a source.
        unsafe {
            cmd.pre_exec(move || {
                for (i, fd) in fds.iter().enumerate() {
                    if libc::dup2(*fd, 3 + i as RawFd) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        cmd.spawn().map_err(|source| DrillError::Start {
            program: self.program.display().to_string(),
            source,
        })
    }
}

/// A close-on-exec duplicate of `l` at descriptor 64 or above, out of the way of
/// the targets 3, 4, … it is moved to in the child.
fn high_dup(l: &TcpListener) -> std::io::Result<OwnedFd> {
    // SAFETY: fcntl on an open descriptor; the new one is owned by the result.
    let fd = unsafe { libc::fcntl(l.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 64) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: just created, owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn snapshot(s: &Arc<Mutex<String>>) -> String {
    s.lock().map(|s| s.clone()).unwrap_or_default()
}

/// Until `/ready` on `probes` answers 200 (or, without probes, `GET /` on the app
/// answers at all), while the process runs.
fn wait_ready(
    child: &mut Child,
    app: SocketAddr,
    probes: Option<SocketAddr>,
    limit: Duration,
) -> Result<(), ()> {
    let until = Instant::now() + limit;
    loop {
        let status = match probes {
            Some(p) => get_status(p, "/ready"),
            None => get_status(app, "/"),
        };
        if status == Some(200) || (probes.is_none() && status.is_some()) {
            return Ok(());
        }
        if Instant::now() > until || child.try_wait().ok().flatten().is_some() {
            return Err(());
        }
        thread::sleep(Duration::from_millis(10));
    }
}

fn get_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut conn = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    conn.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: restart\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .ok()?;
    let mut out = Vec::new();
    conn.read_to_end(&mut out).ok()?;
    status_of(&out)
}

fn wait_exit(child: &mut Child, limit: Duration) -> Option<i32> {
    let until = Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(exit_code(status));
        }
        if Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        thread::sleep(Duration::from_millis(2));
    }
}

/// How one request ended.
#[derive(Debug)]
enum Outcome {
    Status(u16),
    Refused,
    Reset,
    Failed(&'static str),
}

#[derive(Default)]
struct Seen {
    outcomes: Vec<(Outcome, Duration, bool)>,
}

impl Seen {
    fn into_report(self, report: &mut RestartReport) {
        let mut failures: HashMap<String, usize> = HashMap::new();
        for (outcome, waited, fresh) in &self.outcomes {
            report.requests += 1;
            report.longest_wait = report.longest_wait.max(*waited);
            if *fresh {
                report.longest_wait_new_connection =
                    report.longest_wait_new_connection.max(*waited);
            }
            match outcome {
                Outcome::Status(200) => report.ok += 1,
                Outcome::Status(503) => report.unavailable += 1,
                Outcome::Refused => report.refused += 1,
                Outcome::Reset => report.reset += 1,
                Outcome::Status(other) => {
                    report.failed += 1;
                    *failures.entry(format!("status {other}")).or_default() += 1;
                }
                Outcome::Failed(why) => {
                    report.failed += 1;
                    *failures.entry((*why).to_owned()).or_default() += 1;
                }
            }
        }
        report.failures = failures.into_iter().collect();
        report.failures.sort();
    }
}

fn classify(e: &std::io::Error) -> Outcome {
    match e.kind() {
        ErrorKind::ConnectionRefused => Outcome::Refused,
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe => {
            Outcome::Reset
        }
        ErrorKind::UnexpectedEof => Outcome::Failed("eof"),
        ErrorKind::WouldBlock | ErrorKind::TimedOut => Outcome::Failed("timeout"),
        _ => Outcome::Failed("io error"),
    }
}

/// One client: requests until `stop`, each on a new connection, or on one kept
/// alive until the service answers `Connection: close`.
fn client(app: SocketAddr, path: &str, keep: bool, stop: &AtomicBool, seen: &Mutex<Seen>) {
    let close = if keep { "" } else { "Connection: close\r\n" };
    let req = format!("GET {path} HTTP/1.1\r\nHost: restart\r\n{close}\r\n");
    let mut conn: Option<BufReader<TcpStream>> = None;
    while !stop.load(Ordering::Acquire) {
        let started = Instant::now();
        let fresh = conn.is_none();
        let (outcome, open) = exchange(app, &req, conn.take());
        let waited = started.elapsed();
        if keep {
            conn = open;
        }
        seen.lock()
            .unwrap_or_else(|p| p.into_inner())
            .outcomes
            .push((outcome, waited, fresh));
    }
}

/// One request and its response; the connection back when it may be reused.
fn exchange(
    app: SocketAddr,
    req: &str,
    reuse: Option<BufReader<TcpStream>>,
) -> (Outcome, Option<BufReader<TcpStream>>) {
    let mut conn = match reuse {
        Some(c) => c,
        None => match TcpStream::connect_timeout(&app, Duration::from_secs(30)) {
            Ok(c) => {
                let _ = c.set_read_timeout(Some(Duration::from_secs(60)));
                BufReader::new(c)
            }
            Err(e) => return (classify(&e), None),
        },
    };
    if let Err(e) = conn.get_mut().write_all(req.as_bytes()) {
        return (classify(&e), None);
    }
    match read_response(&mut conn) {
        Ok((status, keep)) => (Outcome::Status(status), keep.then_some(conn)),
        Err(e) => (classify(&e), None),
    }
}

/// Reads one HTTP/1.1 response with a `Content-Length` body (or one ending at
/// close): its status, and whether the connection stays open.
fn read_response(conn: &mut BufReader<TcpStream>) -> std::io::Result<(u16, bool)> {
    let eof = || std::io::Error::from(ErrorKind::UnexpectedEof);
    let mut line = String::new();
    if conn.read_line(&mut line)? == 0 {
        return Err(eof());
    }
    let status = status_of(line.as_bytes()).ok_or_else(eof)?;
    let (mut length, mut keep) = (None, true);
    loop {
        line.clear();
        if conn.read_line(&mut line)? == 0 {
            return Err(eof());
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let Some((name, value)) = header.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = value.parse::<u64>().ok();
        } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close") {
            keep = false;
        }
    }
    match length {
        Some(n) => {
            let copied = std::io::copy(&mut conn.by_ref().take(n), &mut std::io::sink())?;
            if copied < n {
                return Err(eof());
            }
        }
        None => {
            std::io::copy(conn, &mut std::io::sink())?;
            keep = false;
        }
    }
    Ok((status, keep))
}
