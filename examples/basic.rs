//! The seed's "Basic Pattern" with the attributes: a named service, requests
//! drained at shutdown, and a cleanup that runs before exit, bounded by a timeout.
//!
//! `cargo run --example basic`, then `curl localhost:8080/` and
//! `curl localhost:8081/ready`; Ctrl-C (or `kill -TERM`) shows the report.
//! `APP_ADDR` and `PROBES_ADDR` override the two addresses.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use winddown::{Service, on_shutdown, service};

/// What the Go version runs in `BeforeStop`; here it has an order and a timeout.
#[on_shutdown(order = 1, timeout = "5s")]
async fn cleanup() -> anyhow::Result<()> {
    tracing::info!("service stopping, running cleanup");
    Ok(())
}

#[service(name = "myservice", probes = winddown::listen_addr("probes", "127.0.0.1:8081"), on_shutdown = [cleanup])]
async fn main(svc: Service) -> anyhow::Result<()> {
    serve_hello(&svc).await?;
    Ok(())
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
