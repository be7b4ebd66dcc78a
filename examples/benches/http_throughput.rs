//! HTTP throughput through winddown's tracked `svc.serve` (in-flight counting, 503
//! after intake, lingering close) against plain `axum::serve`, the same router and the
//! same client, in interleaved rounds. `cargo bench -p winddown-examples --bench http_throughput`

#[path = "common.rs"]
mod common;

use std::time::Duration;

use common::*;

const ROUNDS: usize = 7;
const CONNECTIONS: usize = 4;
const ROUND: Duration = Duration::from_secs(2);

fn rate(exe: &str) -> f64 {
    let (mut child, app, _) = start(exe);
    let workers: Vec<_> = (0..CONNECTIONS)
        .map(|_| std::thread::spawn(move || hammer(app, "/hello", ROUND)))
        .collect();
    let total: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    let _ = child.kill();
    let _ = child.wait();
    total as f64 / ROUND.as_secs_f64()
}

fn main() {
    let (mut plain, mut tracked) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        // Alternate which goes first, so neither always gets the warmer machine.
        let order = if round % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for is_tracked in order {
            if is_tracked {
                tracked.push(rate(env!("CARGO_BIN_EXE_bench-winddown")));
            } else {
                plain.push(rate(env!("CARGO_BIN_EXE_bench-handwritten")));
            }
        }
    }
    let spread = |v: &[f64]| {
        let (lo, hi) = v
            .iter()
            .fold((f64::MAX, 0f64), |(lo, hi), x| (lo.min(*x), hi.max(*x)));
        format!("{lo:.0}..{hi:.0}")
    };
    println!(
        "http throughput, {CONNECTIONS} keep-alive connections, {ROUNDS} rounds of {ROUND:?}:"
    );
    println!(
        "  axum::serve (plain)      median {:>8.0} req/s  spread {}",
        median(&mut plain.clone()),
        spread(&plain)
    );
    println!(
        "  winddown svc.serve       median {:>8.0} req/s  spread {}",
        median(&mut tracked.clone()),
        spread(&tracked)
    );
    println!(
        "  ratio winddown/plain: {:.3}",
        median(&mut tracked) / median(&mut plain)
    );
}
