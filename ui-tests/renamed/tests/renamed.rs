//! The renamed crate's service runs its whole sequence: the handler is tracked, the
//! worker stops, both hooks run in their order, and it exits 0.

use std::process::Command;

#[test]
fn a_service_built_through_a_renamed_winddown_runs_and_exits_zero() {
    let out = Command::new(env!("CARGO_BIN_EXE_winddown-renamed"))
        .env("RUST_LOG", "info")
        .output()
        .expect("run the renamed service");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("handler answered Ok(7)"), "{stdout}");
    let (flush, close) = (
        stdout.find("hook flush ran").expect("flush ran"),
        stdout.find("hook close ran").expect("close ran"),
    );
    assert!(flush < close, "close runs after flush: {stdout}");
    assert!(stderr.contains("worker started"), "{stderr}");
    assert!(
        stderr.contains("step=\"Ticker\" outcome=ok"),
        "the worker stopped in the sequence: {stderr}"
    );
}
