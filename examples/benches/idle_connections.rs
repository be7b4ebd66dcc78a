//! Idle keep-alive connections, winddown's tracked `svc.serve` against plain
//! `axum::serve(..).with_graceful_shutdown(..)` (same router, same client): the
//! memory each idle connection costs the server (resident set growth over N
//! connections, each having served one request), and the time from SIGTERM until
//! the last of the N idle connections is closed (winddown: intake close with no
//! drain delay; axum: its graceful shutdown). Rounds interleaved, the order
//! alternating; reported as medians with their spread and the ratio winddown/plain.
//! `cargo bench -p winddown-examples --bench idle_connections` (`IDLE_CONNS=N`,
//! default 4000).

#[path = "common.rs"]
mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Child;
use std::time::{Duration, Instant};

use common::*;

const ROUNDS: usize = 5;

/// The resident set of `pid`, in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc (Linux)");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kb * 1024
}

/// One keep-alive request on `c`, its whole answer read.
fn one_request(c: &mut TcpStream) {
    c.write_all(b"GET /hello HTTP/1.1\r\nHost: b\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 1024];
    let mut got = 0;
    // "hello" is the whole body: the answer ends with it.
    while !buf[..got].ends_with(b"hello") {
        let n = c.read(&mut buf[got..]).unwrap();
        assert!(n > 0, "closed before answering");
        got += n;
    }
}

struct Round {
    bytes_per_conn: f64,
    close_ms: f64,
}

fn round(exe: &str, n: usize) -> Round {
    let (mut child, app, _): (Child, SocketAddr, SocketAddr) = start(exe);
    let pid = child.id();
    // Warm: the runtime's threads and buffers exist before the baseline is taken.
    let mut warm = TcpStream::connect(app).unwrap();
    one_request(&mut warm);
    drop(warm);
    std::thread::sleep(Duration::from_millis(300));
    let before = rss(pid);
    let mut conns: Vec<TcpStream> = (0..n)
        .map(|_| {
            let mut c = TcpStream::connect(app).unwrap();
            one_request(&mut c);
            c
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let after = rss(pid);
    let t = Instant::now();
    sigterm(&child);
    // Each read blocks until its connection is closed: the loop ends at the last.
    let mut sink = [0u8; 64];
    for c in &mut conns {
        c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        loop {
            match c.read(&mut sink) {
                Ok(0) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    }
    let close_ms = t.elapsed().as_secs_f64() * 1e3;
    let _ = child.wait();
    Round {
        bytes_per_conn: after.saturating_sub(before) as f64 / n as f64,
        close_ms,
    }
}

fn main() {
    let n: usize = std::env::var("IDLE_CONNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4000);
    let (mut plain, mut tracked) = (Vec::new(), Vec::new());
    for r in 0..ROUNDS {
        for winddown in winddown_first(r) {
            let exe = if winddown {
                env!("CARGO_BIN_EXE_bench-winddown")
            } else {
                env!("CARGO_BIN_EXE_bench-handwritten")
            };
            let result = round(exe, n);
            if winddown {
                tracked.push(result);
            } else {
                plain.push(result);
            }
        }
    }
    let show = |what: &str, unit: &str, f: fn(&Round) -> f64| {
        let p: Vec<f64> = plain.iter().map(f).collect();
        let t: Vec<f64> = tracked.iter().map(f).collect();
        let mut ratios: Vec<f64> = t.iter().zip(&p).map(|(t, p)| t / p).collect();
        let spread = |v: &[f64]| {
            let lo = v.iter().cloned().fold(f64::MAX, f64::min);
            let hi = v.iter().cloned().fold(f64::MIN, f64::max);
            format!("{lo:.2}..{hi:.2}")
        };
        println!("{what}, {n} idle connections, {ROUNDS} interleaved rounds:");
        println!(
            "  axum::serve (plain)  median {:>10.2} {unit}  spread {}",
            median(&mut p.clone()),
            spread(&p)
        );
        println!(
            "  winddown svc.serve   median {:>10.2} {unit}  spread {}",
            median(&mut t.clone()),
            spread(&t)
        );
        println!(
            "  ratio winddown/plain median {:.3}  spread {}",
            median(&mut ratios),
            spread(&ratios)
        );
    };
    show("memory per idle connection", "bytes", |r| r.bytes_per_conn);
    show("SIGTERM to the last idle connection closed", "ms", |r| {
        r.close_ms
    });
}
