//! Test harness: start the fixture as a real process, read what it prints, send it
//! real signals, and talk HTTP to its probes over real sockets.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Generous bound for anything that should take well under a second: tests must
/// not flake on a loaded 2-core machine.
pub const PATIENCE: Duration = Duration::from_secs(30);

pub const SIGINT: i32 = libc::SIGINT;
pub const SIGTERM: i32 = libc::SIGTERM;

pub struct Proc {
    child: Child,
    stdout: Receiver<String>,
    pub events: Vec<String>,
    stderr: Arc<Mutex<String>>,
    scenario: String,
}

impl Proc {
    /// Starts the fixture with `scenario`.
    pub fn start(scenario: &str, env: &[(&str, &str)]) -> Proc {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_winddown-fixture"));
        cmd.arg(scenario);
        Proc::spawn(cmd, scenario, env)
    }

    /// Starts the fixture binary `exe` (a `CARGO_BIN_EXE_*` path) with `scenario`.
    #[allow(dead_code)]
    pub fn start_bin(exe: &str, scenario: &str, env: &[(&str, &str)]) -> Proc {
        let mut cmd = Command::new(exe);
        cmd.arg(scenario);
        Proc::spawn(cmd, scenario, env)
    }

    /// Starts the example `name` (built by `cargo test` into `target/<profile>/examples`).
    pub fn example(name: &str, env: &[(&str, &str)]) -> Proc {
        let deps = std::env::current_exe().expect("test binary path");
        let dir = deps
            .parent()
            .and_then(|d| d.parent())
            .expect("target/<profile>");
        let exe = dir
            .join("examples")
            .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
        assert!(exe.exists(), "example not built: {}", exe.display());
        Proc::spawn(Command::new(exe), name, env)
    }

    /// The path of the example `name` (built by `cargo test` into
    /// `target/<profile>/examples`).
    pub fn example_path(name: &str) -> std::path::PathBuf {
        let deps = std::env::current_exe().expect("test binary path");
        let dir = deps
            .parent()
            .and_then(|d| d.parent())
            .expect("target/<profile>");
        let exe = dir
            .join("examples")
            .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
        assert!(exe.exists(), "example not built: {}", exe.display());
        exe
    }

    /// Starts `cmd` (another program that runs the service, say), named `name`.
    pub fn command(cmd: Command, name: &str, env: &[(&str, &str)]) -> Proc {
        Proc::spawn(cmd, name, env)
    }

    fn spawn(mut cmd: Command, scenario: &str, env: &[(&str, &str)]) -> Proc {
        cmd.env_remove("RUST_LOG")
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start the fixture");
        let (tx, stdout) = channel();
        let out = child.stdout.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let err = child.stderr.take().unwrap();
        let sink = stderr.clone();
        thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        Proc {
            child,
            stdout,
            events: Vec::new(),
            stderr,
            scenario: scenario.to_owned(),
        }
    }

    /// Waits for an event line starting with `prefix`; returns the rest of it.
    pub fn wait_for(&mut self, prefix: &str) -> String {
        if let Some(e) = self.events.iter().find(|e| e.starts_with(prefix)) {
            return e[prefix.len()..].to_owned();
        }
        let until = Instant::now() + PATIENCE;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) => {
                    let event = line.strip_prefix("event ").unwrap_or(&line);
                    self.events.push(event.to_owned());
                    if let Some(rest) = event.strip_prefix(prefix) {
                        return rest.to_owned();
                    }
                }
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {
                    panic!(
                        "[{}] no event `{prefix}`; events: {:?}\nstderr:\n{}",
                        self.scenario,
                        self.events,
                        self.stderr()
                    )
                }
            }
        }
    }

    /// The probes address the fixture printed in its `ready`/`setup started` event.
    pub fn probes(&mut self, prefix: &str) -> SocketAddr {
        let rest = self.wait_for(prefix);
        let addr = rest.split("probes=").nth(1).expect("event carries probes=");
        addr.trim().parse().expect("a socket address")
    }

    /// Waits for the fixture's `ready` event, then for `/ready` to answer 200 (the
    /// event is printed from inside setup, a moment before readiness turns true).
    pub fn wait_ready(&mut self) -> SocketAddr {
        let probes = self.probes("ready");
        let rsp = wait_ready_status(probes, 200);
        assert_eq!(rsp.status, 200, "[{}] never ready: {rsp:?}", self.scenario);
        probes
    }

    pub fn signal(&self, sig: i32) {
        let rc = unsafe { libc::kill(self.child.id() as i32, sig) };
        assert_eq!(rc, 0, "kill failed");
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits for the exit (at most `PATIENCE`), collects the remaining events, and
    /// returns the exit code.
    pub fn exit_code(&mut self) -> i32 {
        let until = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > until {
                let _ = self.child.kill();
                panic!(
                    "[{}] did not exit within {PATIENCE:?}; events: {:?}\nstderr:\n{}",
                    self.scenario,
                    self.events,
                    self.stderr()
                );
            }
            thread::sleep(Duration::from_millis(20));
        };
        // The reader threads see EOF once the process is gone.
        while let Ok(line) = self.stdout.recv_timeout(Duration::from_secs(5)) {
            let event = line.strip_prefix("event ").unwrap_or(&line);
            self.events.push(event.to_owned());
        }
        thread::sleep(Duration::from_millis(50));
        status.code().unwrap_or_else(|| {
            use std::os::unix::process::ExitStatusExt;
            128 + status.signal().unwrap_or(0)
        })
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Position of the first event starting with `prefix`, failing loudly if absent.
    pub fn position(&self, prefix: &str) -> usize {
        self.events
            .iter()
            .position(|e| e.starts_with(prefix))
            .unwrap_or_else(|| panic!("no event `{prefix}` in {:?}", self.events))
    }

    /// Whether an event starting with `prefix` has been printed by now.
    pub fn has_event(&mut self, prefix: &str) -> bool {
        while let Ok(line) = self.stdout.try_recv() {
            let event = line.strip_prefix("event ").unwrap_or(&line);
            self.events.push(event.to_owned());
        }
        self.events.iter().any(|e| e.starts_with(prefix))
    }

    /// Asserts stderr contains `needle`, showing all of it otherwise.
    pub fn assert_log(&self, needle: &str) {
        let err = self.stderr();
        assert!(
            err.contains(needle),
            "[{}] stderr lacks `{needle}`:\n{err}",
            self.scenario
        );
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct Rsp {
    pub status: u16,
    pub head: String,
    pub body: String,
}

/// Sends raw bytes and reads until the server closes (the request should carry
/// `Connection: close`).
pub fn raw(addr: SocketAddr, request: &[u8]) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    s.write_all(request)?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

pub fn request(addr: SocketAddr, method: &str, path: &str) -> Rsp {
    let req = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    let text = raw(addr, req.as_bytes()).expect("probe request");
    parse(&text)
}

pub fn get(addr: SocketAddr, path: &str) -> Rsp {
    request(addr, "GET", path)
}

pub fn parse(text: &str) -> Rsp {
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {text:?}"));
    Rsp {
        status,
        head: head.to_owned(),
        body: body.trim().to_owned(),
    }
}

/// Polls `/ready` until it answers `status`, within `PATIENCE`.
pub fn wait_ready_status(addr: SocketAddr, status: u16) -> Rsp {
    let until = Instant::now() + PATIENCE;
    loop {
        let rsp = get(addr, "/ready");
        if rsp.status == status || Instant::now() > until {
            return rsp;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// The path of a real client the tests drive (`curl`, `h2load`, `wrk`, `haproxy`),
/// with the fix in the message when it is missing.
pub fn tool(name: &str) -> String {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "`{name}` is not installed: run `bash .ci/deps` (apt-get install haproxy wrk nghttp2-client curl)"
    );
    name.to_owned()
}
