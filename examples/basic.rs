//! The seed's "Basic Pattern" with the attributes: a named service, requests
//! drained at shutdown, and a cleanup that runs before exit, bounded by a timeout.
//!
//! `cargo run --example basic`, then `curl localhost:8080/` and
//! `curl localhost:8081/ready`; Ctrl-C (or `kill -TERM`) shows the report.
//! `APP_ADDR` and `PROBES_ADDR` override the two addresses.

mod shared;

use winddown::{Service, on_shutdown, service};

/// What the Go version runs in `BeforeStop`; here it has an order and a timeout.
#[on_shutdown(order = 1, timeout = "5s")]
async fn cleanup() -> anyhow::Result<()> {
    tracing::info!("service stopping, running cleanup");
    Ok(())
}

#[service(name = "myservice", probes = shared::probes_addr(), on_shutdown = [cleanup])]
async fn main(svc: Service) -> anyhow::Result<()> {
    shared::serve_hello(&svc).await?;
    Ok(())
}
