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
