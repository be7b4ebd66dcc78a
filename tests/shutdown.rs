//! The shutdown sequence, proven on real processes: each test starts the fixture,
//! sends it real signals, talks to its probes over real sockets, and checks what it
//! printed, what it logged, and how it exited.

mod common;

use std::net::TcpListener;
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use common::*;

#[test]
fn sigterm_runs_hooks_in_order_and_exits_0() {
    let mut p = Proc::start("clean", &[]);
    p.wait_ready();
    p.wait_for("tick");
    p.signal(SIGTERM);
    assert_eq!(p.exit_code(), 0);
    assert!(p.position("hook a state=fixture") < p.position("hook b"));
    p.assert_log("signal=SIGTERM");
    p.assert_log("step=ticker outcome=ok");
    p.assert_log("shutdown complete service=clean cause=signal SIGTERM");
    p.assert_log("exit_code=0");
}

#[test]
fn sigint_starts_the_same_shutdown() {
    let mut p = Proc::start("clean", &[]);
    p.wait_ready();
    p.signal(SIGINT);
    assert_eq!(p.exit_code(), 0);
    assert!(p.has_event("hook b"));
    p.assert_log("cause=signal SIGINT");
}

#[test]
fn ready_turns_503_during_the_drain_delay_while_health_stays_200() {
    let mut p = Proc::start("clean", &[("DRAIN_MS", "3000")]);
    let probes = p.wait_ready();
    assert_eq!(get(probes, "/ready").body, "ready");

    p.signal(SIGTERM);
    let during = wait_ready_status(probes, 503);
    assert_eq!(during.status, 503);
    assert_eq!(during.body, "shutting down");
    assert!(
        during
            .head
            .to_ascii_lowercase()
            .contains("connection: close")
    );
    assert_eq!(get(probes, "/health").status, 200);
    // Still in the delay: the process serves on and no hook has run yet.
    assert!(p.is_running());
    assert!(
        !p.has_event("hook"),
        "hooks ran during the drain delay: {:?}",
        p.events
    );

    assert_eq!(p.exit_code(), 0);
    p.assert_log("step=drain delay outcome=ok");
}

#[test]
fn calls_in_flight_finish_before_hooks_and_later_calls_are_refused() {
    let mut p = Proc::start("inflight", &[]);
    p.wait_for("calls started");
    p.wait_ready();
    p.signal(SIGTERM);
    assert_eq!(p.exit_code(), 0);
    let refused = p.position("late call refused: service is shutting down");
    for i in 0..3 {
        assert!(p.position(&format!("call {i} done")) < refused);
    }
    assert!(refused < p.position("hook b"));
    p.assert_log("intake closed service=inflight phase=\"intake\" in_flight=3");
}

#[test]
fn hook_error_panic_hang_and_blocked_thread_are_recorded_and_the_next_hook_runs() {
    let mut p = Proc::start("hook_faults", &[]);
    p.wait_ready();
    p.signal(SIGTERM);
    assert_eq!(p.exit_code(), 1);
    for hook in [
        "hook fails",
        "hook panics",
        "hook hangs",
        "hook blocks its thread",
    ] {
        assert!(p.position(hook) < p.position("hook last state=fixture"));
    }
    p.assert_log("step=fails outcome=failed: flush failed: disk full");
    p.assert_log("step=panics outcome=panicked: hook exploded");
    p.assert_log("step=hangs outcome=timed out after 300ms");
    p.assert_log("step=blocks outcome=timed out after 300ms");
    p.assert_log("step=last outcome=ok");
    p.assert_log("shutdown complete with failures");
    assert!(!p.stderr().contains("grace exhausted"));
}

#[test]
fn worker_faults_tick_errors_go_on_panics_are_reported_stubborn_workers_are_aborted() {
    let mut p = Proc::start("worker_faults", &[]);
    p.wait_ready();
    p.wait_for("erring tick 3"); // errors do not end the loop
    p.wait_for("panicking tick");
    p.signal(SIGTERM);
    assert_eq!(p.exit_code(), 1);
    p.assert_log("tick failed; the worker goes on");
    p.assert_log("step=erring outcome=ok");
    p.assert_log("step=panicking outcome=panicked: tick exploded");
    p.assert_log("step=stubborn outcome=timed out after 400ms");
    assert!(p.has_event("hook b"));
}

#[test]
fn a_critical_worker_failing_starts_the_shutdown() {
    let mut p = Proc::start("critical", &[]);
    p.wait_for("ready"); // it shuts itself down: no need to be ready
    assert_eq!(p.exit_code(), 1);
    assert!(p.has_event("hook b"));
    p.assert_log("cause=critical worker `consumer` stopped");
    p.assert_log("outcome=failed: broker connection lost");
}

#[test]
fn grace_exhausted_names_what_is_pending_and_exits_1() {
    let mut p = Proc::start("setup_hangs", &[("GRACE_MS", "1500")]);
    p.wait_for("setup started");
    let sent = Instant::now();
    p.signal(SIGTERM);
    assert_eq!(p.exit_code(), 1);
    assert!(
        sent.elapsed() >= Duration::from_millis(1400),
        "exited before grace"
    );
    p.assert_log("grace exhausted: exiting with work still pending");
    p.assert_log("pending=[\"setup\"]");
}

#[test]
fn a_second_signal_exits_at_once_with_128_plus_its_number() {
    for (second, code) in [(SIGINT, 130), (SIGTERM, 143)] {
        let mut p = Proc::start("slow_hook", &[]);
        p.wait_ready();
        p.signal(SIGTERM);
        p.wait_for("hook sleeping");
        p.signal(second);
        assert_eq!(p.exit_code(), code);
        p.assert_log("second signal: exiting now");
    }
}

#[test]
fn a_hung_drain_still_leaves_the_hooks_their_time() {
    let mut p = Proc::start("hung_drain", &[]);
    p.wait_ready();
    p.signal(SIGTERM);
    assert_eq!(p.exit_code(), 1);
    assert!(p.has_event("hook b"));
    p.assert_log("calls still in flight: leaving them so the hooks get their time");
    p.assert_log("step=in-flight calls outcome=timed out");
    p.assert_log("step=b outcome=ok");
    assert!(
        !p.stderr().contains("grace exhausted"),
        "the watchdog had to step in"
    );
}

#[test]
fn a_stuck_blocking_task_does_not_hold_the_exit() {
    let mut p = Proc::start("stuck_blocking", &[]);
    p.wait_ready();
    p.signal(SIGTERM);
    // With the runtime dropped normally this would wait for the task until the
    // watchdog fired at grace (10s) and exit 1.
    assert_eq!(p.exit_code(), 0);
    assert!(!p.stderr().contains("grace exhausted"));
}

#[test]
fn setup_error_exits_1_with_its_message_and_hooks_without_state_still_run() {
    let mut p = Proc::start("setup_error", &[]);
    assert_eq!(p.exit_code(), 1);
    p.assert_log("setup did not finish");
    p.assert_log("failed: database unreachable: connection refused");
    p.assert_log("cause=setup failed");
    p.assert_log("step=a outcome=skipped: it takes the state");
    assert!(p.has_event("hook b"));
    assert!(!p.has_event("hook a"));
}

#[test]
fn setup_panic_exits_1_with_the_panic_message() {
    let mut p = Proc::start("setup_panic", &[]);
    assert_eq!(p.exit_code(), 1);
    p.assert_log("outcome=panicked: config file missing");
    assert!(p.has_event("hook b"));
}

#[test]
fn a_probes_port_in_use_is_a_clear_start_up_error() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let mut p = Proc::start("clean", &[("PROBES_ADDR", &addr)]);
    assert_eq!(p.exit_code(), 1);
    p.assert_log(&format!("cannot listen for probes on {addr}"));
    p.assert_log("choose another address with `probes`");
    assert!(!p.stderr().contains("panicked"));
    assert!(!p.has_event("ready"));
}

#[test]
fn trigger_from_many_tasks_starts_one_shutdown() {
    let mut p = Proc::start("trigger", &[]);
    p.wait_for("ready"); // it shuts itself down: no need to be ready
    assert_eq!(p.exit_code(), 0);
    assert!(p.has_event("triggered cause=Some(Triggered)"));
    assert!(p.has_event("hook b"));
    assert_eq!(p.stderr().matches("shutdown started").count(), 1);
    p.assert_log("cause=trigger() called");
}

#[test]
fn a_signal_during_setup_lets_setup_finish_but_never_turns_ready() {
    let mut p = Proc::start("slow_setup", &[]);
    let probes = p.probes("setup started");
    let starting = get(probes, "/ready");
    assert_eq!((starting.status, starting.body.as_str()), (503, "starting"));
    p.signal(SIGTERM);
    p.wait_for("setup finished");
    assert_eq!(p.exit_code(), 0);
    assert!(p.has_event("hook a state=fixture"));
    p.assert_log("ready=false");
    p.assert_log("step=drain delay outcome=skipped: the service was never ready");
}

#[test]
fn readiness_checks_gate_ready_and_say_why() {
    let dir = std::env::temp_dir().join(format!("winddown-checks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("db");
    std::fs::write(&db, "up").unwrap();
    let mut p = Proc::start("checks", &[("DB_STATE", db.to_str().unwrap())]);
    let probes = p.wait_ready();

    std::fs::write(&db, "down").unwrap();
    let down = get(probes, "/ready");
    assert_eq!(down.status, 503);
    assert_eq!(down.body, "check db failed: connection refused");

    std::fs::write(&db, "hang").unwrap();
    let hung = get(probes, "/ready");
    assert_eq!(hung.status, 503);
    assert_eq!(hung.body, "check db failed: timed out after 300ms");
    assert_eq!(
        get(probes, "/health").status,
        200,
        "liveness ignores checks"
    );

    std::fs::write(&db, "up").unwrap();
    assert_eq!(get(probes, "/ready").status, 200);
    p.signal(SIGTERM);
    assert_eq!(p.exit_code(), 0);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn probes_answer_404_405_and_shrug_off_garbage_and_slow_clients() {
    let mut p = Proc::start("clean", &[]);
    let probes = p.wait_ready();
    assert_eq!(get(probes, "/nope").status, 404);
    let post = request(probes, "POST", "/ready");
    assert_eq!(post.status, 405);
    assert!(post.head.contains("allow: GET, HEAD"), "{}", post.head);
    assert_eq!(request(probes, "HEAD", "/health").status, 200);

    // A slow client that never finishes its headers, and garbage.
    let mut slow = std::net::TcpStream::connect(probes).unwrap();
    std::io::Write::write_all(&mut slow, b"GET /health HTTP/1.1\r\nHost: x\r\n").unwrap();
    let garbage = raw(probes, b"\x00\x01\x02 not http at all\r\n\r\n").unwrap_or_default();
    assert!(
        garbage.is_empty() || garbage.starts_with("HTTP/1.1 400"),
        "{garbage:?}"
    );
    let huge = format!(
        "GET /health HTTP/1.1\r\nX: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let huge = raw(probes, huge.as_bytes()).unwrap_or_default();
    assert!(
        huge.is_empty() || huge.starts_with("HTTP/1.1 431"),
        "{huge:?}"
    );

    assert_eq!(get(probes, "/health").status, 200);
    assert_eq!(get(probes, "/ready").status, 200);
    drop(slow);
    p.signal(SIGTERM);
    assert_eq!(p.exit_code(), 0);
}

#[test]
fn systemd_hears_ready_then_stopping() {
    let dir = std::env::temp_dir().join(format!("winddown-notify-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("notify.sock");
    let _ = std::fs::remove_file(&path);
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut p = Proc::start("clean", &[("NOTIFY_SOCKET", path.to_str().unwrap())]);
    let mut buf = [0u8; 512];
    let n = sock.recv(&mut buf).expect("READY=1");
    assert_eq!(&buf[..n], b"READY=1\n");
    p.wait_ready();
    p.signal(SIGTERM);
    let n = sock.recv(&mut buf).expect("STOPPING=1");
    assert_eq!(
        String::from_utf8_lossy(&buf[..n]),
        "STOPPING=1\nEXTEND_TIMEOUT_USEC=10000000\n"
    );
    assert_eq!(p.exit_code(), 0);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn start_hooks_run_after_readiness_flips_and_before_the_drain_delay() {
    let mut p = Proc::start("start_hook", &[]);
    let probes = p.wait_ready();
    p.signal(SIGTERM);
    p.wait_for("start hook");
    // The drain delay (1.5s) has only begun: the end hook has not run.
    assert!(!p.has_event("hook b"), "{:?}", p.events);
    assert_eq!(get(probes, "/ready").status, 503);
    assert_eq!(p.exit_code(), 0);
    assert!(p.position("start hook") < p.position("hook b"));
    p.assert_log("hook=leave_discovery order=2 at=\"start\"");
    let log = p.stderr();
    let start = log.find("step=leave_discovery").unwrap();
    let delay = log.find("step=drain delay").unwrap();
    assert!(
        start < delay,
        "the report lists the start hook before the drain delay"
    );
}

#[test]
fn systemd_watchdog_is_pinged_when_asked() {
    let dir = std::env::temp_dir().join(format!("winddown-watchdog-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("notify.sock");
    let _ = std::fs::remove_file(&path);
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(PATIENCE)).unwrap();
    let env = [
        ("NOTIFY_SOCKET", path.to_str().unwrap()),
        ("WATCHDOG_USEC", "200000"),
    ];
    let mut p = Proc::start("clean", &env);
    let mut pings = 0;
    let mut buf = [0u8; 512];
    while pings < 3 {
        let n = sock.recv(&mut buf).expect("a notification");
        if &buf[..n] == b"WATCHDOG=1\n" {
            pings += 1;
        }
    }
    p.wait_ready();
    p.signal(SIGTERM);
    assert_eq!(p.exit_code(), 0);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn every_hook_timing_out_is_reported_and_the_sequence_still_ends() {
    let mut p = Proc::start("all_hooks_time_out", &[]);
    p.wait_ready();
    p.signal(SIGTERM);
    assert_eq!(p.exit_code(), 1);
    for hook in ["first", "second", "third"] {
        p.assert_log(&format!("step={hook} outcome=timed out after 200ms"));
    }
    assert!(!p.stderr().contains("grace exhausted"));
}

#[test]
fn grace_exhausted_while_calls_still_run_names_them() {
    let mut p = Proc::start("grace_with_calls", &[]);
    p.wait_for("setup started");
    p.signal(SIGTERM);
    assert_eq!(p.exit_code(), 1);
    p.assert_log("grace exhausted: exiting with work still pending");
    p.assert_log("pending=[\"setup\", \"2 in-flight call(s)\"]");
}
