//! Bad input at the probes port and at the app (axum, through `svc.serve`): 10,000+
//! malformed, truncated, oversized and slow requests while requests are in flight.
//! The service keeps answering `/health` within a loose bound, loses none of the
//! work in flight, and still shuts down cleanly. Its own test binary.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::*;

/// The kinds of bad request, cycled through.
fn bad(i: usize) -> Vec<u8> {
    match i % 10 {
        0 => b"\x00\x01\x02\x03garbage\r\n\r\n".to_vec(),
        1 => b"GET /health HTTP/1.1\r\nHost".to_vec(), // truncated, then closed
        2 => format!(
            "GET /health HTTP/1.1\r\nX-Big: {}\r\n\r\n",
            "a".repeat(70_000)
        )
        .into_bytes(),
        3 => b"BREW /coffee HTCPCP/1.0\r\n\r\n".to_vec(),
        4 => b"GET /health HTTP/9.9\r\n\r\n".to_vec(),
        5 => b"POST /ready HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\nabc".to_vec(),
        6 => format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "p".repeat(20_000)).into_bytes(),
        7 => {
            b"GET /health HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nzz\r\n"
                .to_vec()
        }
        8 => b"\r\n\r\n\r\n\r\n".to_vec(),
        _ => b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /ready HTTP/1.1\r\n\r\n\xff\xfe".to_vec(),
    }
}

fn send_bad(addr: SocketAddr, i: usize) {
    let Ok(mut conn) = TcpStream::connect_timeout(&addr, Duration::from_secs(5)) else {
        return;
    };
    let _ = conn.set_read_timeout(Some(Duration::from_millis(20)));
    let _ = conn.write_all(&bad(i));
    // Every other one hangs up its sending side at once; the rest just stop talking.
    if i % 20 < 10 {
        let _ = conn.shutdown(std::net::Shutdown::Write);
    }
    let mut sink = [0u8; 512];
    let _ = conn.read(&mut sink); // read a little of the answer, if any, then drop
}

#[test]
fn ten_thousand_bad_requests_disturb_nothing() {
    let mut p = Proc::start("http", &[("SERVER", "axum")]);
    let app: SocketAddr = p.wait_for("listening on http://").trim().parse().unwrap();
    let probes = p.wait_ready();

    // Work in flight through the whole barrage.
    let work: Vec<_> = (0..8)
        .map(|_| thread::spawn(move || get(app, "/work?ms=4000")))
        .collect();
    // Slow clients that never finish their headers, held open throughout.
    let slow: Vec<TcpStream> = (0..50)
        .map(|i| {
            let target = if i % 2 == 0 { probes } else { app };
            let mut c = TcpStream::connect(target).unwrap();
            c.write_all(b"GET /health HTTP/1.1\r\nHo").unwrap();
            c
        })
        .collect();

    let done = Arc::new(AtomicBool::new(false));
    let worst_health_ms = Arc::new(AtomicU64::new(0));
    let watcher = {
        let (done, worst) = (done.clone(), worst_health_ms.clone());
        thread::spawn(move || {
            let mut failures = 0;
            while !done.load(Ordering::Relaxed) {
                let t = Instant::now();
                if get(probes, "/health").status != 200 {
                    failures += 1;
                }
                worst.fetch_max(t.elapsed().as_millis() as u64, Ordering::Relaxed);
                thread::sleep(Duration::from_millis(20));
            }
            failures
        })
    };

    const TOTAL: usize = 10_000;
    let senders: Vec<_> = (0..8)
        .map(|t| {
            thread::spawn(move || {
                for i in (t..TOTAL).step_by(8) {
                    send_bad(if i % 2 == 0 { probes } else { app }, i);
                }
            })
        })
        .collect();
    for s in senders {
        s.join().unwrap();
    }
    done.store(true, Ordering::Relaxed);
    let health_failures = watcher.join().unwrap();
    drop(slow);

    for w in work {
        let rsp = w.join().unwrap();
        assert_eq!(
            (rsp.status, rsp.body.as_str()),
            (200, "done"),
            "work in flight was lost"
        );
    }
    assert_eq!(health_failures, 0, "/health failed during the barrage");
    let worst = worst_health_ms.load(Ordering::Relaxed);
    assert!(worst < 5_000, "/health took {worst} ms at worst");
    eprintln!("{TOTAL} bad requests; /health answered within {worst} ms at worst");

    assert_eq!(get(probes, "/ready").status, 200);
    p.signal(SIGTERM);
    assert_eq!(p.exit_code(), 0, "{}", p.stderr());
}
