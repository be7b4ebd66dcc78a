//! systemd socket activation with real processes: restarts of the `complete`
//! example on sockets held across them (winddown's harness, as systemd holds them),
//! `complete` under the real `systemd-socket-activate`, and the shipped unit files
//! checked against the example's configuration.

mod common;

/// The `complete` example's code, for its generated `service_config()`.
#[allow(dead_code)]
#[path = "../examples/complete.rs"]
mod complete_example;

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use common::*;
use winddown::testing::{Handover, Restarts};

fn restarts(handover: Handover) {
    let report = Restarts::new(Proc::example_path("complete"))
        .sockets(["app", "probes"])
        .restarts(3)
        .clients(4)
        .keep_alive_clients(2)
        .path("/work?ms=20")
        .handover(handover)
        .run()
        .expect("the restarts run");
    println!("{handover:?}: {report}");
    assert!(report.ok > 0, "{report}");
    assert_eq!(
        (report.refused, report.reset, report.failed),
        (0, 0, 0),
        "{report}\n{}",
        report.stderr.join("\n---\n")
    );
    assert_eq!(report.unavailable, 0, "nothing answered 503: {report}");
    assert_eq!(report.exit_codes, [0, 0, 0, 0], "{report}");
    for stderr in &report.stderr {
        assert!(
            stderr.contains("listener inherited: leaving its queue to the successor"),
            "{stderr}"
        );
        assert!(
            stderr.contains("inherited: queue left to the successor"),
            "{stderr}"
        );
    }
    // Loose: a request waits at most for the old process's drain and the
    // successor's start, far from the clients' 30 s connect bound.
    assert!(report.longest_wait < Duration::from_secs(20), "{report}");
}

#[test]
fn three_restarts_of_complete_under_load_lose_no_request() {
    restarts(Handover::AfterExit);
}

#[test]
fn three_restarts_with_the_successor_started_at_the_signal_lose_no_request() {
    restarts(Handover::AtSignal);
}

fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

#[test]
fn complete_under_systemd_socket_activate_serves_on_the_passed_sockets_and_drains() {
    let tool = "/usr/bin/systemd-socket-activate";
    assert!(
        std::path::Path::new(tool).exists(),
        "{tool} is missing: install Debian's `systemd` package (.ci/deps does)"
    );
    let (app, probes) = (free_addr(), free_addr());
    let mut cmd = Command::new(tool);
    cmd.arg(format!("--listen={app}"))
        .arg(format!("--listen={probes}"))
        .arg("--fdname=app:probes")
        .arg(Proc::example_path("complete"));
    // No APP_ADDR/PROBES_ADDR: the example must serve on what it is passed.
    let mut p = Proc::command(cmd, "complete under systemd-socket-activate", &[]);
    // Once the tool listens, it starts the service on the first connection, which
    // waits in the queue meanwhile.
    let until = std::time::Instant::now() + PATIENCE;
    while !p.stderr().contains(&format!("Listening on {probes}")) {
        assert!(std::time::Instant::now() < until, "{}", p.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
    let ready = wait_ready_status(probes, 200);
    assert_eq!(ready.status, 200, "{ready:?}\n{}", p.stderr());
    let printed: SocketAddr = p.wait_for("listening on http://").trim().parse().unwrap();
    assert_eq!(printed, app);
    let printed: SocketAddr = p.wait_for("probes on http://").trim().parse().unwrap();
    assert_eq!(printed, probes);
    let rsp = get(app, "/work?ms=10");
    assert_eq!((rsp.status, rsp.body.as_str()), (200, "done"));
    let slow = std::thread::spawn(move || get(app, "/work?ms=2500"));
    std::thread::sleep(Duration::from_millis(300));
    p.signal(SIGTERM);
    assert_eq!(slow.join().unwrap().status, 200);
    assert_eq!(p.exit_code(), 0, "{}", p.stderr());
    p.assert_log("listener inherited from the service manager name=\"app\" fd=3");
    p.assert_log("listener inherited from the service manager name=\"probes\" fd=4");
    p.assert_log("listener inherited: leaving its queue to the successor");
    p.assert_log(&format!(
        "note=\"listeners {app} inherited: queue left to the successor\""
    ));
    p.assert_log("shutdown complete service=complete cause=signal SIGTERM");
}

#[test]
fn a_passed_socket_that_does_not_listen_is_a_clear_start_up_error() {
    let tool = "/usr/bin/systemd-socket-activate";
    assert!(std::path::Path::new(tool).exists(), "{tool} is missing");
    let probes = free_addr();
    let mut cmd = Command::new(tool);
    cmd.arg("--datagram")
        .arg(format!("--listen={probes}"))
        .arg("--fdname=probes")
        .arg(Proc::example_path("complete"));
    let mut p = Proc::command(
        cmd,
        "complete with a datagram socket",
        &[("APP_ADDR", "127.0.0.1:0")],
    );
    // The tool starts the service on the first datagram.
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let until = std::time::Instant::now() + PATIENCE;
    while p.is_running() && !p.stderr().contains("Execing") && std::time::Instant::now() < until {
        let _ = udp.send_to(b"hello", probes);
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(p.exit_code(), 1, "{}", p.stderr());
    p.assert_log("the socket `probes` passed by the service manager (fd 3) is a datagram socket");
    p.assert_log("not a listening TCP socket");
}

#[test]
fn the_shipped_units_agree_with_complete() {
    let config = complete_example::service_config().expect("a valid configuration");
    let units = winddown::systemd::Units::new(include_str!("../deploy/systemd/complete.service"))
        .socket(include_str!("../deploy/systemd/complete-app.socket"))
        .socket(include_str!("../deploy/systemd/complete-probes.socket"))
        .listener("app");
    if let Err(mismatches) = winddown::systemd::check(&config, units) {
        panic!("{mismatches}");
    }
}

#[test]
fn passed_sockets_are_read_once_taken_by_name_and_hidden_from_children() {
    let tool = "/usr/bin/systemd-socket-activate";
    assert!(std::path::Path::new(tool).exists(), "{tool} is missing");
    let app = free_addr();
    let mut cmd = Command::new(tool);
    cmd.arg(format!("--listen={app}"))
        .arg("--fdname=app")
        .arg("--setenv=ADMIN_ADDR=127.0.0.1:0")
        .arg("--setenv=PROBES_ADDR=127.0.0.1:0")
        .arg(env!("CARGO_BIN_EXE_winddown-fixture"))
        .arg("listen_fds");
    let mut p = Proc::command(cmd, "listen_fds under systemd-socket-activate", &[]);
    let until = std::time::Instant::now() + PATIENCE;
    while !p.stderr().contains(&format!("Listening on {app}")) {
        assert!(std::time::Instant::now() < until, "{}", p.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
    // The first connection starts the service; it is answered once setup is done.
    let first = std::thread::spawn(move || get(app, "/work?ms=1"));
    // Read before the runtime started, then removed from the environment.
    assert_eq!(
        p.wait_for("setup sees "),
        "LISTEN_FDS=unset LISTEN_PID=unset LISTEN_FDNAMES=unset"
    );
    assert_eq!(
        p.wait_for("a child sees "),
        "LISTEN_FDS=unset LISTEN_FDNAMES=unset"
    );
    assert_eq!(p.wait_for("app on ").parse::<SocketAddr>().unwrap(), app);
    let admin: SocketAddr = p.wait_for("admin on ").parse().unwrap();
    assert_ne!(admin.port(), app.port());
    p.wait_ready();
    assert_eq!(first.join().unwrap().status, 200);
    assert_eq!(get(admin, "/work?ms=1").status, 200);
    p.signal(SIGTERM);
    assert_eq!(p.exit_code(), 0, "{}", p.stderr());
    p.assert_log(&format!(
        "note=\"listeners {app} inherited: queue left to the successor; {admin} bound: queue \
         answered 503\""
    ));
}

#[test]
fn without_names_the_app_takes_the_passed_socket_by_position() {
    let tool = "/usr/bin/systemd-socket-activate";
    assert!(std::path::Path::new(tool).exists(), "{tool} is missing");
    let app = free_addr();
    let mut cmd = Command::new(tool);
    cmd.arg(format!("--listen={app}"))
        .arg("--setenv=PROBES_ADDR=127.0.0.1:0")
        .arg(Proc::example_path("complete"));
    let mut p = Proc::command(cmd, "complete, one unnamed socket", &[]);
    let until = std::time::Instant::now() + PATIENCE;
    while !p.stderr().contains(&format!("Listening on {app}")) {
        assert!(std::time::Instant::now() < until, "{}", p.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
    let first = std::thread::spawn(move || get(app, "/work?ms=1"));
    // The probes (no socket named `probes`) bind PROBES_ADDR.
    let probes: SocketAddr = p.wait_for("probes on http://").trim().parse().unwrap();
    assert_ne!(probes.port(), app.port());
    assert_eq!(wait_ready_status(probes, 200).status, 200);
    assert_eq!(first.join().unwrap().status, 200);
    p.signal(SIGTERM);
    assert_eq!(p.exit_code(), 0, "{}", p.stderr());
    p.assert_log("listener inherited from the service manager name=\"app\" fd=3");
}
