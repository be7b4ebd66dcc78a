//! The seed's "Database Cleanup": close the database when the service stops, after
//! the requests using it have finished, within a deadline, and say so if it is cut off.
//!
//! The Go version stops new requests by hand, closes the pool in a goroutine and
//! races it against the context. Here intake, draining and the timeout are the
//! sequence's: the hook only closes the pool, and asks `winddown::deadline()` how
//! long it has so it can log what it is doing. `DATABASE_URL` picks the database
//! (SQLite; in memory when unset). `cargo run --example database_cleanup`.

mod shared;

use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use sqlx::SqlitePool;
use winddown::{Service, on_shutdown, service};

#[derive(Clone)]
struct App {
    db: SqlitePool,
}

/// Runs once every request has finished: returns the pool's connections and closes it.
#[on_shutdown(order = 1, timeout = "10s")]
async fn close_db(app: &App) {
    let left = winddown::deadline()
        .map(|d| d.saturating_duration_since(tokio::time::Instant::now()))
        .unwrap_or_default();
    tracing::info!(
        left_ms = left.as_millis() as u64,
        idle = app.db.num_idle(),
        "closing database connections"
    );
    app.db.close().await; // waits for connections in use; the timeout bounds it
    tracing::info!("database closed");
}

async fn count_sessions(State(app): State<App>) -> Result<String, String> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM sessions")
        .fetch_one(&app.db)
        .await
        .map_err(|e| e.to_string())?;
    Ok(format!("{n} sessions\n"))
}

#[service(name = "database_cleanup", probes = shared::probes_addr(), on_shutdown = [close_db])]
async fn main(svc: Service) -> anyhow::Result<App> {
    let app = App {
        db: shared::connect_db().await?,
    };
    let db = app.db.clone();
    svc.readiness_check("database", Duration::from_secs(1), move || {
        shared::ping(db.clone())
    });
    let router = axum::Router::new()
        .route("/sessions", get(count_sessions))
        .with_state(app.clone());
    svc.serve(shared::bind_app(&svc).await?, router);
    Ok(app)
}
