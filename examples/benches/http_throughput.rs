//! HTTP throughput through winddown's tracked `svc.serve` (connections and requests
//! counted, clients told to leave, 503 after intake, lingering close) against plain
//! `axum::serve` (axum with `http2`), the same router, measured by real load
//! generators: `wrk` for HTTP/1.1 keep-alive, `h2load` for HTTP/2 (h2c, prior
//! knowledge). Rounds interleaved, the order alternating; each round's ratio is
//! winddown/plain, reported as the median with its spread.
//!
//! Two placements, each reported: **split**, the server held to CPU 0 and the load
//! generator to CPU 1 (`taskset`), so neither steals the other's core and the
//! rounds vary less; and **shared**, both free on every core, as a machine running
//! its own client would. `ROUNDS` (default 15) sets the rounds per placement.
//! `cargo bench -p winddown-examples --bench http_throughput`

#[path = "common.rs"]
mod common;

use std::net::SocketAddr;
use std::process::Command;

use common::*;

const SECONDS: u32 = 3;

/// Where the server and the load generator run.
#[derive(Clone, Copy)]
enum Placement {
    /// Server on CPU 0, load generator on CPU 1.
    Split,
    /// Both on every CPU.
    Shared,
}

impl Placement {
    fn name(self) -> &'static str {
        match self {
            Placement::Split => "split: server on CPU 0, client on CPU 1",
            Placement::Shared => "shared: server and client on every CPU",
        }
    }

    /// The CPUs for the server and for the client.
    fn cpus(self) -> (Option<&'static str>, Option<&'static str>) {
        match self {
            Placement::Split => (Some("0"), Some("1")),
            Placement::Shared => (None, None),
        }
    }
}

/// Requests per second `tool` reports against a fresh start of `exe`.
fn rate(exe: &str, tool: Tool, placement: Placement) -> f64 {
    let (server, client) = placement.cpus();
    let (mut child, app, _) = start_on(exe, server);
    let rate = tool.run(app, client);
    let _ = child.kill();
    let _ = child.wait();
    rate
}

#[derive(Clone, Copy)]
enum Tool {
    /// HTTP/1.1 keep-alive: `wrk -t2 -c32`.
    Wrk,
    /// HTTP/2: `h2load -c4 -m32` (4 connections, 32 streams each).
    H2load,
}

impl Tool {
    fn name(self) -> &'static str {
        match self {
            Tool::Wrk => "HTTP/1.1, wrk -t2 -c32",
            Tool::H2load => "HTTP/2 (h2c), h2load -c4 -m32",
        }
    }

    fn run(self, app: SocketAddr, cpus: Option<&str>) -> f64 {
        let url = format!("http://{app}/hello");
        let (exe, args): (&str, Vec<String>) = match self {
            Tool::Wrk => (
                "wrk",
                vec!["-t2".into(), "-c32".into(), format!("-d{SECONDS}s"), url],
            ),
            Tool::H2load => (
                "h2load",
                vec![
                    "-c4".into(),
                    "-m32".into(),
                    "-t1".into(),
                    format!("-D{SECONDS}"),
                    url,
                ],
            ),
        };
        let mut command = match cpus {
            Some(cpus) => {
                let mut c = Command::new("taskset");
                c.args(["-c", cpus, exe]);
                c
            }
            None => Command::new(exe),
        };
        let out = command
            .args(&args)
            .output()
            .unwrap_or_else(|e| panic!("`{exe}` is needed (bash .ci/deps installs it): {e}"));
        let text = String::from_utf8_lossy(&out.stdout);
        let rate = match self {
            // "Requests/sec:  12345.67"
            Tool::Wrk => text
                .lines()
                .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
                .and_then(|v| v.trim().parse().ok()),
            // "finished in 3.00s, 12345.67 req/s, 1.2MB/s"
            Tool::H2load => text
                .lines()
                .find(|l| l.starts_with("finished in"))
                .and_then(|l| l.split(", ").nth(1)?.strip_suffix(" req/s")?.parse().ok()),
        };
        let errors = match self {
            Tool::Wrk => text.contains("Socket errors") || text.contains("Non-2xx"),
            Tool::H2load => !text.contains(" 0 failed, 0 errored"),
        };
        assert!(!errors, "{exe} saw errors:\n{text}");
        rate.unwrap_or_else(|| panic!("no rate in {exe}'s output:\n{text}"))
    }
}

fn main() {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(15);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let placements: &[Placement] = match cores {
        1 => &[Placement::Shared],
        _ => &[Placement::Split, Placement::Shared],
    };
    for &placement in placements {
        for tool in [Tool::Wrk, Tool::H2load] {
            let (mut plain, mut tracked, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
            for round in 0..rounds {
                // Alternate which goes first, so neither always gets the warmer machine.
                let mut pair = [0.0; 2];
                for winddown in winddown_first(round) {
                    let exe = match winddown {
                        true => env!("CARGO_BIN_EXE_bench-winddown"),
                        false => env!("CARGO_BIN_EXE_bench-handwritten"),
                    };
                    pair[usize::from(!winddown)] = rate(exe, tool, placement);
                }
                let [t, p] = pair;
                tracked.push(t);
                plain.push(p);
                ratios.push(t / p);
            }
            let spread = |v: &[f64], digits: usize| {
                let (lo, hi) = v
                    .iter()
                    .fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(*x), hi.max(*x)));
                format!("{lo:.digits$}..{hi:.digits$}")
            };
            println!(
                "{}, {}, {rounds} interleaved rounds of {SECONDS}s:",
                tool.name(),
                placement.name()
            );
            println!(
                "  axum::serve (plain)  median {:>9.0} req/s  spread {}",
                median(&mut plain.clone()),
                spread(&plain, 0)
            );
            println!(
                "  winddown svc.serve   median {:>9.0} req/s  spread {}",
                median(&mut tracked.clone()),
                spread(&tracked, 0)
            );
            println!(
                "  ratio winddown/plain median {:.3}  spread {}",
                median(&mut ratios.clone()),
                spread(&ratios, 3)
            );
        }
    }
}
