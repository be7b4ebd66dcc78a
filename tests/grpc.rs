//! The tracked gRPC server (`svc.serve_grpc`) with a real tonic client over a real
//! socket: calls in flight at SIGTERM finish, calls after intake close get
//! UNAVAILABLE, and the standard health service follows readiness.

mod common;
#[path = "common/sleeper.rs"]
mod sleeper;

use std::time::{Duration, Instant};

use common::*;
use tonic::Code;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn health(channel: &Channel) -> i32 {
    let mut client = HealthClient::new(channel.clone());
    client
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health check")
        .into_inner()
        .status
}

/// The `in-flight calls` step of the report: how long the drain waited.
fn drain_ms(log: &str) -> u64 {
    let line = log
        .lines()
        .find(|l| l.contains("phase=\"in_flight\" step=in-flight calls"))
        .expect("the report has the drain");
    // The report's fields go on after `elapsed_ms` (`ran_with`): read the digits.
    let rest = line.split("elapsed_ms=").nth(1).unwrap();
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap()
}

#[test]
fn grpc_calls_in_flight_at_sigterm_finish_and_health_turns_not_serving_at_once() {
    // No slow hook: only the drain keeps the process alive for the call.
    let mut p = Proc::start("grpc", &[("DRAIN_MS", "1500")]);
    let addr = format!("http://{}", p.wait_for("listening on http://").trim());
    p.wait_ready();
    runtime().block_on(async {
        let channel = Channel::from_shared(addr).unwrap().connect().await.unwrap();
        assert_eq!(health(&channel).await, ServingStatus::Serving as i32);

        let in_flight = tokio::spawn(sleeper::sleep(channel.clone(), 2500));
        tokio::time::sleep(Duration::from_millis(300)).await;
        p.signal(SIGTERM);

        // NOT_SERVING the moment the shutdown starts, while the drain delay runs.
        let until = Instant::now() + PATIENCE;
        while health(&channel).await != ServingStatus::NotServing as i32 {
            assert!(Instant::now() < until, "health never turned NOT_SERVING");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Still serving during the drain delay.
        let during = sleeper::sleep(channel.clone(), 1).await;
        assert_eq!(during.as_ref().ok(), Some(&1), "{during:?}");
        // The call in flight at SIGTERM finishes, after intake closed.
        assert_eq!(in_flight.await.unwrap().unwrap(), 2500);
    });
    assert_eq!(p.exit_code(), 0, "{}", p.stderr());
    let log = p.stderr();
    assert!(log.contains("step=in-flight calls outcome=ok"), "{log}");
    // Intake closed 1.5s after SIGTERM; the call ended ~2.2s after: the drain waited.
    assert!(
        drain_ms(&log) >= 300,
        "the drain did not wait for the call: {log}"
    );
}

#[test]
fn grpc_health_says_not_serving_until_setup_has_finished() {
    let mut p = Proc::start("grpc", &[("SETUP_MS", "1500")]);
    let addr = format!("http://{}", p.wait_for("listening on http://").trim());
    p.wait_for("setup still running");
    runtime().block_on(async {
        let channel = Channel::from_shared(addr).unwrap().connect().await.unwrap();
        // The server answers from the first moment; setup has not finished.
        assert_eq!(health(&channel).await, ServingStatus::NotServing as i32);
        // Once setup finishes it turns SERVING.
        let until = Instant::now() + PATIENCE;
        while health(&channel).await != ServingStatus::Serving as i32 {
            assert!(Instant::now() < until, "health never turned SERVING");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    p.wait_for("ready probes=");
    p.signal(SIGTERM);
    assert_eq!(p.exit_code(), 0, "{}", p.stderr());
}

#[test]
fn grpc_calls_after_intake_closed_get_unavailable() {
    let mut p = Proc::start("grpc", &[("HOOK_MS", "3000")]);
    let addr = format!("http://{}", p.wait_for("listening on http://").trim());
    p.wait_ready();
    let rt = runtime();
    let channel = rt.block_on(async {
        let channel = Channel::from_shared(addr.clone())
            .unwrap()
            .connect()
            .await
            .unwrap();
        assert_eq!(sleeper::sleep(channel.clone(), 1).await.unwrap(), 1);
        channel
    });
    p.signal(SIGTERM);
    p.wait_for("hook started"); // intake has closed
    rt.block_on(async {
        let refused = sleeper::sleep(channel.clone(), 1).await.unwrap_err();
        assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
        // A new connection after intake close is answered, with UNAVAILABLE too
        // (or, once the listener has closed, refused: also UNAVAILABLE).
        match Channel::from_shared(addr).unwrap().connect().await {
            Ok(fresh) => {
                let late = sleeper::sleep(fresh, 1).await.unwrap_err();
                assert_eq!(late.code(), Code::Unavailable, "{late:?}");
            }
            Err(error) => panic!("a connection after intake close was not answered: {error}"),
        }
    });
    assert_eq!(p.exit_code(), 0, "{}", p.stderr());
}
