//! Real HTTP/2 clients nobody here wrote (curl, h2load) against the `complete`
//! example, served by `svc.serve`: HTTP/2 with prior knowledge works, and streams in
//! flight when SIGTERM arrives all finish.

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use common::*;

fn start_complete() -> (Proc, SocketAddr, SocketAddr) {
    let mut p = Proc::example(
        "complete",
        &[("APP_ADDR", "127.0.0.1:0"), ("PROBES_ADDR", "127.0.0.1:0")],
    );
    let probes: SocketAddr = p.wait_for("probes on http://").trim().parse().unwrap();
    let app: SocketAddr = p.wait_for("listening on http://").trim().parse().unwrap();
    assert_eq!(wait_ready_status(probes, 200).status, 200);
    (p, app, probes)
}

/// h2load's summary: (done, succeeded, failed, 2xx), from lines like
/// `requests: 200 total, 200 started, 200 done, 200 succeeded, 0 failed, 0 errored, 0 timeout`
/// and `status codes: 200 2xx, 0 3xx, 0 4xx, 0 5xx`.
fn h2load_counts(out: &str) -> (u64, u64, u64, u64) {
    let line = |prefix: &str| {
        out.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` line in h2load's output:\n{out}"))
    };
    // The number just before `word`.
    let count = |line: &str, word: &str| -> u64 {
        let words: Vec<&str> = line.split([' ', ',']).filter(|w| !w.is_empty()).collect();
        let at = words
            .iter()
            .position(|w| *w == word)
            .unwrap_or_else(|| panic!("no `{word}` in `{line}`"));
        words[at - 1].parse().unwrap()
    };
    let requests = line("requests:");
    let codes = line("status codes:");
    (
        count(requests, "done"),
        count(requests, "succeeded"),
        count(requests, "failed"),
        count(codes, "2xx"),
    )
}

#[test]
fn curl_with_http2_prior_knowledge_and_h2load_are_served() {
    let (mut p, app, _) = start_complete();
    let out = Command::new(tool("curl"))
        .args(["-sS", "--http2-prior-knowledge", "-o", "/dev/null"])
        .args(["-w", "%{http_version} %{http_code}"])
        .arg(format!("http://{app}/work?ms=1"))
        .output()
        .unwrap();
    assert!(out.status.success(), "curl failed: {out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "2 200");

    let out = Command::new(tool("h2load"))
        .args(["-n", "200", "-c", "2", "-m", "10"])
        .arg(format!("http://{app}/work?ms=1"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(h2load_counts(&text), (200, 200, 0, 200), "{text}");

    p.signal(SIGTERM);
    assert_eq!(p.exit_code(), 0, "{}", p.stderr());
}

#[test]
fn http2_streams_in_flight_at_sigterm_all_finish() {
    let (mut p, app, probes) = start_complete();
    // 4 connections × 10 streams, each 2.5 s of work: all 40 are open when the
    // signal arrives, on connections that then get GOAWAY.
    let load = std::thread::spawn(move || {
        Command::new(tool("h2load"))
            .args(["-n", "40", "-c", "4", "-m", "10", "-T", "20"])
            .arg(format!("http://{app}/work?ms=2500"))
            .output()
            .unwrap()
    });
    std::thread::sleep(Duration::from_millis(700));
    p.signal(SIGTERM);
    assert_eq!(wait_ready_status(probes, 503).status, 503);
    let out = load.join().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(h2load_counts(&text), (40, 40, 0, 40), "{text}");
    assert_eq!(p.exit_code(), 0, "{}", p.stderr());
    p.assert_log("step=in-flight calls outcome=ok");
}
