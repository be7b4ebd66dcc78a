//! The seed's "Database Cleanup": close the database when the service stops, after
//! the requests using it have finished, within a deadline, and say so if it is cut off.
//!
//! The Go version stops new requests by hand, closes the pool in a goroutine and
//! races it against the context. Here intake, draining and the timeout are the
//! sequence's: the hook only closes the pool, and asks `winddown::deadline()` how
//! long it has so it can log what it is doing. `DATABASE_URL` picks the database
//! (SQLite; in memory when unset). `cargo run --example database_cleanup`.

use std::str::FromStr;
use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
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

#[service(name = "database_cleanup", probes = winddown::listen_addr("probes", "127.0.0.1:8081"), on_shutdown = [close_db])]
async fn main(svc: Service) -> anyhow::Result<App> {
    let app = App {
        db: connect_db().await?,
    };
    let db = app.db.clone();
    svc.readiness_check("database", Duration::from_secs(1), move || ping(db.clone()));
    let router = axum::Router::new()
        .route("/sessions", get(count_sessions))
        .with_state(app.clone());
    let listener = winddown::listener("app", "127.0.0.1:8080").await?;
    println!("listening on http://{}", listener.local_addr()?);
    if let Some(probes) = svc.probes_addr() {
        println!("probes on http://{probes}");
    }
    svc.serve(listener, router);
    Ok(app)
}
