//! Hooks as a graph, in a real process: independent hooks run concurrently, a hook
//! starts only once the hooks it runs after have ended (read from the report's
//! timestamps), a failed dependency still lets its dependent run, and a hook that
//! hangs in the middle of the graph is cut at its timeout without costing the rest.

mod common;

use std::time::{Duration, Instant};

use common::*;

const FIXTURE: &str = env!("CARGO_BIN_EXE_winddown-graph");

/// One hook's line in the report: when it started (from the start of the
/// shutdown), how long it took, and the whole line.
struct Ran {
    started: u64,
    elapsed: u64,
    line: String,
}

impl Ran {
    fn ended(&self) -> u64 {
        self.started + self.elapsed
    }
}

fn ran(log: &str, hook: &str) -> Ran {
    let needle = format!(" step={hook} ");
    let line = log
        .lines()
        .find(|l| l.contains("winddown::report") && l.contains(&needle))
        .unwrap_or_else(|| panic!("no report line for {hook}:\n{log}"))
        .to_owned();
    let num = |key: &str| -> u64 {
        let rest = line
            .split(&format!(" {key}="))
            .nth(1)
            .unwrap_or_else(|| panic!("no {key} in {line}"));
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().unwrap()
    };
    Ran {
        started: num("started_ms"),
        elapsed: num("elapsed_ms"),
        line: line.clone(),
    }
}

/// Starts the fixture, waits until ready, sends SIGTERM; returns the exit code,
/// the log, and the time from the signal to the exit.
fn shut_down(env: &[(&str, &str)]) -> (i32, String, Duration, Proc) {
    let mut p = Proc::start_bin(FIXTURE, "graph", env);
    p.wait_ready();
    let t = Instant::now();
    p.signal(SIGTERM);
    let code = p.exit_code();
    (code, p.stderr(), t.elapsed(), p)
}

#[test]
fn independent_hooks_run_concurrently_and_a_dependent_waits_for_both() {
    let (code, log, _, p) = shut_down(&[]);
    assert_eq!(code, 0, "{log}");
    let producer = ran(&log, "producer::close");
    let cache = ran(&log, "cache::close");
    let db = ran(&log, "db::close");
    let telemetry = ran(&log, "telemetry::flush");
    // Two hooks of 1s each, with nothing between them: about 1s, not 2s.
    assert!(
        cache.started < producer.ended() && producer.started < cache.ended(),
        "not concurrent:\n{}\n{}",
        producer.line,
        cache.line
    );
    assert!(db.started < 1_800, "the pair took 2s, not 1s: {}", db.line);
    assert!(
        producer.line.contains("ran_with=\"cache::close\""),
        "{}",
        producer.line
    );
    // `db::close` starts once both have ended, `telemetry::flush` once it has
    // (1 ms of slack: the report rounds to whole milliseconds).
    assert!(
        db.started + 1 >= producer.ended(),
        "{}\n{}",
        producer.line,
        db.line
    );
    assert!(
        db.started + 1 >= cache.ended(),
        "{}\n{}",
        cache.line,
        db.line
    );
    assert!(
        telemetry.started + 1 >= db.ended(),
        "{}\n{}",
        db.line,
        telemetry.line
    );
    // Hooks with the same last name in different modules are two hooks.
    assert!(p.position("hook producer::close ended") < p.position("hook db::close started"));
    assert!(p.position("hook cache::close ended") < p.position("hook db::close started"));
}

#[test]
fn a_failed_dependency_still_lets_its_dependent_run() {
    let (code, log, _, p) = shut_down(&[("GRAPH_FAIL", "cache::close")]);
    assert_eq!(code, 1, "a failed hook makes the exit 1: {log}");
    assert!(
        ran(&log, "cache::close")
            .line
            .contains("outcome=failed: cache::close failed on purpose")
    );
    let db = ran(&log, "db::close");
    assert!(db.line.contains("outcome=ok"), "{}", db.line);
    assert!(db.started + 1 >= ran(&log, "cache::close").ended());
    assert!(p.position("hook cache::close ended") < p.position("hook db::close started"));
    assert!(ran(&log, "telemetry::flush").line.contains("outcome=ok"));
}

#[test]
fn a_hook_hanging_in_the_middle_is_cut_at_its_timeout_and_the_deadline_holds() {
    let (code, log, took, _) = shut_down(&[("GRAPH_HANG", "db::close")]);
    assert_eq!(code, 1, "{log}");
    let db = ran(&log, "db::close");
    assert!(
        db.line.contains("outcome=timed out after 3000ms"),
        "{}",
        db.line
    );
    // Its dependent still runs, right after the timeout.
    let telemetry = ran(&log, "telemetry::flush");
    assert!(telemetry.line.contains("outcome=ok"), "{}", telemetry.line);
    assert!(telemetry.started + 1 >= db.ended());
    // 1s for the pair, 3s for the hung hook, 0.1s for the last: well inside grace 8s.
    assert!(took < Duration::from_secs(8), "took {took:?}: {log}");
    assert!(
        !log.contains("grace exhausted"),
        "the watchdog fired: {log}"
    );
}
