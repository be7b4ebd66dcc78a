//! Liveness that means something, workers that heal, and a start-up deadline, each
//! shown by a real process: its probes read over real sockets, its exit code and
//! report read as an operator would.

mod common;

use std::time::Instant;

use common::*;

const FIXTURE: &str = env!("CARGO_BIN_EXE_winddown-liveness");

#[test]
fn a_setup_that_hangs_is_ended_at_startup_timeout_with_the_hooks_run() {
    let mut p = Proc::start_bin(FIXTURE, "hung_setup", &[]);
    let probes = p.probes("setup started");
    let started = Instant::now();
    assert_eq!(get(probes, "/ready").body.trim(), "starting");
    assert_eq!(p.exit_code(), 1, "{}", p.stderr());
    // 800 ms of start-up deadline: not at once, and nowhere near grace (5 s).
    let took = started.elapsed();
    assert!(took.as_millis() >= 600, "ended after {took:?}");
    assert!(p.has_event("hook ran"), "{}", p.stderr());
    p.assert_log("cause=not ready within startup_timeout 800ms");
    p.assert_log("step=setup outcome=timed out");
}
