//! The seed's "Complete Example": an application with a database, two background
//! workers, HTTP handlers, probes and ordered cleanup, shut down in the right order
//! under one deadline.
//!
//! `cargo run --example complete`, then `curl 'localhost:8080/work?ms=3000'` and send
//! Ctrl-C while it runs: `/ready` turns 503 at once, the app keeps serving for the
//! 2-second drain delay, then stops accepting (late requests get 503), the request
//! in flight finishes, the workers stop, and the hooks close the database and flush
//! the metrics, in that order. `APP_ADDR`, `PROBES_ADDR` and `DATABASE_URL` override.

mod shared;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sqlx::SqlitePool;
use winddown::{Service, ShuttingDown, handler, on_shutdown, service, worker};

#[derive(Clone)]
struct App {
    db: SqlitePool,
    requests: Arc<AtomicU64>,
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

/// First: the database, once no request uses it any more.
#[on_shutdown(order = 1, timeout = "20s")]
async fn close_db(app: &App) {
    app.db.close().await;
}

/// Then: the last metrics.
#[on_shutdown(order = 2, timeout = "2s")]
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
    Ok("done\n")
}

#[service(
    name = "complete",
    grace = "30s",
    drain_delay = "2s",
    probes = shared::probes_addr(),
    on_shutdown = [close_db, flush_metrics]
)]
async fn main(svc: Service) -> anyhow::Result<App> {
    let app = App {
        db: shared::connect_db().await?,
        requests: Arc::default(),
    };
    svc.spawn_worker(Cleanup { db: app.db.clone() });
    svc.spawn_worker(Metrics {
        requests: app.requests.clone(),
    });
    let db = app.db.clone();
    svc.readiness_check("database", Duration::from_secs(1), move || {
        shared::ping(db.clone())
    });
    let router = axum::Router::new()
        .route("/work", get(work))
        .with_state(app.clone());
    svc.serve(shared::bind_app(&svc).await?, router);
    Ok(app)
}
