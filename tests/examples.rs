//! Each example, run as a real process on free ports, answering real requests and
//! stopped with a real SIGTERM.

mod common;

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
