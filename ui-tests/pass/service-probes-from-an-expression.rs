//! `probes` from the environment at start-up; `std::io::Result` as the setup's result;
//! `?` inside the body; durations in every unit.
use winddown::{Service, on_shutdown, service};

#[on_shutdown(order = 1, timeout = "1m30s")]
async fn slow_close() -> std::io::Result<()> {
    Ok(())
}

#[on_shutdown(order = 2, timeout = "250ms")]
async fn quick() {}

#[service(
    name = "from-env",
    grace = "1h",
    drain_delay = "0ms",
    probes = std::env::var("WINDDOWN_TEST_PROBES").unwrap_or_else(|_| "127.0.0.1:0".to_string()),
    signals = ["TERM", "sigint", "SIGHUP"],
    on_shutdown = [quick, slow_close],
)]
async fn main(svc: Service) -> std::io::Result<()> {
    let addr = svc.probes_addr().ok_or_else(|| std::io::Error::other("no probes"))?;
    assert!(addr.port() != 0);
    svc.shutdown().trigger();
    Ok(())
}
