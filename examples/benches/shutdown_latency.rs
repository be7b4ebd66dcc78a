//! Shutdown latency at idle, SIGTERM to exit: a winddown program against the same work
//! written by hand with tokio, tokio-util and axum (two workers, two hooks, no drain
//! delay), interleaved, median of 11 runs each; and SIGTERM to `/ready` 503.
//! `cargo bench -p winddown-examples --bench shutdown_latency`

#[path = "common.rs"]
mod common;

use std::time::{Duration, Instant};

use common::*;

const RUNS: usize = 11;

/// SIGTERM to exit, and for winddown SIGTERM to `/ready` 503 (ms).
fn once(exe: &str, watch_ready: bool) -> (f64, Option<f64>) {
    let (mut child, _, probes) = start(exe);
    if watch_ready {
        while status(probes, "/ready") != Some(200) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    std::thread::sleep(Duration::from_millis(200)); // idle
    let t = Instant::now();
    sigterm(&child);
    let ready = watch_ready.then(|| {
        while status(probes, "/ready") != Some(503) {}
        t.elapsed().as_secs_f64() * 1e3
    });
    let _ = child.wait();
    (t.elapsed().as_secs_f64() * 1e3, ready)
}

fn main() {
    let (mut ours, mut theirs, mut ready) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..RUNS {
        for winddown in winddown_first(run) {
            if winddown {
                let (exit, r) = once(env!("CARGO_BIN_EXE_bench-winddown"), run % 2 == 1);
                ours.push(exit);
                ready.extend(r);
            } else {
                theirs.push(once(env!("CARGO_BIN_EXE_bench-handwritten"), false).0);
            }
        }
    }
    println!("shutdown latency at idle, SIGTERM to exit, median of {RUNS}:");
    println!(
        "  hand-written tokio + tokio-util + axum  {:.2} ms",
        median(&mut theirs.clone())
    );
    println!(
        "  winddown                                {:.2} ms",
        median(&mut ours.clone())
    );
    println!(
        "  ratio winddown/hand-written: {:.3}",
        median(&mut ours) / median(&mut theirs)
    );
    println!(
        "  SIGTERM to /ready 503 (winddown, median of {}): {:.3} ms",
        ready.len(),
        median(&mut ready)
    );
}
