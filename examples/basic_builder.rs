//! `basic`, written with the builder instead of the attributes: the same program,
//! for code that prefers no macros. `cargo run --example basic_builder`.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use winddown::Service;

async fn cleanup() -> anyhow::Result<()> {
    tracing::info!("service stopping, running cleanup");
    Ok(())
}

fn main() {
    Service::builder("myservice")
        .probes(winddown::listen_addr("probes", "127.0.0.1:8081"))
        .on_shutdown("cleanup", 1, Duration::from_secs(5), cleanup)
        .run_and_exit(|svc| async move {
            serve_hello(&svc).await?;
            anyhow::Ok(())
        })
}

/// Serves `hello` by hand (no framework) on the listener named `app` (passed by
/// systemd, or `APP_ADDR`, or 127.0.0.1:8080): stops accepting when intake closes,
/// and counts each request in flight so the shutdown waits for it.
async fn serve_hello(svc: &Service) -> anyhow::Result<()> {
    let listener = winddown::listener("app", "127.0.0.1:8080").await?;
    println!("listening on http://{}", listener.local_addr()?);
    if let Some(probes) = svc.probes_addr() {
        println!("probes on http://{probes}");
    }
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
    Ok(())
}

/// A one-shot HTTP/1.0 answer: enough to show a request drained at shutdown.
async fn hello(mut conn: TcpStream) -> std::io::Result<()> {
    let mut buf = [0u8; 1024];
    let _ = conn.read(&mut buf).await?;
    conn.write_all(b"HTTP/1.0 200 OK\r\ncontent-length: 6\r\n\r\nhello\n")
        .await
}
