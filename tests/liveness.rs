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

/// Polls `/health` until its answer satisfies `want`; returns that answer.
fn health_until(probes: std::net::SocketAddr, what: &str, want: impl Fn(&Rsp) -> bool) -> Rsp {
    let until = Instant::now() + PATIENCE;
    loop {
        let rsp = get(probes, "/health");
        if want(&rsp) {
            return rsp;
        }
        assert!(
            Instant::now() < until,
            "/health never {what}; last: {rsp:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn a_tick_past_its_stall_fails_health_naming_the_worker_then_recovers() {
    let mut p = Proc::start_bin(FIXTURE, "stalled_tick", &[]);
    let probes = p.probes("ready");
    assert_eq!(get(probes, "/health").status, 200);
    let sick = health_until(probes, "turned 503", |r| r.status == 503);
    assert!(
        sick.body
            .contains("stalled: worker `Poller` has not moved for"),
        "{sick:?}"
    );
    // Readiness is another question: the service still serves.
    assert_eq!(get(probes, "/ready").status, 200);
    let well = health_until(probes, "recovered", |r| r.status == 200);
    assert_eq!(well.body.trim(), "ok");
    p.wait_for("slow tick ended");
    p.signal(SIGTERM);
    assert_eq!(p.exit_code(), 0, "{}", p.stderr());
}

#[test]
fn a_quiet_run_loop_fails_health_and_stops_the_systemd_watchdog_pings() {
    use std::os::unix::net::UnixDatagram;
    use std::time::Duration;
    let dir = std::env::temp_dir().join(format!("winddown-stall-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("notify.sock");
    let _ = std::fs::remove_file(&path);
    let sock = UnixDatagram::bind(&path).unwrap();
    let env = [
        ("NOTIFY_SOCKET", path.to_str().unwrap()),
        ("WATCHDOG_USEC", "200000"),
        ("BEATS", "20"),
    ];
    let mut p = Proc::start_bin(FIXTURE, "stalled_loop", &env);
    let probes = p.probes("ready");
    // Pings (every 100 ms) while the consumer beats.
    let pings = |sock: &UnixDatagram, for_: Duration| {
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let until = Instant::now() + for_;
        let mut n = 0;
        let mut buf = [0u8; 512];
        while Instant::now() < until {
            if let Ok(len) = sock.recv(&mut buf) {
                n += usize::from(&buf[..len] == b"WATCHDOG=1\n");
            }
        }
        n
    };
    // Once it has gone quiet (a loaded machine may delay a beat past the bound
    // before that, which is a stall too), /health must name it.
    p.wait_for("consumer quiet");
    let sick = health_until(probes, "turned 503", |r| {
        r.status == 503 && r.body.contains("worker `consumer` has not moved")
    });
    assert_eq!(sick.status, 503);
    // A ping sent just before /health turned may still be in the socket: drain it.
    pings(&sock, Duration::from_millis(150));
    assert_eq!(
        pings(&sock, Duration::from_secs(1)),
        0,
        "the watchdog is still pinged while the worker is stalled"
    );
    p.assert_log("not alive: the systemd watchdog is no longer pinged");
    p.signal(SIGTERM);
    assert_eq!(p.exit_code(), 0, "{}", p.stderr());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_blocked_runtime_fails_health_though_the_probes_still_answer() {
    let mut p = Proc::start_bin(FIXTURE, "blocked_runtime", &[("BLOCK_MS", "3000")]);
    let probes = p.probes("ready");
    assert_eq!(
        health_until(probes, "answered 200", |r| r.status == 200).status,
        200
    );
    let sick = health_until(probes, "turned 503", |r| r.status == 503);
    assert!(sick.body.contains("runtime stalled"), "{sick:?}");
    let ready = get(probes, "/ready");
    assert_eq!(ready.status, 503, "{ready:?}");
    let well = health_until(probes, "recovered", |r| r.status == 200);
    assert_eq!(well.body.trim(), "ok");
    p.wait_for("runtime unblocked");
    p.signal(SIGTERM);
    assert_eq!(p.exit_code(), 0, "{}", p.stderr());
}

#[test]
fn a_failing_critical_worker_restarts_with_growing_delays_then_stops_the_service() {
    let mut p = Proc::start_bin(FIXTURE, "flaky_critical", &[]);
    assert_eq!(p.exit_code(), 1, "{}", p.stderr());
    let runs: Vec<u64> = p
        .events
        .iter()
        .filter_map(|e| e.split("at_ms=").nth(1))
        .map(|ms| ms.trim().parse().unwrap())
        .collect();
    // The first run and three restarts, then the budget is spent.
    assert_eq!(runs.len(), 4, "{:?}\n{}", p.events, p.stderr());
    for (i, min) in [100, 200, 400].into_iter().enumerate() {
        let gap = runs[i + 1] - runs[i];
        assert!(
            gap >= min,
            "restart {} came after {gap} ms, before its {min} ms backoff",
            i + 1
        );
    }
    let log = p.stderr();
    for attempt in 1..=3 {
        assert!(
            log.contains(&format!("worker failed; restarting after backoff service=flaky_critical worker=Flaky attempt={attempt}")),
            "restart {attempt} not logged:\n{log}"
        );
    }
    p.assert_log("worker failed; its restarts are exhausted");
    p.assert_log("cause=critical worker `Flaky` stopped");
}

#[test]
fn a_panicking_worker_is_restarted_and_once_healed_the_shutdown_is_clean() {
    let mut p = Proc::start_bin(FIXTURE, "heals", &[]);
    p.wait_for("ready");
    p.wait_for("healed");
    p.signal(SIGTERM);
    assert_eq!(p.exit_code(), 0, "{}", p.stderr());
    let log = p.stderr();
    assert!(log.contains("error=panicked: run 1 exploded"), "{log}");
    assert!(log.contains("error=panicked: run 2 exploded"), "{log}");
    p.assert_log("step=Heals outcome=ok");
}

#[test]
fn quit_during_a_restart_backoff_ends_the_worker_at_once() {
    let mut p = Proc::start_bin(FIXTURE, "slow_to_retry", &[]);
    p.wait_for("ready");
    p.wait_for("failed, backing off");
    let signalled = Instant::now();
    p.signal(SIGTERM);
    // The worker failed and is not back: an honest 1, and no 30 s wait.
    assert_eq!(p.exit_code(), 1, "{}", p.stderr());
    let took = signalled.elapsed();
    assert!(
        took.as_secs() < 10,
        "the backoff held the shutdown for {took:?}"
    );
    p.assert_log("step=SlowToRetry outcome=failed: no disk");
}
