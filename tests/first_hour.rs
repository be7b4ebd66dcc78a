//! The traps of a new user's first hour, each shown by a real process: what people
//! write first either works or fails loudly.

mod common;

use common::*;

const FIXTURE: &str = env!("CARGO_BIN_EXE_winddown-first-hour");

#[test]
fn a_signal_listed_twice_is_still_one_shutdown() {
    let mut p = Proc::start_bin(FIXTURE, "repeated_signals", &[]);
    p.wait_for("ready");
    p.wait_ready();
    p.signal(SIGTERM);
    assert_eq!(p.exit_code(), 0, "{}", p.stderr());
    assert!(p.has_event("hook finished"), "{}", p.stderr());
    let log = p.stderr();
    assert!(!log.contains("second signal"), "{log}");
}

#[test]
fn a_grace_too_long_is_a_start_up_error_not_a_panic() {
    let mut p = Proc::start_bin(FIXTURE, "huge_grace", &[]);
    assert_eq!(p.exit_code(), 1, "{}", p.stderr());
    p.assert_log("cannot start");
    p.assert_log("longer than the 365 days");
}

/// `axum::serve(..).with_graceful_shutdown(svc.intake_closed()).await` inside main:
/// the service turns ready, serves through the drain delay, drains the request in
/// flight at intake close, and the hooks run after main returned.
#[test]
fn serving_from_main_becomes_ready_and_drains() {
    let mut p = Proc::start_bin(FIXTURE, "serve_in_main", &[]);
    let app: std::net::SocketAddr = p.wait_for("listening on ").trim().parse().unwrap();
    p.wait_ready();
    let slow = std::thread::spawn(move || get(app, "/work?ms=1800"));
    std::thread::sleep(std::time::Duration::from_millis(200));
    p.signal(SIGTERM);
    // During the drain delay the server still serves.
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(get(app, "/work?ms=1").status, 200);
    assert_eq!(slow.join().unwrap().status, 200);
    assert_eq!(p.exit_code(), 0, "{}", p.stderr());
    assert!(p.has_event("hook after main"), "{}", p.stderr());
    assert!(p.position("main returned") < p.position("hook after main"));
    p.assert_log("main keeps running");
}

/// `shutdown.triggered()` as axum's signal: the service cannot know main serves,
/// and says so with the fix instead of staying "starting" in silence.
#[test]
fn serving_from_main_with_triggered_is_reported_with_the_fix() {
    let mut p = Proc::start_bin(FIXTURE, "serve_in_main_triggered", &[]);
    let probes = p.probes("ready");
    let until = std::time::Instant::now() + PATIENCE;
    while !p.stderr().contains("setup has not returned yet") {
        assert!(
            std::time::Instant::now() < until,
            "no warning: {}",
            p.stderr()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let log = p.stderr();
    assert!(log.contains("svc.intake_closed()"), "{log}");
    assert_eq!(get(probes, "/ready").status, 503);
    p.signal(SIGTERM);
    assert_eq!(p.exit_code(), 0, "{}", p.stderr());
}

/// `svc.ready()` from a main that runs its own loop until intake closes.
#[test]
fn ready_called_from_main_turns_ready_and_main_is_drained() {
    let mut p = Proc::start_bin(FIXTURE, "ready_called", &[]);
    p.wait_ready();
    p.signal(SIGTERM);
    assert_eq!(p.exit_code(), 0, "{}", p.stderr());
    assert!(p.has_event("main saw intake close"));
    p.assert_log("step=main outcome=ok");
}

/// `logging(false)`: the user's own subscriber is never overridden and receives
/// winddown's events.
#[test]
fn your_subscriber_is_kept() {
    let mut p = Proc::start_bin(FIXTURE, "own_subscriber", &[]);
    p.wait_ready();
    p.signal(SIGTERM);
    assert_eq!(p.exit_code(), 0, "{}", p.stderr());
    let log = p.stderr();
    assert!(
        log.contains("tagged-subscriber: shutdown complete"),
        "{log}"
    );
    assert!(
        !log.contains(" INFO "),
        "winddown's own subscriber ran: {log}"
    );
}

/// The runtime flavour and the worker threads are the user's choice.
#[test]
fn your_runtime_flavour_and_threads() {
    let mut p = Proc::start_bin(FIXTURE, "current_thread", &[]);
    assert_eq!(p.wait_for("flavor "), "CurrentThread");
    p.wait_ready();
    p.signal(SIGTERM);
    assert_eq!(p.exit_code(), 0, "{}", p.stderr());

    let mut p = Proc::start_bin(FIXTURE, "three_threads", &[]);
    assert_eq!(p.wait_for("workers "), "3");
    p.wait_ready();
    p.signal(SIGTERM);
    assert_eq!(p.exit_code(), 0, "{}", p.stderr());
}

/// The tightest budget `build()` accepts (drain delay + the worker's stop + the
/// hook + the margin = grace) is one every shutdown fits: exit 0, every step clean,
/// the report logged.
#[test]
fn the_tightest_accepted_budget_shuts_down_clean() {
    let mut p = Proc::start_bin(FIXTURE, "tightest_budget", &[]);
    p.wait_ready();
    p.signal(SIGTERM);
    assert_eq!(p.exit_code(), 0, "{}", p.stderr());
    assert!(p.position("worker stopped") < p.position("hook finished"));
    p.assert_log("step=slow_stop outcome=ok");
    p.assert_log("step=close outcome=ok");
    p.assert_log("shutdown complete service=tightest_budget");
}

/// A worker spawned in setup with a stop_timeout grace cannot hold is warned of
/// when it is spawned, with the fix.
#[test]
fn a_worker_too_slow_for_grace_is_warned_of_with_the_fix() {
    let mut p = Proc::start_bin(FIXTURE, "worker_too_slow_for_grace", &[]);
    p.wait_ready();
    p.assert_log("worker `stubborn` may take 5s to stop, but grace leaves workers 900ms");
    p.assert_log("raise grace by 4s100ms");
    p.signal(SIGTERM);
    assert_eq!(p.exit_code(), 0, "{}", p.stderr());
}
