//! What the tracked server wraps around the user's service: each request counted
//! in flight until its response body has been sent, `Connection: close` once the
//! clients are told to leave, the one 503 once intake has closed, and server-sent
//! event streams ended at intake close.

use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body_util::Either;
use http_body_util::Full;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{CONNECTION, CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, StatusCode, Version};
use pin_project_lite::pin_project;
use tokio::sync::Notify;
use tokio_util::sync::WaitForCancellationFutureOwned;

use crate::in_flight::{InFlight, InFlightGuard};

/// Errors of a body, boxed.
pub type BoxError = Box<dyn StdError + Send + Sync>;

/// `503 Service Unavailable` with `Connection: close`: what a request gets once
/// intake has closed. The one definition: the tracked server, the late
/// connections, the layers and `ShuttingDown` as a response all answer with it.
pub fn shutting_down_response() -> Response<Full<Bytes>> {
    let mut rsp = Response::new(Full::new(Bytes::from_static(b"service is shutting down\n")));
    *rsp.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    let headers = rsp.headers_mut();
    headers.insert(CONNECTION, HeaderValue::from_static("close"));
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    rsp
}

/// The refusal `req` gets once intake has closed: the 503, or `UNAVAILABLE` for a
/// gRPC call.
pub(crate) fn refusal<B>(req: &Request<B>) -> Response<Full<Bytes>> {
    if is_grpc(req) {
        grpc_unavailable()
    } else {
        shutting_down_response()
    }
}

fn is_grpc<B>(req: &Request<B>) -> bool {
    req.headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

/// The same refusal for a gRPC call: a trailers-only response with status 14
/// `UNAVAILABLE`, which gRPC clients retry (elsewhere, behind a balancer).
fn grpc_unavailable() -> Response<Full<Bytes>> {
    let mut rsp = Response::new(Full::new(Bytes::new()));
    let headers = rsp.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert("grpc-status", HeaderValue::from_static("14"));
    headers.insert(
        "grpc-message",
        HeaderValue::from_static("service%20is%20shutting%20down"),
    );
    rsp
}

/// What one connection's task needs to know about the requests on it. Touched
/// twice per request, on the connection's own cache line.
pub(crate) struct ConnState {
    /// Holds the connection counted in flight; released when its stream is
    /// dropped (after the last byte was handed to the kernel), or earlier for a
    /// gRPC connection kept open idle after intake close.
    guard: Mutex<Option<InFlightGuard>>,
    /// Requests started on this connection.
    started: AtomicU32,
    /// Requests whose response body has ended (or was dropped).
    ended: AtomicU32,
    /// The connection speaks HTTP/2.
    h2: AtomicBool,
    /// Its first HTTP/2 request was a gRPC call.
    grpc: AtomicBool,
    /// Woken when the connection turns out to be HTTP/2 after the clients were
    /// told to leave, so its task sends GOAWAY.
    pub(crate) found_h2: Notify,
    /// Woken when the first request starts: until then hyper-util may still be
    /// reading the first bytes to tell HTTP/1.1 from HTTP/2.
    pub(crate) first: Notify,
    /// Set while the task waits for the connection to carry no request.
    watch_idle: AtomicBool,
    /// Woken when the last open request ends while `watch_idle` is set.
    pub(crate) idle: Notify,
    /// The service's calls in flight, cloned once per connection: a request reaches
    /// it through its `Ended`, never cloning the shared handle (one contended
    /// reference count on every request of every connection).
    in_flight: InFlight,
    /// The server's span: the connection's task runs outside it (see `serve`),
    /// its events name it.
    pub(crate) span: tracing::Span,
}

impl ConnState {
    pub(crate) fn new(guard: InFlightGuard, in_flight: InFlight, span: tracing::Span) -> Self {
        ConnState {
            in_flight,
            span,
            guard: Mutex::new(Some(guard)),
            started: AtomicU32::new(0),
            ended: AtomicU32::new(0),
            h2: AtomicBool::new(false),
            grpc: AtomicBool::new(false),
            found_h2: Notify::new(),
            first: Notify::new(),
            watch_idle: AtomicBool::new(false),
            idle: Notify::new(),
        }
    }

    /// The connection no longer counts in flight.
    pub(crate) fn release(&self) {
        drop(crate::service::lock(&self.guard).take());
    }

    /// A request is being served (its head was read, its body not yet sent).
    pub(crate) fn busy(&self) -> bool {
        self.started.load(Ordering::SeqCst) != self.ended.load(Ordering::SeqCst)
    }

    /// Whether a request has started on this connection.
    pub(crate) fn spoke(&self) -> bool {
        self.started.load(Ordering::SeqCst) != 0
    }

    pub(crate) fn is_h2(&self) -> bool {
        self.h2.load(Ordering::SeqCst)
    }

    pub(crate) fn is_grpc(&self) -> bool {
        self.grpc.load(Ordering::Relaxed)
    }

    /// Whether no request is open; if one is, the task is woken (`idle`) when
    /// the last one ends.
    pub(crate) fn watch_idle(&self) -> bool {
        self.watch_idle.store(true, Ordering::SeqCst);
        !self.busy()
    }

    pub(crate) fn watching_idle(&self) -> bool {
        self.watch_idle.load(Ordering::Relaxed)
    }
}

/// Marks a request's end on its connection when dropped.
pub(crate) struct Ended(Arc<ConnState>);

impl Drop for Ended {
    fn drop(&mut self) {
        let conn = &self.0;
        let ended = conn.ended.fetch_add(1, Ordering::SeqCst) + 1;
        if conn.watch_idle.load(Ordering::SeqCst) && ended == conn.started.load(Ordering::SeqCst) {
            conn.idle.notify_one();
        }
    }
}

/// Whether the clients are being told to leave: shared by every connection of a
/// service, read once per request.
pub(crate) type Leaving = Arc<AtomicBool>;

/// A hyper service wrapped so each request counts in flight until its body has
/// been sent, carries `Connection: close` once the clients are told to leave, and
/// is answered 503 once intake has closed.
pub(crate) struct Tracked<S> {
    pub(crate) inner: S,
    pub(crate) in_flight: InFlight,
    pub(crate) leaving: Leaving,
    pub(crate) conn: Arc<ConnState>,
    /// Requests under this path prefix are not counted (a health `Watch` stream
    /// never ends, and a health check is not work to drain); their streams still
    /// end at intake close.
    pub(crate) untracked: Option<&'static str>,
    /// Set for connections from an inherited listener (accepted before intake
    /// close: the successor cannot serve what arrives on them). Their request that
    /// was still on its way at intake close is served, counted by the connection's
    /// own guard: the first of a fresh connection, or the next one on an HTTP/1.1
    /// keep-alive connection (its response then closes the connection, so at most
    /// one per connection). New HTTP/2 streams are refused as elsewhere (the
    /// connection got GOAWAY, and clients retry them).
    pub(crate) admit_late: bool,
}

impl<S, B> hyper::service::Service<Request<Incoming>> for Tracked<S>
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>>,
    S::Error: Into<BoxError>,
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Response = Response<ServeBody<B>>;
    type Error = BoxError;
    type Future = TrackedCall<S::Future>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let conn = &self.conn;
        let first = conn.started.fetch_add(1, Ordering::SeqCst) == 0;
        if first {
            conn.first.notify_one();
        }
        let ended = Ended(conn.clone());
        if req.version() == Version::HTTP_2 && !conn.h2.load(Ordering::Relaxed) {
            // Store, then look (the connection's task looks the other way round):
            // a connection found to be HTTP/2 as the clients are told to leave
            // always gets its GOAWAY.
            conn.grpc.store(is_grpc(&req), Ordering::Relaxed);
            conn.h2.store(true, Ordering::SeqCst);
            if self.leaving.load(Ordering::SeqCst) {
                conn.found_h2.notify_one();
            }
        }
        let leaving = self.leaving.load(Ordering::Relaxed);
        let untracked = self
            .untracked
            .is_some_and(|prefix| req.uri().path().starts_with(prefix));
        let mut admitted = false;
        let guard = if untracked {
            None
        } else {
            match self.in_flight.enter() {
                Ok(guard) => Some(guard),
                // The connection's guard, held until it closes, counts this one.
                Err(_) if self.admit_late && (first || req.version() < Version::HTTP_2) => {
                    admitted = true;
                    None
                }
                Err(_) => {
                    tracing::debug!(parent: &conn.span, first, "request after intake close: refused");
                    let grpc = is_grpc(&req);
                    return TrackedCall::Refused {
                        ended: Some(ended),
                        grpc,
                    };
                }
            }
        };
        TrackedCall::Running {
            fut: self.inner.call(req),
            guard,
            ended: Some(ended),
            // Admitted past intake close: this response is the connection's last.
            close: leaving || admitted,
            untracked,
        }
    }
}

pin_project! {
    /// A call through the tracked server: refused, or running with its guard.
    #[project = CallProj]
    pub(crate) enum TrackedCall<F> {
        Refused { ended: Option<Ended>, grpc: bool },
        Running {
            #[pin]
            fut: F,
            guard: Option<InFlightGuard>,
            ended: Option<Ended>,
            close: bool,
            untracked: bool,
        },
    }
}

impl<F, B, E> Future for TrackedCall<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
    B: Body<Data = Bytes>,
{
    type Output = Result<Response<ServeBody<B>>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            CallProj::Refused { ended, grpc } => {
                drop(ended.take());
                let rsp = if *grpc {
                    grpc_unavailable()
                } else {
                    shutting_down_response()
                };
                Poll::Ready(Ok(rsp.map(Either::Right)))
            }
            CallProj::Running {
                fut,
                guard,
                ended,
                close,
                untracked,
            } => {
                // Counted (by its own guard, or the connection's when admitted past
                // intake): the `#[handler]`s and layers inside are let in even if
                // intake closes before they are called (axum calls a handler only
                // once its extractors ran), since this call already holds the drain.
                let result = ready!(if !*untracked {
                    crate::in_flight::poll_admitted(|| fut.poll(cx))
                } else {
                    fut.poll(cx)
                });
                let ended = ended.take();
                let mut rsp = result.map_err(Into::into)?;
                if *close {
                    // Told to leave: this response is the connection's last.
                    rsp.headers_mut()
                        .insert(CONNECTION, HeaderValue::from_static("close"));
                }
                let rsp = TrackedBody::new(rsp, guard.take(), ended, None, *untracked);
                Poll::Ready(Ok(rsp.map(Either::Left)))
            }
        }
    }
}

/// The tracked server's response body: the service's, tracked, or the 503.
pub(crate) type ServeBody<B> = Either<TrackedBody<B>, Full<Bytes>>;

pin_project! {
    /// A response body that keeps its request counted in flight until it has been
    /// sent, and ends a server-sent event stream cleanly once intake has closed.
    pub struct TrackedBody<B> {
        #[pin]
        inner: B,
        guard: Option<InFlightGuard>,
        ended: Option<Ended>,
        // Set for `text/event-stream` responses: completes at intake close.
        stop: Option<Pin<Box<WaitForCancellationFutureOwned>>>,
    }
}

impl<B: Body> TrackedBody<B> {
    /// Wraps `rsp`'s body, holding `guard` until the body ends.
    #[cfg(any(feature = "axum", feature = "tonic"))]
    pub(crate) fn wrap(
        rsp: Response<B>,
        guard: InFlightGuard,
        in_flight: &InFlight,
    ) -> Response<Self> {
        Self::new(rsp, Some(guard), None, Some(in_flight), false)
    }

    fn new(
        rsp: Response<B>,
        guard: Option<InFlightGuard>,
        ended: Option<Ended>,
        in_flight: Option<&InFlight>,
        stop_at_intake: bool,
    ) -> Response<Self> {
        let sse = rsp
            .headers()
            .get(CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        // The calls in flight given, or those of the request's connection.
        let in_flight = in_flight.or_else(|| ended.as_ref().map(|e| &e.0.in_flight));
        let stop = match sse || stop_at_intake {
            true => in_flight.map(|f| Box::pin(f.closed_owned())),
            false => None,
        };
        rsp.map(|inner| TrackedBody {
            inner,
            guard,
            ended,
            stop,
        })
    }
}

impl<B: Body> Body for TrackedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        if let Some(stop) = this.stop.as_mut()
            && stop.as_mut().poll(cx).is_ready()
        {
            // An event stream is told to finish: end it between events.
            *this.stop = None;
            *this.guard = None;
            *this.ended = None;
            return Poll::Ready(None);
        }
        let frame = ready!(this.inner.poll_frame(cx));
        if frame.is_none() {
            *this.guard = None;
            *this.ended = None;
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        // The guard goes at the latest when hyper drops the finished body.
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
