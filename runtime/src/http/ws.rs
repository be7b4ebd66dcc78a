//! WebSockets told to go away (feature `ws`): a drop-in for axum's
//! `WebSocketUpgrade` and `WebSocket` whose socket gets a close frame 1001
//! "going away" at intake close and stops counting in flight once closed.
//!
//! Change the `use` line, keep the handler:
//!
//! ```
//! use axum::{Router, response::Response, routing::get};
//! // was: use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
//! use winddown::http::ws::{Message, WebSocket, WebSocketUpgrade};
//!
//! async fn ws(upgrade: WebSocketUpgrade) -> Response {
//!     upgrade.on_upgrade(echo)
//! }
//!
//! async fn echo(mut socket: WebSocket) {
//!     // Fires when the clients are told to leave (from the first signal): a
//!     // chance to say goodbye in your own words before the 1001 at intake close.
//!     let going_away = socket.going_away();
//!     // Once, however the signal meets the loop: a guard on `is_set()` would skip the
//!     // goodbye when the signal came while a message was being echoed.
//!     let mut told = false;
//!     loop {
//!         tokio::select! {
//!             msg = socket.recv() => match msg {
//!                 Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
//!                 Some(Ok(msg)) => if socket.send(msg).await.is_err() { return },
//!             },
//!             _ = going_away.wait(), if !told => {
//!                 told = true;
//!                 let _ = socket.send(Message::text("server restarting")).await;
//!             }
//!         }
//!     }
//! }
//!
//! let app: Router = Router::new().route("/ws", get(ws));
//! ```
//!
//! What happens to a socket at each step of the shutdown:
//!
//! | step | the socket |
//! |------|------------|
//! | trigger (clients told to leave) | [`GoingAway`] fires; the handler may close on its own |
//! | intake close | unless a close frame was sent or received, winddown sends 1001 "going away"; new upgrades get 503 |
//! | drain | the handler runs on (its reads see the client's answer) for at most [`close_timeout`](WebSocketUpgrade::close_timeout), then is dropped |
//! | handler returned | the close handshake is completed (within that time), the connection closes and no longer counts in flight |

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{self as axum_ws, DefaultOnFailedUpgrade, OnFailedUpgrade};
use axum::http::HeaderValue;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use futures_util::{Sink, Stream, StreamExt, stream::FusedStream};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

pub use axum::extract::ws::{CloseFrame, Message};

use crate::in_flight::{InFlight, InFlightGuard};
use crate::service::{self, Core};

/// The close code winddown sends at intake close: 1001, "going away" (RFC 6455,
/// section 7.4.1).
pub const GOING_AWAY: u16 = 1001;

/// How long a socket's handler has, from the close frame sent at intake close, to
/// return (1 s unless [`WebSocketUpgrade::close_timeout`] says otherwise).
pub const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// axum's `WebSocketUpgrade` extractor, whose socket leaves in time at shutdown.
///
/// The socket counts in flight from the upgrade until it has closed. At intake close
/// it gets a close frame 1001 "going away" (unless one was already sent or received)
/// and its handler [`close_timeout`](Self::close_timeout) to return, so an open
/// socket never holds the drain for its whole budget. After intake close an upgrade
/// is answered 503. With no service running in the process it is axum's, as is.
///
/// To configure axum's extractor (buffer sizes, subprotocols, a failed-upgrade
/// callback), extract axum's and convert it with `WebSocketUpgrade::from`.
#[derive(Debug)]
#[must_use = "call `on_upgrade` and return its response"]
pub struct WebSocketUpgrade<F = DefaultOnFailedUpgrade> {
    inner: axum_ws::WebSocketUpgrade<F>,
    close_timeout: Duration,
}

impl<S: Send + Sync> FromRequestParts<S> for WebSocketUpgrade<DefaultOnFailedUpgrade> {
    type Rejection = WebSocketUpgradeRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let inner = axum_ws::WebSocketUpgrade::from_request_parts(parts, state).await?;
        Ok(inner.into())
    }
}

/// Wraps axum's extractor, configured as you like.
impl<F> From<axum_ws::WebSocketUpgrade<F>> for WebSocketUpgrade<F> {
    fn from(inner: axum_ws::WebSocketUpgrade<F>) -> Self {
        WebSocketUpgrade {
            inner,
            close_timeout: DEFAULT_CLOSE_TIMEOUT,
        }
    }
}

impl<F> WebSocketUpgrade<F> {
    /// How long the handler has, from the close frame sent at intake close, to
    /// return before it is dropped and the connection closed (1 s by default).
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }
}

impl<F: OnFailedUpgrade> WebSocketUpgrade<F> {
    /// Completes the upgrade and runs `callback` with the socket, as axum's
    /// `on_upgrade`; returns the response to send (`503` once intake has closed).
    #[must_use = "to set up the WebSocket connection, this response must be returned"]
    pub fn on_upgrade<C, Fut>(self, callback: C) -> Response
    where
        C: FnOnce(WebSocket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Some(core) = service::current() else {
            return self.inner.on_upgrade(move |socket| async move {
                let (socket, _) = WebSocket::new(socket, GoingAway { signals: None });
                callback(socket).await;
            });
        };
        let guard = match core.in_flight.enter() {
            Ok(guard) => guard,
            Err(refused) => return refused.into_response(),
        };
        let going_away = GoingAway {
            signals: Some((core.leave.clone(), core.in_flight.clone())),
        };
        let close_timeout = self.close_timeout;
        self.inner.on_upgrade(move |socket| {
            let (socket, shared) = WebSocket::new(socket, going_away);
            drive(callback(socket), shared, core, guard, close_timeout)
        })
    }
}

/// Runs the handler; at intake close says goodbye (1001) and bounds the rest.
async fn drive<Fut: Future<Output = ()>>(
    handler: Fut,
    shared: Arc<Mutex<Socket>>,
    core: Arc<Core>,
    guard: InFlightGuard,
    close_timeout: Duration,
) {
    let _counted = guard;
    let service = core.name.as_str();
    // Boxed, so it can be dropped (with the socket it holds) before the end.
    let mut handler = Box::pin(handler);
    tokio::select! {
        _ = &mut handler => return,
        _ = core.in_flight.closed() => {}
    }
    let deadline = tokio::time::Instant::now() + close_timeout;
    let mut goodbye = std::pin::pin!(goodbye(&shared, service));
    let mut said = false;
    // The handler keeps running (its reads see the client's answer) while the
    // close frame goes out, until it returns or its time is up.
    let returned = loop {
        tokio::select! {
            _ = &mut handler => break true,
            _ = &mut goodbye, if !said => said = true,
            _ = tokio::time::sleep_until(deadline) => break false,
        }
    };
    if !returned {
        warn!(%service, phase = "drain", close_timeout_ms = close_timeout.as_millis() as u64,
            "WebSocket handler still running after the close frame: dropped, connection closed");
        return;
    }
    // The handler returned, maybe before the goodbye went out or the client
    // answered: finish the close handshake in the time left, unless the handler
    // gave the socket away (then it is no longer ours to close).
    drop(handler);
    if Arc::strong_count(&shared) == 1 {
        let rest = async {
            if !said {
                goodbye.await;
            }
            std::future::poll_fn(|cx| lock(&shared).poll_answer(cx)).await;
        };
        let _ = tokio::time::timeout_at(deadline, rest).await;
    }
}

/// Sends 1001 unless a close frame was already sent or received.
async fn goodbye(shared: &Mutex<Socket>, service: &str) {
    match std::future::poll_fn(|cx| lock(shared).poll_goodbye(cx)).await {
        Ok(true) => debug!(%service, phase = "drain", "WebSocket told to go away (1001)"),
        Ok(false) => {}
        Err(error) => debug!(%service, %error, "WebSocket close frame not sent"),
    }
}

fn lock(shared: &Mutex<Socket>) -> MutexGuard<'_, Socket> {
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

/// axum's socket and what has been seen of its close handshake.
#[derive(Debug)]
struct Socket {
    ws: axum_ws::WebSocket,
    /// A close frame has been queued, by the handler or by winddown.
    sent_close: bool,
    /// The client's close frame arrived, or the stream ended.
    got_close: bool,
    /// winddown's close frame is queued and being flushed.
    flushing: bool,
}

impl Socket {
    /// Queues and flushes 1001 unless a close was sent or received; `true` if sent.
    fn poll_goodbye(&mut self, cx: &mut Context<'_>) -> Poll<Result<bool, axum::Error>> {
        if !self.flushing {
            if self.sent_close || self.got_close {
                return Poll::Ready(Ok(false));
            }
            ready!(Pin::new(&mut self.ws).poll_ready(cx))?;
            let frame = CloseFrame {
                code: GOING_AWAY,
                reason: "going away".into(),
            };
            self.sent_close = true;
            self.flushing = true;
            Pin::new(&mut self.ws).start_send(Message::Close(Some(frame)))?;
        }
        let flushed = ready!(Pin::new(&mut self.ws).poll_flush(cx));
        self.flushing = false;
        Poll::Ready(flushed.map(|()| true))
    }

    /// Reads until the client's close frame (or the end of the stream).
    fn poll_answer(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        while !self.got_close {
            let _ = ready!(self.poll_next(cx));
        }
        Poll::Ready(())
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, axum::Error>>> {
        let next = ready!(self.ws.poll_next_unpin(cx));
        if matches!(next, None | Some(Err(_)) | Some(Ok(Message::Close(_)))) {
            self.got_close = true;
        }
        Poll::Ready(next)
    }
}

/// A WebSocket from [`WebSocketUpgrade::on_upgrade`]: axum's `WebSocket` (the same
/// methods, `Stream` and `Sink`), through which winddown can send the close frame at
/// intake close.
///
/// Keep it in the handler (split it there if you like): a socket moved to another
/// task that outlives the handler is not closed by winddown, and the connection
/// then counts in flight until that task drops it.
#[derive(Debug)]
pub struct WebSocket {
    shared: Arc<Mutex<Socket>>,
    protocol: Option<HeaderValue>,
    going_away: GoingAway,
}

impl WebSocket {
    fn new(ws: axum_ws::WebSocket, going_away: GoingAway) -> (Self, Arc<Mutex<Socket>>) {
        let protocol = ws.protocol().cloned();
        let shared = Arc::new(Mutex::new(Socket {
            ws,
            sent_close: false,
            got_close: false,
            flushing: false,
        }));
        let socket = WebSocket {
            shared: shared.clone(),
            protocol,
            going_away,
        };
        (socket, shared)
    }

    /// Receives the next message; `None` once the socket has closed.
    pub async fn recv(&mut self) -> Option<Result<Message, axum::Error>> {
        self.next().await
    }

    /// Sends a message (`Message::Close` starts the close handshake).
    pub async fn send(&mut self, msg: Message) -> Result<(), axum::Error> {
        futures_util::SinkExt::send(self, msg).await
    }

    /// The subprotocol chosen, if any.
    pub fn protocol(&self) -> Option<&HeaderValue> {
        self.protocol.as_ref()
    }

    /// The signal that the clients are being told to leave; an owned handle, so it
    /// can be awaited beside `recv`.
    pub fn going_away(&self) -> GoingAway {
        self.going_away.clone()
    }
}

impl Stream for WebSocket {
    type Item = Result<Message, axum::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        lock(&self.shared).poll_next(cx)
    }
}

impl FusedStream for WebSocket {
    fn is_terminated(&self) -> bool {
        lock(&self.shared).ws.is_terminated()
    }
}

impl Sink<Message> for WebSocket {
    type Error = axum::Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut lock(&self.shared).ws).poll_ready(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Self::Error> {
        let mut socket = lock(&self.shared);
        if matches!(item, Message::Close(_)) {
            socket.sent_close = true;
        }
        Pin::new(&mut socket.ws).start_send(item)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut lock(&self.shared).ws).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let mut socket = lock(&self.shared);
        socket.sent_close = true;
        Pin::new(&mut socket.ws).poll_close(cx)
    }
}

/// Fires when the clients are told to leave: from the first signal by default
/// ([`Builder::tell_clients_to_leave`](crate::Builder::tell_clients_to_leave)), at
/// intake close at the latest. A handler can then finish and close in its own
/// words before winddown sends 1001 at intake close. Never fires when no service
/// runs. From [`WebSocket::going_away`]; cheap to clone.
#[derive(Clone, Debug)]
pub struct GoingAway {
    signals: Option<(CancellationToken, InFlight)>,
}

impl GoingAway {
    /// Completes once the clients are told to leave (at once if they have been).
    pub async fn wait(&self) {
        match &self.signals {
            Some((leave, intake)) => tokio::select! {
                _ = leave.cancelled() => {}
                _ = intake.closed() => {}
            },
            None => std::future::pending().await,
        }
    }

    /// Whether the clients are being told to leave.
    pub fn is_set(&self) -> bool {
        self.signals
            .as_ref()
            .is_some_and(|(leave, intake)| leave.is_cancelled() || intake.is_closed())
    }
}
