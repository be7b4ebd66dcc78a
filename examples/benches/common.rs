//! What the process benchmarks share: free ports, starting a program and waiting for
//! its `ready` line, a keep-alive HTTP client, and medians.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Starts `exe` on free ports and waits for its `ready` line.
pub fn start(exe: &str) -> (Child, SocketAddr, SocketAddr) {
    start_on(exe, None)
}

/// [`start`], the program held to the CPUs `cpus` names (`taskset -c`) if given.
pub fn start_on(exe: &str, cpus: Option<&str>) -> (Child, SocketAddr, SocketAddr) {
    let (app, probes) = (free_addr(), free_addr());
    let mut command = match cpus {
        // taskset execs the program: the child's pid is the program's.
        Some(cpus) => {
            let mut c = Command::new("taskset");
            c.args(["-c", cpus, exe]);
            c
        }
        None => Command::new(exe),
    };
    let mut child = command
        .env("APP_ADDR", app.to_string())
        .env("PROBES_ADDR", probes.to_string())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the program");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        match lines.next() {
            Some(Ok(line)) if line == "ready" => break,
            Some(_) => continue,
            None => panic!("{exe} exited before it was ready"),
        }
    }
    (child, app, probes)
}

pub fn status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut c = TcpStream::connect(addr).ok()?;
    c.write_all(format!("GET {path} HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n").as_bytes())
        .ok()?;
    let mut out = String::new();
    c.read_to_string(&mut out).ok()?;
    out.split_whitespace().nth(1)?.parse().ok()
}

/// Keep-alive GETs on one connection for `dur`; returns how many were answered.
pub fn hammer(addr: SocketAddr, path: &str, dur: Duration) -> u64 {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_nodelay(true).unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: b\r\n\r\n");
    let mut buf = vec![0u8; 4096];
    let until = Instant::now() + dur;
    let mut n = 0;
    while Instant::now() < until {
        c.write_all(req.as_bytes()).unwrap();
        // One small response: headers and a Content-Length body.
        let mut got = 0;
        loop {
            got += c.read(&mut buf[got..]).unwrap();
            let text = &buf[..got];
            if let Some(end) = text.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&text[..end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        l.strip_prefix("content-length: ")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                if got >= end + 4 + len {
                    break;
                }
            }
        }
        n += 1;
    }
    n
}

/// Which runs first in round `round` (`true`: winddown): the order alternates, so
/// neither always gets the warmer machine.
pub fn winddown_first(round: usize) -> [bool; 2] {
    if round.is_multiple_of(2) {
        [true, false]
    } else {
        [false, true]
    }
}

pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

pub fn sigterm(child: &Child) {
    // SAFETY: kill(2) on our own child with a valid signal.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
}
