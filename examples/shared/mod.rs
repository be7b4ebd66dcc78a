//! What the examples share: their addresses, read from the environment, and a tiny
//! HTTP server whose requests are tracked in flight (until the axum integration).
#![allow(dead_code)]

use std::net::SocketAddr;

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

/// Serves `hello` on [`app_addr`]: stops accepting when intake closes, and counts
/// each request in flight so the shutdown waits for it.
pub async fn serve_hello(svc: &Service) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(app_addr()).await?;
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
