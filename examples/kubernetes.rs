//! The seed's "Kubernetes Integration": liveness and readiness probes whose timing
//! agrees with the Deployment in `deploy/kubernetes.yaml`.
//!
//! `/health` answers 200 while the process runs; `/ready` answers 200 after setup,
//! while the database answers, and turns 503 the moment SIGTERM arrives. Instead of a
//! `preStop: sleep 10`, the service keeps serving for `drain_delay` after readiness
//! turns false: the readiness probe (every 5s, 2 failures) has marked the pod
//! unready within 10s, before intake closes. `terminationGracePeriodSeconds: 40`
//! leaves room for the whole `grace` of 30s. `cargo run --example kubernetes`.

use std::str::FromStr;
use std::time::Duration;

use axum::routing::get;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use winddown::{Service, service};

/// Opens `DATABASE_URL` (SQLite), or an in-memory database when it is unset, and
/// creates the table the example uses.
async fn connect_db() -> Result<SqlitePool, sqlx::Error> {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite::memory:".into());
    let in_memory = url.contains(":memory:");
    let options = SqliteConnectOptions::from_str(&url)?.create_if_missing(true);
    let pool = SqlitePoolOptions::new()
        // Each connection to `:memory:` is its own database: keep one.
        .max_connections(if in_memory { 1 } else { 5 })
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS sessions (id INTEGER PRIMARY KEY, expires_at INTEGER NOT NULL)",
    )
    .execute(&pool)
    .await?;
    Ok(pool)
}

/// A readiness check: the database answers `SELECT 1`.
async fn ping(pool: SqlitePool) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT 1").execute(&pool).await.map(|_| ())
}

#[service(
    name = "kubernetes",
    grace = "30s",
    drain_delay = "10s",
    probes = winddown::listen_addr("probes", "127.0.0.1:8081")
)]
async fn main(svc: Service) -> anyhow::Result<()> {
    let db = connect_db().await?;
    svc.readiness_check("database", Duration::from_secs(1), move || ping(db.clone()));
    let router = axum::Router::new().route("/", get(|| async { "hello from the pod\n" }));
    let listener = winddown::listener("app", "127.0.0.1:8080").await?;
    println!("listening on http://{}", listener.local_addr()?);
    if let Some(probes) = svc.probes_addr() {
        println!("probes on http://{probes}");
    }
    svc.serve(listener, router);
    Ok(())
}
