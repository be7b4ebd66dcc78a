//! WebSockets told to go away (feature `ws`): [`WebSocketUpgrade`], axum's
//! extractor with a shutdown signal for the socket's handler and a close frame
//! 1001 "going away" at intake close.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{
    self as axum_ws, CloseFrame, DefaultOnFailedUpgrade, Message, OnFailedUpgrade,
};
use axum::http::HeaderValue;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use futures_util::{Sink, Stream, StreamExt, stream::FusedStream};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::in_flight::{self, InFlight, InFlightGuard};
use crate::trigger::{self, Shutdown};

/// The close code sent at intake close: 1001, "going away" (RFC 6455, 7.4.1).
pub const GOING_AWAY: u16 = 1001;

/// How long a socket's handler has, after the close frame went out at intake
/// close, to return, unless told otherwise.
pub const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// axum's [`WebSocketUpgrade`](axum::extract::ws::WebSocketUpgrade) extractor,
/// made to leave in time at shutdown.
///
/// [`on_upgrade`](Self::on_upgrade) hands the socket's handler a [`WebSocket`] and
/// a [`GoingAway`] signal, which fires when the service starts shutting down (the
/// drain's start, before the drain delay): finish what you are doing, send a last
/// message, close with a code of your choice. If the handler has not closed the
/// socket by intake close, winddown sends the close frame itself (1001, "going
/// away"), keeps serving the handler while the client answers, and gives it
/// [`close_timeout`](Self::close_timeout) (1 s by default) to return; a handler
/// still running then is dropped and the connection closed. Until then the socket
/// counts in flight, so the drain waits for it — and no longer than that.
///
/// Once intake has closed, an upgrade is refused with `503`. With no service
/// running in the process it behaves as axum's: no signal, no close frame.
///
/// ```
/// use axum::{Router, response::Response, routing::get};
/// use winddown::http::{GoingAway, WebSocket, WebSocketUpgrade};
///
/// async fn ws(upgrade: WebSocketUpgrade) -> Response {
///     upgrade.on_upgrade(echo)
/// }
///
/// async fn echo(mut socket: WebSocket, going_away: GoingAway) {
///     loop {
///         tokio::select! {
///             msg = socket.recv() => match msg {
///                 Some(Ok(msg)) => if socket.send(msg).await.is_err() { return },
///                 _ => return, // closed: by the client, or by winddown at intake close
///             },
///             _ = going_away.wait(), if !going_away.is_set() => {
///                 let _ = socket.send("server restarting, reconnect soon".into()).await;
///             }
///         }
///     }
/// }
///
/// let app: Router = Router::new().route("/ws", get(ws));
/// ```
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

/// Wraps axum's extractor, configured as you like (buffer sizes, protocols).
impl<F> From<axum_ws::WebSocketUpgrade<F>> for WebSocketUpgrade<F> {
    fn from(inner: axum_ws::WebSocketUpgrade<F>) -> Self {
        WebSocketUpgrade {
            inner,
            close_timeout: DEFAULT_CLOSE_TIMEOUT,
        }
    }
}

impl<F> WebSocketUpgrade<F> {
    /// How long the handler has, after winddown sent the close frame at intake
    /// close, to return before it is dropped (1 s by default).
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }

    /// The subprotocols the server speaks, by preference (as axum's `protocols`).
    pub fn protocols<I>(mut self, protocols: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<std::borrow::Cow<'static, str>>,
    {
        self.inner = self.inner.protocols(protocols);
        self
    }

    /// The largest message accepted (as axum's `max_message_size`).
    pub fn max_message_size(mut self, max: usize) -> Self {
        self.inner = self.inner.max_message_size(max);
        self
    }

    /// What to do when the upgrade fails (as axum's `on_failed_upgrade`).
    pub fn on_failed_upgrade<C: OnFailedUpgrade>(self, callback: C) -> WebSocketUpgrade<C> {
        WebSocketUpgrade {
            inner: self.inner.on_failed_upgrade(callback),
            close_timeout: self.close_timeout,
        }
    }

    /// axum's extractor inside.
    pub fn into_inner(self) -> axum_ws::WebSocketUpgrade<F> {
        self.inner
    }
}

impl<F: OnFailedUpgrade> WebSocketUpgrade<F> {
    /// Upgrades the connection and runs `callback` with the socket and the
    /// [`GoingAway`] signal; returns the response that completes the upgrade.
    #[must_use = "to set up the WebSocket connection, this response must be returned"]
    pub fn on_upgrade<C, Fut>(self, callback: C) -> Response
    where
        C: FnOnce(WebSocket, GoingAway) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Some(in_flight) = in_flight::in_flight() else {
            return self.inner.on_upgrade(move |socket| async move {
                let (socket, _) = WebSocket::new(socket);
                callback(socket, GoingAway { token: None }).await;
            });
        };
        let guard = match in_flight.enter() {
            Ok(guard) => guard,
            Err(refused) => return refused.into_response(),
        };
        let shutdown = trigger::current();
        let going_away = GoingAway {
            token: shutdown.as_ref().map(Shutdown::token),
        };
        let close_timeout = self.close_timeout;
        self.inner.on_upgrade(move |socket| {
            let (socket, shared) = WebSocket::new(socket);
            let handler = callback(socket, going_away);
            let service = shutdown.map(|s| s.service().to_owned()).unwrap_or_default();
            drive(handler, shared, in_flight, guard, close_timeout, service)
        })
    }
}

/// Runs the handler; at intake close says goodbye (1001) and bounds the rest.
async fn drive<Fut: Future<Output = ()>>(
    handler: Fut,
    shared: Arc<Mutex<Socket>>,
    in_flight: InFlight,
    guard: InFlightGuard,
    close_timeout: Duration,
    service: String,
) {
    let _counted = guard;
    let mut handler = Box::pin(handler);
    tokio::select! {
        _ = &mut handler => return,
        _ = in_flight.closed() => {}
    }
    let deadline = tokio::time::sleep(close_timeout);
    tokio::pin!(deadline);
    let goodbye = async {
        let sent = std::future::poll_fn(|cx| lock(&shared).poll_goodbye(cx)).await;
        match sent {
            Ok(true) => {
                debug!(service = %service, phase = "drain", "WebSocket told to go away (1001)")
            }
            Ok(false) => {}
            Err(error) => debug!(service = %service, %error, "WebSocket close frame not sent"),
        }
    };
    tokio::pin!(goodbye);
    let mut said = false;
    // The handler keeps running (its reads see the client's answer) while the
    // close frame goes out, until it returns or its time is up.
    let returned = loop {
        tokio::select! {
            _ = &mut handler => break true,
            _ = &mut goodbye, if !said => said = true,
            _ = &mut deadline => break false,
        }
    };
    if !returned {
        warn!(service = %service, phase = "drain", close_timeout_ms = close_timeout.as_millis() as u64,
            "WebSocket handler still running after the close frame: dropped, connection closed");
        return;
    }
    // The handler returned after the close frame but before the client's answer:
    // wait for it (in the time left), so the close handshake completes.
    drop(handler);
    if Arc::strong_count(&shared) == 1 {
        let answer = std::future::poll_fn(|cx| lock(&shared).poll_answer(cx));
        let _ = tokio::time::timeout_at(deadline.deadline(), answer).await;
    }
}

fn lock(shared: &Mutex<Socket>) -> MutexGuard<'_, Socket> {
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

/// axum's socket and what has been seen of its close handshake.
#[derive(Debug)]
struct Socket {
    ws: axum_ws::WebSocket,
    /// A close frame has been queued by the handler or by winddown.
    sent_close: bool,
    /// The client closed, or the stream ended.
    got_close: bool,
    /// The goodbye was queued and is being flushed.
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
        ready!(Pin::new(&mut self.ws).poll_flush(cx))?;
        self.flushing = false;
        Poll::Ready(Ok(true))
    }

    /// Reads until the client's close frame (or the end).
    fn poll_answer(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        while !self.got_close {
            match ready!(self.poll_next(cx)) {
                Some(Ok(_)) => {}
                Some(Err(_)) | None => self.got_close = true,
            }
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

/// A WebSocket from [`WebSocketUpgrade::on_upgrade`]: axum's `WebSocket`, with
/// the same methods and `Stream`/`Sink` implementations, so winddown can send the
/// close frame at intake close.
///
/// Keep it inside the handler: a socket moved into another task outlives the
/// handler and is no longer counted in flight.
#[derive(Debug)]
pub struct WebSocket {
    shared: Arc<Mutex<Socket>>,
    protocol: Option<HeaderValue>,
}

impl WebSocket {
    fn new(ws: axum_ws::WebSocket) -> (Self, Arc<Mutex<Socket>>) {
        let protocol = ws.protocol().cloned();
        let shared = Arc::new(Mutex::new(Socket {
            ws,
            sent_close: false,
            got_close: false,
            flushing: false,
        }));
        (
            WebSocket {
                shared: shared.clone(),
                protocol,
            },
            shared,
        )
    }

    /// Receives the next message; `None` once the socket has closed.
    pub async fn recv(&mut self) -> Option<Result<Message, axum::Error>> {
        self.next().await
    }

    /// Sends a message (a `Message::Close` closes the socket).
    pub async fn send(&mut self, msg: Message) -> Result<(), axum::Error> {
        futures_util::SinkExt::send(self, msg).await
    }

    /// The subprotocol chosen, if any.
    pub fn protocol(&self) -> Option<&HeaderValue> {
        self.protocol.as_ref()
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

/// The signal a WebSocket handler gets: it fires when the service starts shutting
/// down (the drain's start), so the handler can finish and close in its own words
/// before winddown sends 1001 at intake close. Never fires when no service runs.
///
/// Cheap to clone.
#[derive(Clone, Debug)]
pub struct GoingAway {
    token: Option<CancellationToken>,
}

impl GoingAway {
    /// Completes once the shutdown has started (at once if it has).
    pub async fn wait(&self) {
        match &self.token {
            Some(token) => token.cancelled().await,
            None => std::future::pending().await,
        }
    }

    /// Whether the shutdown has started.
    pub fn is_set(&self) -> bool {
        self.token
            .as_ref()
            .is_some_and(CancellationToken::is_cancelled)
    }

    /// A token cancelled when the shutdown starts, for libraries that take one.
    pub fn token(&self) -> CancellationToken {
        self.token.clone().unwrap_or_default()
    }
}
