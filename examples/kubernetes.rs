//! The seed's "Kubernetes Integration": liveness and readiness probes whose timing
//! agrees with the Deployment in `deploy/kubernetes.yaml`.
//!
//! `/health` answers 200 while the process runs; `/ready` answers 200 after setup,
//! while the database answers, and turns 503 the moment SIGTERM arrives. Instead of a
//! `preStop: sleep 10`, the service keeps serving for `drain_delay` after readiness
//! turns false: the readiness probe (every 5s, 2 failures) has marked the pod
//! unready within 10s, before intake closes. `terminationGracePeriodSeconds: 40`
//! leaves room for the whole `grace` of 30s. `cargo run --example kubernetes`.

mod shared;

use std::time::Duration;

use axum::routing::get;
use winddown::{Service, service};

#[service(
    name = "kubernetes",
    grace = "30s",
    drain_delay = "10s",
    probes = shared::probes_addr()
)]
async fn main(svc: Service) -> anyhow::Result<()> {
    let db = shared::connect_db().await?;
    svc.readiness_check("database", Duration::from_secs(1), move || {
        shared::ping(db.clone())
    });
    let router = axum::Router::new().route("/", get(|| async { "hello from the pod\n" }));
    svc.serve(shared::bind_app(&svc).await?, router);
    Ok(())
}
