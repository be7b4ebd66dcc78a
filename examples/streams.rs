//! Long-lived connections led out of the shutdown: a WebSocket chat-like echo on
//! `/ws` and a server-sent event stream on `/events`, served by `svc.serve`.
//!
//! `cargo run --example streams`, then open a WebSocket to `ws://127.0.0.1:8080/ws`
//! (`websocat ws://127.0.0.1:8080/ws`) and `curl -N localhost:8080/events`; send
//! SIGTERM (or Ctrl-C). From the signal the socket hears `server restarting` and
//! keeps echoing through the 3 s drain delay; at intake close it gets a close frame
//! 1001 "going away" and the event stream ends between two events, so both clients
//! reconnect elsewhere and the process exits at once instead of waiting for them.
//! `APP_ADDR` and `PROBES_ADDR` override the two addresses.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use axum::routing::get;
use winddown::http::ws::{Message, WebSocket, WebSocketUpgrade};
use winddown::{Service, service};

async fn ws(upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(echo)
}

/// Echoes each message. When the clients are told to leave, says so once; winddown
/// sends the close frame (1001) at intake close, and `recv` then ends the loop.
async fn echo(mut socket: WebSocket) {
    let going_away = socket.going_away();
    // Once, however the signal meets the loop: a guard on `is_set()` would skip the
    // goodbye when the signal came while a message was being echoed.
    let mut told = false;
    loop {
        tokio::select! {
            msg = socket.recv() => match msg {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(msg)) => if socket.send(msg).await.is_err() { return },
            },
            _ = going_away.wait(), if !told => {
                told = true;
                let _ = socket.send(Message::text("server restarting")).await;
            }
        }
    }
}

/// One event a second, forever: the tracked server ends it at intake close.
async fn events() -> Response {
    let ticks = futures_util::stream::unfold(0u64, |n| async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        Some((Ok::<_, Infallible>(format!("data: tick {n}\n\n")), n + 1))
    });
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(ticks))
        .expect("a valid response")
}

#[service(name = "streams", grace = "10s", drain_delay = "3s", probes = winddown::listen_addr("probes", "127.0.0.1:8081"))]
async fn main(svc: Service) -> anyhow::Result<()> {
    let listener = winddown::listener("app", "127.0.0.1:8080").await?;
    println!("listening on http://{}", listener.local_addr()?);
    if let Some(probes) = svc.probes_addr() {
        println!("probes on http://{probes}");
    }
    let app = axum::Router::new()
        .route("/ws", get(ws))
        .route("/events", get(events));
    svc.serve(listener, app);
    Ok(())
}
