//! What the examples share: their addresses (from the environment, so tests can use
//! free ports), the database they open, and the line that announces where they listen.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use winddown::Service;

/// `APP_ADDR`, or `127.0.0.1:8080`.
pub fn app_addr() -> String {
    std::env::var("APP_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into())
}

/// `PROBES_ADDR`, or `127.0.0.1:8081`.
pub fn probes_addr() -> String {
    std::env::var("PROBES_ADDR").unwrap_or_else(|_| "127.0.0.1:8081".into())
}

/// Binds [`app_addr`] and prints where the app and its probes listen; a failure
/// names the address.
pub async fn bind_app(svc: &Service) -> anyhow::Result<TcpListener> {
    let addr = app_addr();
    let listener = TcpListener::bind(&addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    println!("listening on http://{}", listener.local_addr()?);
    if let Some(probes) = svc.probes_addr() {
        println!("probes on http://{probes}");
    }
    Ok(listener)
}

/// Opens `DATABASE_URL` (SQLite), or an in-memory database when it is unset, and
/// creates the table the examples use.
pub async fn connect_db() -> Result<SqlitePool, sqlx::Error> {
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
pub async fn ping(pool: SqlitePool) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT 1").execute(&pool).await.map(|_| ())
}

/// Serves `hello` by hand (no framework): stops accepting when intake closes, and
/// counts each request in flight so the shutdown waits for it.
pub async fn serve_hello(svc: &Service) -> anyhow::Result<SocketAddr> {
    let listener = bind_app(svc).await?;
    let addr = listener.local_addr()?;
    let svc = svc.clone();
    tokio::spawn(async move {
        loop {
            let conn = tokio::select! {
                _ = svc.intake_closed() => break,
                accepted = listener.accept() => match accepted {
                    Ok((conn, _)) => conn,
                    Err(_) => continue,
                },
            };
            tokio::spawn(svc.track(hello(conn)));
        }
    });
    Ok(addr)
}

/// A one-shot HTTP/1.0 answer: enough to show a request drained at shutdown.
async fn hello(mut conn: TcpStream) -> std::io::Result<()> {
    let mut buf = [0u8; 1024];
    let _ = conn.read(&mut buf).await?;
    conn.write_all(b"HTTP/1.0 200 OK\r\ncontent-length: 6\r\n\r\nhello\n")
        .await
}
