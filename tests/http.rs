//! The tracked HTTP servers (axum's `svc.serve` and the bare hyper `svc.serve_hyper`)
//! on real sockets, stopped with real signals: nothing in flight is lost, nobody is
//! reset, and nothing open keeps the process from exiting.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::*;

/// `svc.serve` (axum) and `svc.serve_hyper` (bare hyper).
const SERVERS: [&str; 2] = ["axum", "hyper"];
/// Those, plus `axum::serve` with `InFlightLayer`, for what the layer alone promises.
const WITH_LAYER: [&str; 3] = ["axum", "hyper", "layer"];

fn start(server: &str, env: &[(&str, &str)]) -> (Proc, SocketAddr) {
    let mut all = vec![("SERVER", server)];
    all.extend_from_slice(env);
    let mut p = Proc::start("http", &all);
    let app = p.wait_for("listening on http://").trim().parse().unwrap();
    p.wait_ready();
    (p, app)
}

#[test]
fn requests_in_flight_at_sigterm_complete_with_200() {
    for server in WITH_LAYER {
        // With `axum::serve` + the layer, winddown sees request bodies but not
        // connections: the last bytes of a response race an exit that follows the
        // drain at once. A hook that takes a moment (as real cleanup does) covers it;
        // `svc.serve` counts connections and needs nothing.
        let hook_ms = if server == "layer" { "200" } else { "0" };
        let (mut p, app) = start(server, &[("HOOK_MS", hook_ms)]);
        let calls: Vec<_> = (0..5)
            .map(|_| {
                thread::spawn(move || {
                    raw(
                        app,
                        b"GET /work?ms=1500 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                    )
                })
            })
            .collect();
        thread::sleep(Duration::from_millis(400));
        p.signal(SIGTERM);
        for call in calls {
            let text = call
                .join()
                .unwrap()
                .unwrap_or_else(|e| format!("error: {e}"));
            assert!(text.starts_with("HTTP/1.1 200"), "[{server}] {text:?}");
            assert_eq!(parse(&text).body, "done", "[{server}]");
        }
        assert_eq!(p.exit_code(), 0, "[{server}] {}", p.stderr());
        assert!(p.position("hook done") > 0);
    }
}

#[test]
fn after_intake_closed_requests_get_503_with_connection_close() {
    for server in WITH_LAYER {
        let (mut p, app) = start(server, &[("HOOK_MS", "3000")]);
        p.signal(SIGTERM);
        p.wait_for("hook started"); // hooks run after intake closed
        let rsp = get(app, "/work");
        assert_eq!(rsp.status, 503, "[{server}] {rsp:?}");
        assert!(
            rsp.head.to_ascii_lowercase().contains("connection: close"),
            "{}",
            rsp.head
        );
        assert_eq!(rsp.body, "service is shutting down");
        assert_eq!(p.exit_code(), 0);
    }
}

#[test]
fn from_the_signal_keep_alive_responses_carry_connection_close_through_every_server() {
    // The layer with `axum::serve` too: it sees responses, so it can say it.
    for server in WITH_LAYER {
        let (mut p, app) = start(server, &[("DRAIN_MS", "1500")]);
        p.signal(SIGTERM);
        thread::sleep(Duration::from_millis(300));
        let mut conn = TcpStream::connect(app).unwrap();
        conn.set_read_timeout(Some(PATIENCE)).unwrap();
        conn.write_all(b"GET /work HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let text = read_one(&mut conn);
        assert!(text.starts_with("HTTP/1.1 200"), "[{server}] {text:?}");
        assert!(
            text.to_ascii_lowercase().contains("connection: close"),
            "[{server}] {text:?}"
        );
        // And the server closes after it: the client reconnects elsewhere.
        let mut rest = Vec::new();
        assert!(conn.read_to_end(&mut rest).is_ok(), "[{server}]");
        assert!(rest.is_empty(), "[{server}] {rest:?}");
        assert_eq!(p.exit_code(), 0, "[{server}] {}", p.stderr());
    }
}

/// Reads one `Content-Length` response from a keep-alive connection.
fn read_one(conn: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = conn.read(&mut buf).expect("read response");
        assert!(n > 0, "closed before the response");
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if body.len() >= len {
                return text;
            }
        }
    }
}

#[test]
fn an_idle_keep_alive_connection_is_closed_cleanly_and_does_not_hold_the_exit() {
    for server in SERVERS {
        let (mut p, app) = start(server, &[]);
        let mut conn = TcpStream::connect(app).unwrap();
        conn.set_read_timeout(Some(PATIENCE)).unwrap();
        conn.write_all(b"GET /work HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        assert!(read_one(&mut conn).starts_with("HTTP/1.1 200"));
        // The connection is now idle, kept alive, like a browser's.
        let sent = Instant::now();
        p.signal(SIGTERM);
        let mut rest = Vec::new();
        match conn.read_to_end(&mut rest) {
            Ok(_) => assert!(rest.is_empty(), "[{server}] unexpected bytes {rest:?}"),
            Err(e) => panic!("[{server}] the idle connection was not closed cleanly: {e}"),
        }
        assert_eq!(p.exit_code(), 0, "[{server}] {}", p.stderr());
        assert!(
            sent.elapsed() < Duration::from_secs(9),
            "[{server}] waited for grace"
        );
        assert!(!p.stderr().contains("calls still in flight"));
    }
}

#[test]
fn an_endless_event_stream_is_ended_at_intake_and_the_hooks_run() {
    for server in SERVERS {
        let (mut p, app) = start(server, &[]);
        let mut conn = TcpStream::connect(app).unwrap();
        conn.set_read_timeout(Some(PATIENCE)).unwrap();
        conn.write_all(b"GET /sse HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let mut buf = [0u8; 4096];
        let mut seen = String::new();
        while !seen.contains("data: 1") {
            let n = conn.read(&mut buf).unwrap();
            assert!(n > 0);
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        p.signal(SIGTERM);
        let mut rest = Vec::new();
        conn.read_to_end(&mut rest)
            .expect("the stream ends without a reset");
        seen.push_str(&String::from_utf8_lossy(&rest));
        assert!(
            seen.ends_with("0\r\n\r\n"),
            "[{server}] the chunked stream was not terminated: {seen:?}"
        );
        assert_eq!(p.exit_code(), 0, "[{server}] {}", p.stderr());
        assert!(p.has_event("hook done"));
    }
}

#[derive(Default, Debug)]
struct Tally {
    ok: usize,
    refused_503: usize,
    conn_refused: usize,
    reset: Vec<String>,
}

#[test]
fn a_burst_of_connects_at_intake_close_gets_200_503_or_refused_never_a_reset() {
    for server in SERVERS {
        let (mut p, app) = start(server, &[("HOOK_MS", "2000")]);
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..24)
            .map(|_| {
                let stop = stop.clone();
                thread::spawn(move || {
                    let mut tally = Tally::default();
                    while !stop.load(Ordering::Relaxed) {
                        match raw(
                            app,
                            b"GET /work?ms=5 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                        ) {
                            Ok(text) if text.starts_with("HTTP/1.1 200") => tally.ok += 1,
                            Ok(text) if text.starts_with("HTTP/1.1 503") => tally.refused_503 += 1,
                            Ok(text) => tally.reset.push(format!("answer {text:?}")),
                            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                                tally.conn_refused += 1
                            }
                            Err(e) => tally.reset.push(format!("{:?}: {e}", e.kind())),
                        }
                    }
                    tally
                })
            })
            .collect();
        thread::sleep(Duration::from_millis(400));
        p.signal(SIGTERM);
        p.wait_for("hook started");
        thread::sleep(Duration::from_millis(400));
        stop.store(true, Ordering::Relaxed);
        let mut all = Tally::default();
        for c in clients {
            let t = c.join().unwrap();
            all.ok += t.ok;
            all.refused_503 += t.refused_503;
            all.conn_refused += t.conn_refused;
            all.reset.extend(t.reset);
        }
        assert!(
            all.reset.is_empty(),
            "[{server}] resets or dropped answers: {all:?}"
        );
        assert!(all.ok > 0 && all.refused_503 > 0, "[{server}] {all:?}");
        assert_eq!(p.exit_code(), 0, "[{server}] {}", p.stderr());
        eprintln!("[{server}] burst: {all:?}");
    }
}

#[test]
fn an_upgraded_connection_counts_in_flight_until_it_closes() {
    for server in SERVERS {
        let (mut p, app) = start(server, &[]);
        let mut conn = TcpStream::connect(app).unwrap();
        conn.set_read_timeout(Some(PATIENCE)).unwrap();
        conn.write_all(
            b"GET /upgrade HTTP/1.1\r\nHost: t\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n",
        )
        .unwrap();
        let mut buf = [0u8; 1024];
        let n = conn.read(&mut buf).unwrap();
        assert!(
            String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 101"),
            "[{server}]"
        );
        conn.write_all(b"ping").unwrap();
        let n = conn.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"ping");

        p.signal(SIGTERM);
        // The drain waits for the upgraded connection: no hook while it is open.
        thread::sleep(Duration::from_millis(1500));
        assert!(
            !p.has_event("hook started") && p.is_running(),
            "[{server}] the drain did not wait"
        );
        conn.write_all(b"still here").unwrap();
        let n = conn.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"still here");
        drop(conn);
        assert_eq!(p.exit_code(), 0, "[{server}] {}", p.stderr());
        assert!(p.position("upgraded connection closed") < p.position("hook started"));
    }
}

#[test]
fn a_second_signal_during_the_drain_exits_at_once() {
    let (mut p, app) = start("axum", &[]);
    let call = thread::spawn(move || {
        raw(
            app,
            b"GET /work?ms=20000 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        )
    });
    thread::sleep(Duration::from_millis(300));
    p.signal(SIGTERM);
    thread::sleep(Duration::from_millis(300)); // draining: the call runs for 20s
    assert!(p.is_running());
    let second = Instant::now();
    p.signal(SIGINT);
    assert_eq!(p.exit_code(), 130);
    assert!(
        second.elapsed() < Duration::from_secs(5),
        "did not exit at once"
    );
    p.assert_log("second signal: exiting now");
    let _ = call.join();
}
