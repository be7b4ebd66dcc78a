//! Zero lost requests through rolling restarts, with real parts nobody here wrote:
//! three replicas behind a real HAProxy (`retries 0`, no redispatch: the proxy hides
//! nothing), loaded by `wrk`, restarted one at a time (SIGTERM, wait for the exit,
//! start again, wait until HAProxy sees it up), in both topologies:
//!
//! - `http`: HAProxy in HTTP mode, health-checking `/ready`;
//! - `tcp`: HAProxy in TCP mode, so an established connection stays with its
//!   replica to the end, as with kube-proxy (new connections follow `/ready`).
//!
//! winddown must lose nothing; plain `axum::serve(..).with_graceful_shutdown(..)`
//! runs through the same harness for comparison (printed, not asserted).
//! Needs `haproxy` and `wrk` (`.ci/deps` installs them).

mod common;

use std::fmt::Write as _;
use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::*;

const REPLICAS: usize = 3;
/// Longer than HAProxy needs to see `/ready` fail (checks every 100 ms, down after
/// two), with room for a loaded machine.
const DRAIN_MS: &str = "1500";

fn free_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

struct Replica {
    app: SocketAddr,
    probes: SocketAddr,
    proc: Option<Proc>,
}

impl Replica {
    fn start(&mut self, build: &str) {
        let mut p = Proc::start_bin(
            env!("CARGO_BIN_EXE_winddown-rolling"),
            build,
            &[
                ("APP_ADDR", &self.app.to_string()),
                ("PROBES_ADDR", &self.probes.to_string()),
                ("DRAIN_MS", DRAIN_MS),
            ],
        );
        p.wait_for("ready");
        self.proc = Some(p);
    }

    /// SIGTERM, then the exit code.
    fn stop(&mut self) -> (i32, String) {
        let mut p = self.proc.take().expect("running");
        p.signal(SIGTERM);
        (p.exit_code(), p.stderr())
    }
}

struct Haproxy {
    child: Child,
    front: SocketAddr,
    stats: SocketAddr,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Haproxy {
    fn start(mode: &str, replicas: &[Replica]) -> Haproxy {
        let (front, stats) = (free_addr(), free_addr());
        let mut servers = String::new();
        for (i, r) in replicas.iter().enumerate() {
            let _ = writeln!(
                servers,
                "  server r{i} {} check port {}",
                r.app,
                r.probes.port()
            );
        }
        let config = format!(
            "global\n  maxconn 4096\n\
             defaults\n  timeout connect 2s\n  timeout client 30s\n  timeout server 30s\n  retries 0\n\
             frontend front\n  mode {mode}\n  bind {front}\n  default_backend app\n\
             backend app\n  mode {mode}\n  balance roundrobin\n  option httpchk GET /ready\n  http-check expect status 200\n\
             \x20 default-server inter 100ms fastinter 100ms downinter 100ms fall 2 rise 2\n{servers}\
             frontend stats\n  mode http\n  bind {stats}\n  stats enable\n  stats uri /stats\n"
        );
        let dir =
            std::env::temp_dir().join(format!("winddown-haproxy-{}-{mode}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("haproxy.cfg");
        std::fs::write(&path, config).unwrap();
        let child = Command::new(tool("haproxy"))
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start haproxy");
        Haproxy {
            child,
            front,
            stats,
            _dir: TempDir(dir),
        }
    }

    /// The servers HAProxy sees up.
    fn up(&self) -> usize {
        let Ok(text) = raw(
            self.stats,
            b"GET /stats;csv HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        ) else {
            return 0;
        };
        text.lines()
            .filter(|l| l.starts_with("app,r"))
            .filter(|l| l.split(',').nth(17).is_some_and(|s| s == "UP"))
            .count()
    }

    fn wait_up(&self, n: usize) {
        let until = Instant::now() + Duration::from_secs(30);
        while self.up() != n {
            assert!(Instant::now() < until, "HAProxy never saw {n} replicas up");
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What wrk saw.
#[derive(Debug, Default)]
struct Load {
    requests: u64,
    /// Socket errors (connect, read, write, timeout) plus non-2xx/3xx answers.
    failed: u64,
    text: String,
}

fn number_after(text: &str, label: &str) -> u64 {
    text.split(label)
        .nth(1)
        .and_then(|rest| {
            rest.trim_start()
                .split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

impl Load {
    fn parse(text: String) -> Load {
        let requests = text
            .lines()
            .find(|l| l.contains(" requests in "))
            .and_then(|l| l.split_whitespace().next()?.parse().ok())
            .unwrap_or(0);
        let failed = ["connect ", "read ", "write ", "timeout "]
            .iter()
            .map(|label| {
                text.lines()
                    .find(|l| l.contains("Socket errors:"))
                    .map_or(0, |l| number_after(l, label))
            })
            .sum::<u64>()
            + number_after(&text, "Non-2xx or 3xx responses:");
        Load {
            requests,
            failed,
            text,
        }
    }
}

/// One harness at a time: each loads both cores by itself.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `rounds` rolling restarts of `build` behind HAProxy in `mode` under wrk.
fn rolling(build: &str, mode: &str, rounds: usize) -> (Load, Vec<(i32, String)>) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut replicas: Vec<Replica> = (0..REPLICAS)
        .map(|_| Replica {
            app: free_addr(),
            probes: free_addr(),
            proc: None,
        })
        .collect();
    for r in &mut replicas {
        r.start(build);
    }
    let haproxy = Haproxy::start(mode, &replicas);
    haproxy.wait_up(REPLICAS);
    // wrk stops and reports on SIGINT; its duration is only an upper bound.
    let mut wrk = Command::new(tool("wrk"))
        .args(["-t2", "-c32", "-d300s", "--timeout", "10s"])
        .arg(format!("http://{}/work?ms=2", haproxy.front))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start wrk");
    thread::sleep(Duration::from_millis(500));
    let mut exits = Vec::new();
    for _ in 0..rounds {
        for replica in &mut replicas {
            exits.push(replica.stop());
            replica.start(build);
            haproxy.wait_up(REPLICAS);
            // Let it take its share of connections before the next one goes.
            thread::sleep(Duration::from_millis(300));
        }
    }
    interrupt(&wrk);
    let mut text = String::new();
    if let Some(mut out) = wrk.stdout.take() {
        let _ = out.read_to_string(&mut text);
    }
    let _ = wrk.wait();
    for r in &mut replicas {
        exits.push(r.stop());
    }
    (Load::parse(text), exits)
}

/// wrk prints its totals when interrupted.
fn interrupt(child: &Child) {
    // SAFETY: kill(2) with a child's pid and a valid signal touches no memory.
    let _ = unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
}

fn report(build: &str, mode: &str, load: &Load) {
    eprintln!(
        "rolling {build:>8} {mode:>4}: {} failed of {} requests",
        load.failed, load.requests
    );
}

fn assert_zero_loss(mode: &str) {
    let (load, exits) = rolling("winddown", mode, 2);
    report("winddown", mode, &load);
    assert!(load.requests > 1000, "wrk did not run: {}", load.text);
    assert_eq!(load.failed, 0, "requests lost:\n{}", load.text);
    for (code, log) in exits {
        assert_eq!(code, 0, "a replica exited {code}:\n{log}");
    }
}

#[test]
fn http_mode_behind_haproxy_loses_nothing_through_rolling_restarts() {
    assert_zero_loss("http");
}

#[test]
fn tcp_mode_where_connections_stick_loses_nothing_through_rolling_restarts() {
    assert_zero_loss("tcp");
}

/// The comparison: the same harness against plain `axum::serve`. Expected to lose
/// requests; printed, not asserted (beyond wrk having run).
#[test]
fn plain_axum_serve_through_the_same_harness_for_comparison() {
    for mode in ["http", "tcp"] {
        let (load, _) = rolling("axum", mode, 1);
        report("axum", mode, &load);
        assert!(load.requests > 1000, "wrk did not run: {}", load.text);
    }
}
