//! The seed's "Complete Example": an application with a database, two background
//! workers, HTTP handlers, probes and cleanup hooks in a checked graph, shut down in
//! the right order under one deadline.
//!
//! `cargo run --example complete`, then `curl 'localhost:8080/work?ms=3000'` and send
//! Ctrl-C while it runs: `/ready` turns 503 at once, the app keeps serving for the
//! 2-second drain delay, then stops accepting (late requests get 503), the request
//! in flight finishes, the workers stop, and the hooks run as their graph says: the
//! event producer and the write-behind cache flush concurrently, the database closes
//! once both are done with it, the metrics go last. `APP_ADDR`, `PROBES_ADDR` and
//! `DATABASE_URL` override. Under systemd socket activation it serves on the sockets
//! named `app` and `probes` instead, and a restart refuses nothing: the units are in
//! `deploy/systemd/`, see `docs/systemd.md`.
//!
//! The budget is the critical path, not the sum: the hooks' timeouts add up to 35s
//! (37s with the drain delay), yet `grace = "35s"` compiles, because the longest
//! chain is drain delay 2s + the workers' stop 5s + `stop_producer` 10s →
//! `close_db` 15s → `flush_metrics` 2s + the 100ms margin = 34.1s.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use winddown::{Service, ShuttingDown, handler, on_shutdown, service, worker};

#[derive(Clone)]
pub(crate) struct App {
    db: SqlitePool,
    requests: Arc<AtomicU64>,
    /// Events waiting for the message producer, published in batches.
    outbox: Arc<Mutex<Vec<String>>>,
    /// Sessions written behind: kept in memory, stored in the database in batches.
    sessions: Arc<Mutex<Vec<i64>>>,
}

/// Deletes expired sessions every 5 seconds.
#[worker(every = "5s", stop_timeout = "5s")]
struct Cleanup {
    db: SqlitePool,
}

impl Cleanup {
    async fn tick(&mut self) -> anyhow::Result<()> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() as i64;
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at < ?")
            .bind(now)
            .execute(&self.db)
            .await?;
        tracing::debug!(deleted = done.rows_affected(), "expired sessions removed");
        Ok(())
    }
}

/// Reports the request count every 10 seconds.
#[worker(every = "10s", stop_timeout = "5s")]
struct Metrics {
    requests: Arc<AtomicU64>,
}

impl Metrics {
    async fn tick(&mut self) {
        tracing::info!(requests = self.requests.load(Ordering::Relaxed), "metrics");
    }
}

/// The producer publishes what is left in its outbox and records the batch in the
/// database. Nothing orders it against the cache: the two run concurrently.
#[on_shutdown(timeout = "10s")]
async fn stop_producer(app: &App) -> anyhow::Result<()> {
    let batch = std::mem::take(&mut *app.outbox.lock().unwrap());
    tracing::info!(events = batch.len(), "producer flushed");
    sqlx::query("INSERT INTO published (events) VALUES (?)")
        .bind(batch.len() as i64)
        .execute(&app.db)
        .await?;
    Ok(())
}

/// The write-behind cache stores its sessions in the database.
#[on_shutdown(timeout = "8s")]
async fn flush_cache(app: &App) -> anyhow::Result<()> {
    let sessions = std::mem::take(&mut *app.sessions.lock().unwrap());
    for expires_at in &sessions {
        sqlx::query("INSERT INTO sessions (expires_at) VALUES (?)")
            .bind(expires_at)
            .execute(&app.db)
            .await?;
    }
    tracing::info!(sessions = sessions.len(), "cache flushed");
    Ok(())
}

/// The database, once the producer and the cache are done with it (whatever
/// their outcome).
#[on_shutdown(timeout = "15s", after = [stop_producer, flush_cache])]
async fn close_db(app: &App) {
    app.db.close().await;
}

/// Last: the final metrics.
#[on_shutdown(timeout = "2s", after = [close_db])]
async fn flush_metrics(app: &App) {
    tracing::info!(
        requests = app.requests.load(Ordering::Relaxed),
        "final metrics"
    );
}

/// The app's errors, as HTTP responses.
enum AppError {
    ShuttingDown(ShuttingDown),
    Bad(String),
}

impl From<ShuttingDown> for AppError {
    fn from(e: ShuttingDown) -> Self {
        AppError::ShuttingDown(e)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            AppError::ShuttingDown(e) => e.into_response(), // 503, Connection: close
            AppError::Bad(msg) => (StatusCode::BAD_REQUEST, msg).into_response(),
        }
    }
}

/// `GET /work?ms=N`: N milliseconds of work, then 200.
#[handler]
async fn work(
    State(app): State<App>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<&'static str, AppError> {
    let ms: u64 = match q.get("ms") {
        None => 0,
        Some(v) => v
            .parse()
            .map_err(|_| AppError::Bad(format!("ms={v} is not a number\n")))?,
    };
    app.requests.fetch_add(1, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    app.outbox
        .lock()
        .unwrap()
        .push(format!("work done ms={ms}"));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    app.sessions.lock().unwrap().push(now + 3600);
    Ok("done\n")
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

#[service(
    name = "complete",
    grace = "35s",
    drain_delay = "2s",
    probes = winddown::listen_addr("probes", "127.0.0.1:8081"),
    on_shutdown = [stop_producer, flush_cache, close_db, flush_metrics]
)]
async fn main(svc: Service) -> anyhow::Result<App> {
    let app = App {
        db: connect_db().await?,
        requests: Arc::default(),
        outbox: Arc::default(),
        sessions: Arc::default(),
    };
    sqlx::query("CREATE TABLE IF NOT EXISTS published (events INTEGER NOT NULL)")
        .execute(&app.db)
        .await?;
    svc.spawn_worker(Cleanup { db: app.db.clone() });
    svc.spawn_worker(Metrics {
        requests: app.requests.clone(),
    });
    let db = app.db.clone();
    svc.readiness_check("database", Duration::from_secs(1), move || ping(db.clone()));
    let router = axum::Router::new()
        .route("/work", get(work))
        .with_state(app.clone());
    let listener = winddown::listener("app", "127.0.0.1:8080").await?;
    println!("listening on http://{}", listener.local_addr()?);
    if let Some(probes) = svc.probes_addr() {
        println!("probes on http://{probes}");
    }
    svc.serve(listener, router);
    Ok(app)
}
