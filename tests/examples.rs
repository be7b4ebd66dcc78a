//! Each example, run as a real process on free ports, answering real requests and
//! stopped with a real SIGTERM.

mod common;

/// The `kubernetes` example's code, for its generated `service_config()`.
#[allow(dead_code)]
#[path = "../examples/kubernetes.rs"]
mod kubernetes_example;

use std::net::SocketAddr;

use common::*;

fn run_hello_example(name: &str) {
    let mut p = Proc::example(
        name,
        &[("APP_ADDR", "127.0.0.1:0"), ("PROBES_ADDR", "127.0.0.1:0")],
    );
    let app: SocketAddr = p
        .wait_for("listening on http://")
        .trim()
        .parse()
        .expect("the example prints its address");
    let rsp = parse(&raw(app, b"GET / HTTP/1.0\r\n\r\n").expect("request"));
    assert_eq!((rsp.status, rsp.body.as_str()), (200, "hello"));
    p.signal(SIGTERM);
    assert_eq!(p.exit_code(), 0);
    p.assert_log("service stopping, running cleanup");
    p.assert_log("step=cleanup outcome=ok");
    p.assert_log("shutdown complete service=myservice cause=signal SIGTERM");
}

#[test]
fn basic_with_the_attributes_serves_and_stops_cleanly() {
    run_hello_example("basic");
}

#[test]
fn basic_with_the_builder_behaves_the_same() {
    run_hello_example("basic_builder");
}

/// Starts an example on free ports; returns it with its app and probes addresses.
fn start(name: &str) -> (Proc, Option<SocketAddr>, SocketAddr) {
    let mut p = Proc::example(
        name,
        &[("APP_ADDR", "127.0.0.1:0"), ("PROBES_ADDR", "127.0.0.1:0")],
    );
    let probes: SocketAddr = p.wait_for("probes on http://").trim().parse().unwrap();
    let app = p
        .events
        .iter()
        .find_map(|e| e.strip_prefix("listening on http://"))
        .map(|a| a.trim().parse().unwrap());
    let ready = wait_ready_status(probes, 200);
    assert_eq!(ready.status, 200, "[{name}] never ready: {ready:?}");
    (p, app, probes)
}

#[test]
fn complete_finishes_work_in_flight_then_closes_the_database_then_flushes() {
    let (mut p, app, probes) = start("complete");
    let app = app.expect("complete serves HTTP");
    let slow = std::thread::spawn(move || get(app, "/work?ms=2500"));
    std::thread::sleep(std::time::Duration::from_millis(300));
    p.signal(SIGTERM);
    assert_eq!(wait_ready_status(probes, 503).status, 503);
    // Within the 2s drain delay the app still serves.
    assert_eq!(get(app, "/work?ms=1").status, 200);
    let rsp = slow.join().unwrap();
    assert_eq!((rsp.status, rsp.body.as_str()), (200, "done"));
    assert_eq!(p.exit_code(), 0, "{}", p.stderr());
    let log = p.stderr();
    let close = log
        .find("step done service=complete phase=\"hook\" step=\"close_db\"")
        .expect("close_db ran");
    let flush = log
        .find("step done service=complete phase=\"hook\" step=\"flush_metrics\"")
        .expect("flush ran");
    assert!(close < flush);
    // The producer and the cache flush before the database closes.
    for hook in ["stop_producer", "flush_cache"] {
        let done = log
            .find(&format!(
                "step done service=complete phase=\"hook\" step=\"{hook}\" outcome=ok"
            ))
            .unwrap_or_else(|| panic!("{hook} ran clean: {log}"));
        assert!(done < close, "{hook} ended after close_db: {log}");
    }
    p.assert_log("producer flushed events=2");
    p.assert_log("cache flushed sessions=2");
    assert!(!log.contains("grace leaves workers"), "{log}");
    p.assert_log("step=Cleanup outcome=ok");
    p.assert_log("step=Metrics outcome=ok");
    p.assert_log("final metrics requests=2");
}

#[test]
fn complete_answers_bad_input_with_400_and_keeps_serving() {
    let (mut p, app, _) = start("complete");
    let app = app.unwrap();
    assert_eq!(get(app, "/work?ms=soon").status, 400);
    assert_eq!(get(app, "/work?ms=1").status, 200);
    p.signal(SIGINT);
    assert_eq!(p.exit_code(), 0);
}

#[test]
fn database_cleanup_closes_the_pool_within_its_deadline() {
    let (mut p, app, _) = start("database_cleanup");
    let rsp = get(app.unwrap(), "/sessions");
    assert_eq!((rsp.status, rsp.body.as_str()), (200, "0 sessions"));
    p.signal(SIGTERM);
    assert_eq!(p.exit_code(), 0, "{}", p.stderr());
    p.assert_log("closing database connections");
    p.assert_log("database closed");
    p.assert_log("step=close_db outcome=ok");
    // The hook was told how long it had: close to its 10s timeout.
    let log = p.stderr();
    let left: u64 = log
        .split("left_ms=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((5_000..=10_000).contains(&left), "left_ms={left}");
}

#[test]
fn background_workers_stop_when_told() {
    let (mut p, app, _) = start("background_workers");
    assert!(app.is_none());
    std::thread::sleep(std::time::Duration::from_millis(700)); // let the queue consumer work
    p.signal(SIGTERM);
    assert_eq!(p.exit_code(), 0, "{}", p.stderr());
    p.assert_log("queue consumer stopping");
    p.assert_log("step=Cleanup outcome=ok");
    p.assert_log("step=queue outcome=ok");
}

#[test]
fn kubernetes_turns_unready_first_and_keeps_serving_through_the_drain_delay() {
    let (mut p, app, probes) = start("kubernetes");
    let app = app.unwrap();
    let sent = std::time::Instant::now();
    p.signal(SIGTERM);
    assert_eq!(wait_ready_status(probes, 503).body, "shutting down");
    assert_eq!(get(probes, "/health").status, 200);
    // The pod keeps serving while the readiness probe notices (drain_delay 10s).
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(get(app, "/").status, 200);
    assert_eq!(p.exit_code(), 0, "{}", p.stderr());
    assert!(
        sent.elapsed() >= std::time::Duration::from_secs(9),
        "drain delay skipped"
    );
}

#[test]
fn an_app_port_already_taken_is_a_setup_error_with_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let mut p = Proc::example(
        "complete",
        &[("APP_ADDR", &addr), ("PROBES_ADDR", "127.0.0.1:0")],
    );
    assert_eq!(p.exit_code(), 1);
    p.assert_log("setup did not finish");
    p.assert_log(&format!(
        "outcome=failed: cannot listen on {addr}: Address already in use"
    ));
    p.assert_log("cause=setup failed");
    p.assert_log("step=close_db outcome=skipped");
}

#[test]
fn the_kubernetes_manifest_agrees_with_the_service() {
    let config = kubernetes_example::service_config().expect("a valid configuration");
    let manifest = include_str!("../deploy/kubernetes.yaml");
    if let Err(mismatches) = winddown::kubernetes::check(&config, manifest) {
        panic!("{mismatches}");
    }
}
