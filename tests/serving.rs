//! The tracked server as real clients see it: HTTP/1.1 and HTTP/2 (h2c) on one
//! port, a Unix socket, `ConnectInfo`, clients told to leave from the first signal,
//! correct 503s after intake close (bare-LF heads, `HEAD`), and no client — slow,
//! silent or late — holding the shutdown.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};

fn start(scenario: &str, env: &[(&str, &str)]) -> Proc {
    let mut p = Proc::start_bin(env!("CARGO_BIN_EXE_winddown-serving"), scenario, env);
    p.wait_for("listening on ");
    p.wait_ready();
    p
}

fn start_tcp(env: &[(&str, &str)]) -> (Proc, SocketAddr) {
    let (p, app, _) = start_tcp_probes(env);
    (p, app)
}

/// Also returns the probes' address.
fn start_tcp_probes(env: &[(&str, &str)]) -> (Proc, SocketAddr, SocketAddr) {
    let mut p = Proc::start_bin(env!("CARGO_BIN_EXE_winddown-serving"), "tcp", env);
    let app = p.wait_for("listening on http://").trim().parse().unwrap();
    let probes = p.wait_ready();
    (p, app, probes)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// An HTTP/2 (prior knowledge) connection to `addr`.
async fn h2(addr: SocketAddr) -> hyper::client::conn::http2::SendRequest<Empty<Bytes>> {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    send
}

async fn h2_get(
    send: &mut hyper::client::conn::http2::SendRequest<Empty<Bytes>>,
    path: &str,
) -> Result<(u16, String), hyper::Error> {
    let req = hyper::Request::get(format!("http://t{path}"))
        .body(Empty::new())
        .unwrap();
    let rsp = send.send_request(req).await?;
    let status = rsp.status().as_u16();
    let body = rsp.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

#[test]
fn http1_and_h2c_on_one_port_and_connect_info_gives_the_peer() {
    let (mut p, app) = start_tcp(&[]);
    let rsp = get(app, "/work");
    assert_eq!((rsp.status, rsp.body.as_str()), (200, "done"));
    // ConnectInfo<SocketAddr>: the peer is this test's loopback socket.
    let peer = get(app, "/peer");
    assert!(peer.body.starts_with("127.0.0.1:"), "{peer:?}");
    runtime().block_on(async {
        let mut send = h2(app).await;
        assert_eq!(
            h2_get(&mut send, "/work").await.unwrap(),
            (200, "done".into())
        );
        let (status, peer) = h2_get(&mut send, "/peer").await.unwrap();
        assert_eq!(status, 200);
        assert!(peer.starts_with("127.0.0.1:"), "{peer}");
    });
    p.signal(SIGTERM);
    assert_eq!(p.exit_code(), 0, "{}", p.stderr());
}

#[test]
fn h2_streams_in_flight_finish_and_the_connection_gets_goaway_at_the_signal() {
    let (mut p, app) = start_tcp(&[("DRAIN_MS", "4000")]);
    runtime().block_on(async {
        let mut send = h2(app).await;
        // Ten streams in flight on one connection at SIGTERM.
        let calls: Vec<_> = (0..10)
            .map(|_| {
                let mut send = send.clone();
                tokio::spawn(async move { h2_get(&mut send, "/work?ms=1500").await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(300)).await;
        p.signal(SIGTERM);
        // A new connection during the drain delay (4 s; asked at once, so a loaded
        // machine cannot push it past intake close) is served.
        let mut fresh = h2(app).await;
        assert_eq!(
            h2_get(&mut fresh, "/work").await.unwrap(),
            (200, "done".into())
        );
        for call in calls {
            assert_eq!(call.await.unwrap().unwrap(), (200, "done".into()));
        }
        // The connection was told to leave: once its streams ended it closed, and
        // a new stream on it fails locally (never reaching a closing server).
        let until = Instant::now() + PATIENCE;
        while send.ready().await.is_ok() {
            assert!(
                Instant::now() < until,
                "the connection never got its GOAWAY"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    assert_eq!(p.exit_code(), 0, "{}", p.stderr());
}

#[test]
fn http1_responses_carry_connection_close_from_the_signal_unless_turned_off() {
    for (tell, close) in [("on", true), ("off", false)] {
        let (mut p, app, probes) = start_tcp_probes(&[("DRAIN_MS", "3000"), ("TELL", tell)]);
        let mut s = TcpStream::connect(app).unwrap();
        s.set_read_timeout(Some(PATIENCE)).unwrap();
        let first = keep_alive_get(&mut s, "/work");
        assert!(
            !first.to_ascii_lowercase().contains("connection: close"),
            "{first}"
        );
        p.signal(SIGTERM);
        assert_eq!(wait_ready_status(probes, 503).status, 503);
        let during = keep_alive_get(&mut s, "/work");
        assert!(during.starts_with("HTTP/1.1 200"), "[{tell}] {during}");
        assert_eq!(
            during.to_ascii_lowercase().contains("connection: close"),
            close,
            "[{tell}] {during}"
        );
        assert_eq!(p.exit_code(), 0, "[{tell}] {}", p.stderr());
    }
}

/// Sends one keep-alive GET on `s` and reads exactly one response.
fn keep_alive_get(s: &mut TcpStream, path: &str) -> String {
    write!(s, "GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).unwrap();
        assert!(
            n > 0,
            "closed before a response: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let len: usize = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return text;
            }
        }
    }
}

#[test]
fn after_intake_a_bare_lf_request_and_a_head_get_a_proper_503() {
    let (mut p, app) = start_tcp(&[("HOOK_MS", "3000")]);
    p.signal(SIGTERM);
    p.wait_for("hook started");
    let bare = raw(app, b"GET /work HTTP/1.1\nHost: t\n\n").unwrap();
    assert!(bare.starts_with("HTTP/1.1 503"), "{bare:?}");
    assert!(
        bare.to_ascii_lowercase().contains("connection: close"),
        "{bare:?}"
    );
    let head = raw(app, b"HEAD /work HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 503"), "{head:?}");
    assert!(
        head.ends_with("\r\n\r\n"),
        "a HEAD answer has no body: {head:?}"
    );
    // An h2c client after intake close is answered 503 too.
    let late = runtime().block_on(async {
        let mut send = h2(app).await;
        h2_get(&mut send, "/work").await.map(|(status, _)| status)
    });
    assert!(matches!(late, Ok(503)), "{late:?}\n{}", p.stderr());
    assert_eq!(p.exit_code(), 0, "{}", p.stderr());
}

#[test]
fn a_half_sent_request_head_cannot_hold_the_drain() {
    // grace 8s, no drain delay, an instant hook: only the drain could hold it.
    let (mut p, app) = start_tcp(&[("GRACE_MS", "8000")]);
    let mut slow = TcpStream::connect(app).unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHo").unwrap();
    let silent = TcpStream::connect(app).unwrap();
    thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    p.signal(SIGTERM);
    assert_eq!(p.exit_code(), 0, "{}", p.stderr());
    // A second after intake at most, far from grace's 8 s (bound loosely).
    assert!(
        t.elapsed() < Duration::from_secs(6),
        "{:?}: {}",
        t.elapsed(),
        p.stderr()
    );
    drop((slow, silent));
}

#[test]
fn a_request_admitted_before_intake_is_not_refused_by_its_handler_after() {
    // The server counts the request when its head arrives; axum calls the
    // `#[handler]` only once the body is read, here after intake closed. The
    // handler must let it in (the request already holds the drain), not answer 503.
    let (mut p, app) = start_tcp(&[("DRAIN_MS", "0"), ("GRACE_MS", "10000")]);
    let mut s = TcpStream::connect(app).unwrap();
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\n")
        .unwrap();
    // The head is read and the request counted: the drain waits for it.
    p.wait_for("echo head read");
    let until = Instant::now() + Duration::from_secs(20);
    p.signal(SIGTERM);
    while !p.stderr().contains("intake closed") {
        assert!(Instant::now() < until, "no intake in:\n{}", p.stderr());
        thread::sleep(Duration::from_millis(5));
    }
    s.write_all(b"hello").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    assert!(
        text.starts_with("HTTP/1.1 200"),
        "the admitted request was refused: {text:?}\n{}",
        p.stderr()
    );
    assert!(text.ends_with("hello"), "{text:?}");
    assert_eq!(p.exit_code(), 0, "{}", p.stderr());
}

#[test]
fn a_request_sent_just_after_intake_on_a_fresh_connection_is_answered() {
    // A connection opened in the drain delay whose first bytes arrive just after
    // intake closed (its client was slow to write): answered, never dropped.
    let (mut p, app) = start_tcp(&[("DRAIN_MS", "600"), ("GRACE_MS", "10000")]);
    p.signal(SIGTERM);
    let log_says = |p: &Proc, what: &str| {
        let until = Instant::now() + Duration::from_secs(20);
        while !p.stderr().contains(what) {
            assert!(Instant::now() < until, "no `{what}` in:\n{}", p.stderr());
            thread::sleep(Duration::from_millis(5));
        }
    };
    log_says(&p, "readiness is false");
    let mut fresh = TcpStream::connect(app).unwrap();
    log_says(&p, "intake closed");
    fresh
        .write_all(b"GET /work HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    fresh
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut text = String::new();
    let _ = fresh.read_to_string(&mut text);
    assert!(
        text.starts_with("HTTP/1.1 503") || text.starts_with("HTTP/1.1 200"),
        "the request was dropped: {text:?}\n{}",
        p.stderr()
    );
    assert!(
        text.to_ascii_lowercase().contains("connection: close"),
        "{text:?}"
    );
    assert_eq!(p.exit_code(), 0, "{}", p.stderr());
}

#[test]
fn connections_arriving_through_the_drain_do_not_hold_it() {
    // One real request in flight for 2 s; a new connection every 300 ms meanwhile
    // (a load balancer's TCP checks, say). Exit 0 right after the real request.
    let (mut p, app) = start_tcp(&[("GRACE_MS", "20000")]);
    let call = thread::spawn(move || {
        raw(
            app,
            b"GET /work?ms=2000 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        )
    });
    thread::sleep(Duration::from_millis(200));
    p.signal(SIGTERM);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let knocker = {
        let stop = stop.clone();
        thread::spawn(move || {
            let mut answered = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // Connects and stays silent, as a TCP health check does.
                if let Ok(s) = TcpStream::connect_timeout(&app, Duration::from_secs(1)) {
                    answered += 1;
                    thread::spawn(move || {
                        thread::sleep(Duration::from_millis(900));
                        drop(s);
                    });
                }
                thread::sleep(Duration::from_millis(300));
            }
            answered
        })
    };
    let text = call.join().unwrap().unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text:?}");
    let t = Instant::now();
    assert_eq!(p.exit_code(), 0, "{}", p.stderr());
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(knocker.join().unwrap() > 0);
    assert!(
        t.elapsed() < Duration::from_secs(8),
        "exit waited {:?}",
        t.elapsed()
    );
    let log = p.stderr();
    assert!(log.contains("step=in-flight calls outcome=ok"), "{log}");
}

#[cfg(unix)]
#[test]
fn a_unix_socket_serves_connect_info_and_drains() {
    use std::os::unix::net::UnixStream;
    let dir = std::env::temp_dir().join(format!("winddown-unix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("app.sock");
    let _ = std::fs::remove_file(&path);
    let mut p = start(
        "unix",
        &[("SOCKET", path.to_str().unwrap()), ("HOOK_MS", "500")],
    );
    let ask = |req: &[u8]| {
        let mut s = UnixStream::connect(&path).unwrap();
        s.set_read_timeout(Some(PATIENCE)).unwrap();
        s.write_all(req).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    let peer = ask(b"GET /peer HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert!(
        peer.starts_with("HTTP/1.1 200") && peer.contains("unix peer"),
        "{peer}"
    );
    // A request in flight at SIGTERM completes over the Unix socket.
    let path2 = path.clone();
    let call = thread::spawn(move || {
        let mut s = UnixStream::connect(&path2).unwrap();
        s.write_all(b"GET /work?ms=1000 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    });
    thread::sleep(Duration::from_millis(300));
    p.signal(SIGTERM);
    let done = call.join().unwrap();
    assert!(
        done.starts_with("HTTP/1.1 200") && done.ends_with("done"),
        "{done}"
    );
    assert_eq!(p.exit_code(), 0, "{}", p.stderr());
    let _ = std::fs::remove_dir_all(&dir);
}

/// One metric's value in Prometheus text (the first line whose name and labels
/// start with `series`).
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[test]
fn metrics_follow_the_shutdown_on_the_probes_port() {
    let (mut p, app, probes) =
        start_tcp_probes(&[("METRICS", "on"), ("DRAIN_MS", "800"), ("HOOK_MS", "2500")]);
    let scrape = || {
        let r = get(probes, "/metrics");
        assert_eq!(r.status, 200, "{}", r.body);
        r.body
    };
    let before = scrape();
    assert_eq!(metric(&before, "winddown_ready"), Some(1.0), "{before}");
    assert_eq!(
        metric(&before, "winddown_readiness_state"),
        Some(1.0),
        "{before}"
    );
    let call = thread::spawn(move || {
        raw(
            app,
            b"GET /work?ms=500 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        )
    });
    thread::sleep(Duration::from_millis(150));
    p.signal(SIGTERM);
    assert!(call.join().unwrap().unwrap().starts_with("HTTP/1.1 200"));
    p.wait_for("hook started");
    let during = scrape();
    assert_eq!(metric(&during, "winddown_ready"), Some(0.0), "{during}");
    assert_eq!(
        metric(&during, "winddown_readiness_state"),
        Some(2.0),
        "{during}"
    );
    assert_eq!(
        metric(&during, "winddown_shutdowns_started_total{"),
        Some(1.0),
        "{during}"
    );
    assert!(during.contains("cause=\"SIGTERM\""), "{during}");
    assert_eq!(
        metric(&during, "winddown_in_flight_calls"),
        Some(0.0),
        "{during}"
    );
    for step in ["readiness", "drain delay", "intake", "in-flight calls"] {
        assert!(
            during.contains(&format!("step=\"{step}\"")),
            "no duration for step `{step}`: {during}"
        );
    }
    assert_eq!(p.exit_code(), 0, "{}", p.stderr());
}

#[test]
fn many_late_h2c_connections_each_get_the_503() {
    // After intake close, 60 HTTP/2 clients at once (hyper's, which sends its
    // request without waiting for the server's SETTINGS): each is answered 503,
    // none sees GOAWAY before its answer, none a reset.
    let (mut p, app) = start_tcp(&[("HOOK_MS", "3000")]);
    p.signal(SIGTERM);
    p.wait_for("hook started");
    let results = runtime().block_on(async {
        let calls = (0..60).map(|_| {
            tokio::spawn(async move {
                let mut send = h2(app).await;
                h2_get(&mut send, "/work").await.map(|(status, _)| status)
            })
        });
        let mut out = Vec::new();
        for call in calls.collect::<Vec<_>>() {
            out.push(call.await.unwrap());
        }
        out
    });
    let bad: Vec<_> = results.iter().filter(|r| !matches!(r, Ok(503))).collect();
    assert!(bad.is_empty(), "{bad:?}\n{}", p.stderr());
    assert_eq!(p.exit_code(), 0, "{}", p.stderr());
}
