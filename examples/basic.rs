//! The seed's "Basic Pattern": a named service that handles requests and runs a
//! cleanup function when it stops, written with the builder.
//!
//! Run it with `cargo run --example basic`, then `curl localhost:8080/` and
//! `curl localhost:8081/ready`; press Ctrl-C (or `kill -TERM`) to watch the report.
//! `APP_ADDR` and `PROBES_ADDR` override the two addresses.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use winddown::Service;

/// The cleanup the Go version runs in `BeforeStop`.
async fn cleanup() -> anyhow::Result<()> {
    tracing::info!("service stopping, running cleanup");
    Ok(())
}

fn main() {
    let app_addr = std::env::var("APP_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let probes_addr = std::env::var("PROBES_ADDR").unwrap_or_else(|_| "127.0.0.1:8081".into());

    Service::builder("myservice")
        .probes(probes_addr.as_str())
        .on_shutdown("cleanup", 1, Duration::from_secs(5), cleanup)
        .run_and_exit(|svc| async move {
            let listener = TcpListener::bind(&app_addr).await?;
            println!("listening on http://{}", listener.local_addr()?);
            tokio::spawn(async move {
                loop {
                    let (conn, _) = tokio::select! {
                        _ = svc.intake_closed() => break, // stop accepting at intake close
                        accepted = listener.accept() => match accepted {
                            Ok(c) => c,
                            Err(_) => continue,
                        },
                    };
                    let svc = svc.clone();
                    // Each request is counted in flight, so the shutdown waits for it.
                    tokio::spawn(async move { svc.track(handle(conn)).await });
                }
            });
            anyhow::Ok(())
        })
}

/// A one-shot HTTP/1.0 answer: enough to show a request drained at shutdown.
async fn handle(mut conn: TcpStream) -> std::io::Result<()> {
    let mut buf = [0u8; 1024];
    let _ = conn.read(&mut buf).await?;
    conn.write_all(b"HTTP/1.0 200 OK\r\ncontent-length: 6\r\n\r\nhello\n")
        .await
}
