//! The tracked server: hyper-util's `auto` builder (HTTP/1.1 and HTTP/2 on one
//! port, upgrades kept) over any [`Listener`], with every connection and every
//! request counted in flight, and each kind of connection led out of the shutdown:
//!
//! | step | HTTP/1.1 | HTTP/2 |
//! |------|----------|--------|
//! | trigger (clients told to leave) | every response carries `Connection: close` | graceful GOAWAY |
//! | intake close | idle: closed; mid-head: a second to finish it; busy: finishes | GOAWAY; new streams get 503 |
//! | drain | counted until the last byte is written | counted until the last stream ends |
//! | after intake | new connections answered 503 (`Connection: close`), not counted | the same |
//! | exit | SYNs dropped, the queue answered 503, lingering close: never a reset | the same |
//! | intake, inherited listener ([`crate::listener`]) | stops accepting, its queue left to the next process | the same |

use std::convert::Infallible;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{Either, Full};
use hyper::Request;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio_util::sync::{CancellationToken, DropGuard};
use tracing::{Instrument, debug, info, info_span};

use super::gate::Gated;
use super::linger::{LINGER, Lingering};
use super::listener::Listener;
use super::tracked::{BoxError, ConnState, Leaving, Tracked, refusal};
use crate::in_flight::InFlightGuard;
use crate::service::{Core, Service};

/// How long a connection that arrived after intake close has to send its request
/// head and read the 503.
const LATE_BOUND: Duration = Duration::from_secs(2);
/// At exit, the accept queue counts as empty after this long without a connection.
const QUEUE_QUIET: Duration = Duration::from_millis(50);

impl Service {
    /// Serves `service` (any hyper service) on `listener`, tracked; see
    /// [`Service::serve`] for what happens to each connection at shutdown.
    ///
    /// The server runs as its own task. For a per-connection service (to see the
    /// peer's address), use [`Service::serve_hyper_with`].
    pub fn serve_hyper<L, S, B>(&self, listener: L, service: S)
    where
        L: Listener,
        S: hyper::service::Service<Request<Incoming>, Response = hyper::Response<B>>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        self.serve_hyper_with(listener, move |_: &L::Addr| service.clone());
    }

    /// [`serve_hyper`](Service::serve_hyper) with a service made for each
    /// connection from the peer's address.
    pub fn serve_hyper_with<L, M, S, B>(&self, listener: L, make: M)
    where
        L: Listener,
        M: Fn(&L::Addr) -> S + Send + 'static,
        S: hyper::service::Service<Request<Incoming>, Response = hyper::Response<B>>
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        spawn_server(&self.core, listener, make, None, "HTTP");
    }
}

/// Starts a tracked server task. `untracked` names a path prefix whose requests
/// are served but not counted (gRPC health).
pub(crate) fn spawn_server<L, M, S, B>(
    core: &Arc<Core>,
    mut listener: L,
    make: M,
    untracked: Option<&'static str>,
    what: &'static str,
) where
    L: Listener,
    M: Fn(&L::Addr) -> S + Send + 'static,
    S: hyper::service::Service<Request<Incoming>, Response = hyper::Response<B>>
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let core = core.clone();
    let addr = listener
        .local_addr()
        .map(|a| format!("{a:?}"))
        .unwrap_or_default();
    let inherited = listener.is_inherited();
    crate::service::lock(&core.listeners).push((addr.clone(), inherited));
    let span = info_span!("server", service = %core.name, protocol = what, addr = %addr, inherited);
    let builder = Arc::new(auto::Builder::new(TokioExecutor::new()));
    let late_builder = Arc::new(late_builder());
    // Held until the listener is closed: the sequence waits for it before exit.
    let closing = core.closing.token();
    let server = async move {
        info!(phase = "start", "serving {what}");
        let in_flight = core.in_flight.clone();
        // Until intake closes: every connection counted in flight.
        loop {
            // An inherited listener's next connection is counted before it is
            // accepted: one accepted as intake closes is then served, never answered
            // 503 (the successor would have served it). The guard is dropped at once
            // when intake closes first.
            let early = match inherited {
                true => match in_flight.enter() {
                    Ok(guard) => Some(guard),
                    Err(_) => break,
                },
                false => None,
            };
            let (io, peer) = tokio::select! {
                biased;
                _ = in_flight.closed() => break,
                conn = listener.accept() => conn,
            };
            let service = make(&peer);
            let Some(guard) = early.or_else(|| in_flight.enter().ok()) else {
                // Intake closed between the accept and now: a late connection.
                spawn_late(&core, &late_builder, io);
                break;
            };
            let conn = Connection {
                builder: builder.clone(),
                core: core.clone(),
                untracked,
                inherited,
                span: tracing::Span::current(),
            };
            // Not instrumented: entering a span on every poll of every connection
            // costs throughput (the subscriber's shared state is touched each
            // time); the connection's few events name the server's span.
            tokio::spawn(conn.serve(io, guard, service));
        }
        if inherited {
            // The socket outlives this process (the service manager holds it): no
            // filter on it (it would stay on the socket and starve the successor),
            // no 503 to what is queued: stop accepting and drop this descriptor,
            // leaving the queue to the next process.
            drop(listener);
            drop(closing);
            info!(
                phase = "intake",
                "listener inherited: leaving its queue to the successor"
            );
            return;
        }
        // After intake: whoever still connects is answered 503, not counted.
        debug!(phase = "intake", "answering new connections 503");
        loop {
            let (io, _) = tokio::select! {
                biased;
                _ = core.finished.cancelled() => break,
                conn = listener.accept() => conn,
            };
            spawn_late(&core, &late_builder, io);
        }
        // Exit: no new handshakes, answer what is queued, then close.
        if let Err(error) = listener.stop_handshakes() {
            debug!(%error, "cannot stop new handshakes: queued connections may be reset");
        }
        let mut answered = 0usize;
        while let Ok((io, _)) = tokio::time::timeout(QUEUE_QUIET, listener.accept()).await {
            spawn_late(&core, &late_builder, io);
            answered += 1;
        }
        drop(listener);
        drop(closing);
        debug!(phase = "finish", answered, "listener closed");
    };
    tokio::spawn(server.instrument(span));
}

/// The builder for connections that arrive after intake close: no keep-alive,
/// a bounded header read (the timer costs nothing here: these are few).
fn late_builder() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .keep_alive(false)
        .timer(TokioTimer::new())
        .header_read_timeout(LINGER);
    builder
}

/// Answers a connection that arrived after intake close with the one 503, through
/// hyper (HTTP/1.1 or HTTP/2), bounded, not counted in flight.
fn spawn_late<Io>(core: &Arc<Core>, builder: &Arc<auto::Builder<TokioExecutor>>, io: Io)
where
    Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    debug!("connection after intake close: answered 503");
    let builder = builder.clone();
    let io = Lingering::new(io, None, core.closing.clone());
    core.closing.spawn(
        async move {
            // Cancelled when hyper drops the answer's body, i.e. once the whole 503
            // is in the connection's write buffer: only then HTTP/2's GOAWAY, so it
            // follows the answer on the wire and never arrives before it.
            let answered = CancellationToken::new();
            let refuse = service_fn(|req: Request<Incoming>| {
                let sent = answered.clone().drop_guard();
                let rsp = refusal(&req).map(|body| Answer { body, _sent: sent });
                async move { Ok::<_, Infallible>(rsp) }
            });
            let conn = builder.serve_connection(TokioIo::new(io), refuse);
            let late = async {
                let mut conn = pin!(conn);
                tokio::select! {
                    _ = conn.as_mut() => return,
                    _ = answered.cancelled() => {}
                }
                // HTTP/2: one answer, then GOAWAY (HTTP/1.1 closes by itself).
                conn.as_mut().graceful_shutdown();
                let _ = conn.await;
            };
            if tokio::time::timeout(LATE_BOUND, late).await.is_err() {
                debug!("connection after intake close not done within its bound: closed");
            }
        }
        .in_current_span(),
    );
}

/// The late 503's body, and a guard dropped with it: hyper drops the body once the
/// whole answer is written to the connection, which tells the late connection's
/// task it may lead the connection out.
struct Answer {
    body: Full<Bytes>,
    _sent: DropGuard,
}

impl Body for Answer {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// One accepted connection, served until it closes or the shutdown leads it out.
struct Connection {
    builder: Arc<auto::Builder<TokioExecutor>>,
    core: Arc<Core>,
    untracked: Option<&'static str>,
    /// From an inherited listener: a request that was on its way when intake
    /// closed is served, not answered 503 (the successor would have served it).
    inherited: bool,
    /// The server's span, named by the connection's events.
    span: tracing::Span,
}

impl Connection {
    async fn serve<Io, S, B>(self, io: Io, guard: InFlightGuard, service: S)
    where
        Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
        S: hyper::service::Service<Request<Incoming>, Response = hyper::Response<B>>
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let core = &self.core;
        let state = Arc::new(ConnState::new(guard, core.in_flight.clone(), self.span));
        // The stream holds the connection counted in flight (through an upgrade too).
        let io = Lingering::new(io, Some(state.clone()), core.closing.clone());
        let leaving: Leaving = core.leaving.clone();
        let tracked = Tracked {
            inner: service,
            in_flight: core.in_flight.clone(),
            leaving: leaving.clone(),
            conn: state.clone(),
            untracked: self.untracked,
            admit_late: self.inherited,
        };
        let mut conn = pin!(
            self.builder
                .serve_connection_with_upgrades(TokioIo::new(io), tracked)
        );
        let (mut told, mut intake, mut gone_away) = (false, false, false);
        let mut parked = None;
        // Until intake closes: serve. Once the clients are told to leave (from the
        // trigger), HTTP/1.1 responses carry `Connection: close` and an HTTP/2
        // connection gets a graceful GOAWAY, so pooled clients reconnect while the
        // drain delay runs.
        //
        // gRPC is led out more carefully, because tonic's client fails (`Cancelled`)
        // a call it sends on a connection that has received GOAWAY but is not closed
        // yet. During the drain delay a gRPC connection gets GOAWAY only when no call
        // is open on it (it then closes at once and the client reconnects cleanly);
        // after intake close it stays open, its new calls answered `UNAVAILABLE`,
        // no longer counted in flight once idle, and closes at exit.
        //
        // The signals sit behind a gate: polled when they wake the task, not on
        // every wakeup for I/O (see `gate`).
        let gated = Gated::new();
        loop {
            let signal = async {
                tokio::select! {
                    biased;
                    _ = core.in_flight.closed(), if !intake => Signal::Intake,
                    _ = core.leave.cancelled(), if !told => Signal::Told,
                    _ = state.found_h2.notified(), if told && !gone_away => Signal::Look,
                    _ = state.idle.notified(), if state.watching_idle() => Signal::Look,
                    _ = core.finished.cancelled(), if parked.is_some() => Signal::Finished,
                    else => std::future::pending().await,
                }
            };
            match gated.first(conn.as_mut(), signal).await {
                Either::Left(result) => return log_end(result, &state),
                Either::Right(Signal::Intake) => intake = true,
                Either::Right(Signal::Told) => told = true,
                Either::Right(Signal::Look) => {}
                Either::Right(Signal::Finished) => break,
            }
            if !state.is_h2() {
                if intake {
                    break;
                }
            } else if !state.is_grpc() {
                if (told || intake) && !gone_away {
                    gone_away = true;
                    conn.as_mut().graceful_shutdown();
                }
                if intake {
                    break;
                }
            } else if !intake {
                if told && !gone_away && state.watch_idle() {
                    gone_away = true;
                    conn.as_mut().graceful_shutdown();
                }
            } else if gone_away {
                break;
            } else if parked.is_none() && state.watch_idle() {
                parked = Some(core.closing.token());
                state.release();
            }
        }
        // Intake closed (or, for a parked gRPC connection, the sequence finished).
        // HTTP/1.1: an idle connection closes now, a request being served finishes
        // first (with `Connection: close`). HTTP/2: GOAWAY, streams in flight
        // finish, new ones are refused. A connection that has not sent a complete
        // request head gets a moment to, and is then dropped: a slow or silent
        // client never holds the drain.
        let mut moment = pin!(tokio::time::sleep(LINGER));
        if !state.spoke() {
            // Nothing read yet, or its first bytes still being sniffed for the
            // protocol: a graceful shutdown now would drop a request already on its
            // way. Wait (a moment at most) for it to start, then lead it out.
            tokio::select! {
                biased;
                result = conn.as_mut() => return log_end(result, &state),
                _ = state.first.notified() => {}
                _ = moment.as_mut() => {
                    debug!(parent: &state.span, "connection silent since intake close: closed");
                    return;
                }
            }
        }
        conn.as_mut().graceful_shutdown();
        tokio::select! {
            biased;
            result = conn.as_mut() => return log_end(result, &state),
            _ = moment => {}
        }
        if state.busy() && parked.is_none() {
            log_end(conn.await, &state);
        } else {
            debug!(parent: &state.span, "connection without a request since intake close: closed");
        }
    }
}

/// What woke a connection's task, besides its I/O.
enum Signal {
    /// Intake closed.
    Intake,
    /// The clients are told to leave.
    Told,
    /// Look at the connection's state again.
    Look,
    /// The sequence finished.
    Finished,
}

fn log_end(result: Result<(), BoxError>, state: &ConnState) {
    if let Err(error) = result {
        debug!(parent: &state.span, %error, "connection ended with an error");
    }
}
