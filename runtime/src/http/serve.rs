//! Tracked HTTP serving over hyper: each connection counts in flight until it
//! closes, requests after intake close get `503` with `Connection: close`, idle
//! keep-alive connections are closed at intake, server-sent event streams are ended
//! cleanly, and nobody is reset: connections still arriving during the drain are
//! answered `503`, and every socket is closed with a lingering close.

use std::error::Error as StdError;
use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{CONNECTION, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::WaitForCancellationFutureOwned;
use tracing::{debug, info, warn};

use crate::in_flight::{InFlight, InFlightGuard};
use crate::service::Service;

/// Errors of a body, boxed.
pub type BoxError = Box<dyn StdError + Send + Sync>;

/// How long a closing socket keeps reading what the client still sends, so closing
/// it never turns unread bytes into a reset.
const LINGER: Duration = Duration::from_secs(1);

impl Service {
    /// Serves `service` (any hyper service) on `listener` until the shutdown, tracked:
    ///
    /// - every connection counts in flight until it closes, so the drain waits for
    ///   each response to be written, not just produced;
    /// - from intake close, requests get `503` with `Connection: close`, idle
    ///   keep-alive connections are closed, `text/event-stream` responses end
    ///   cleanly (clients reconnect elsewhere), and connections still arriving are
    ///   accepted and answered `503` rather than left to be reset;
    /// - sockets close with a lingering close: unread bytes never become a reset.
    ///
    /// The server runs as its own task; call this from setup. HTTP/1.1, with upgrades.
    pub fn serve_hyper<S, B>(&self, listener: TcpListener, service: S)
    where
        S: hyper::service::Service<Request<Incoming>, Response = Response<B>>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let svc = self.clone();
        tokio::spawn(async move {
            let core = &svc.core;
            let name = core.name.clone();
            match listener.local_addr() {
                Ok(addr) => info!(service = %name, phase = "start", %addr, "serving HTTP"),
                Err(_) => info!(service = %name, phase = "start", "serving HTTP"),
            }
            let in_flight = core.in_flight.clone();
            loop {
                let stream = tokio::select! {
                    biased;
                    _ = in_flight.closed() => break,
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => stream,
                        Err(error) => {
                            warn!(service = %name, %error, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                };
                let guard = in_flight.hold();
                let tracked = Tracked {
                    inner: service.clone(),
                    in_flight: in_flight.clone(),
                    served: Arc::default(),
                };
                tokio::spawn(serve_connection(stream, tracked, in_flight.clone(), guard));
            }
            // Intake closed: until the sequence ends, whoever still connects (the listen
            // backlog included) is answered 503 instead of being reset.
            debug!(service = %name, "intake closed: answering new connections 503");
            loop {
                tokio::select! {
                    biased;
                    _ = core.finished.cancelled() => break,
                    accepted = listener.accept() => {
                        if let Ok((stream, _)) = accepted {
                            tokio::spawn(refuse(stream, in_flight.hold()));
                        }
                    }
                }
            }
        });
    }
}

async fn serve_connection<S, B>(
    stream: TcpStream,
    service: Tracked<S>,
    in_flight: InFlight,
    guard: InFlightGuard,
) where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let _ = stream.set_nodelay(true);
    let served = service.served.clone();
    // The guard lives with the socket: through an upgrade (WebSocket) too.
    let io = TokioIo::new(Lingering::new(stream, guard));
    let mut conn = pin!(
        // No per-request header timer (like `axum::serve`: it costs ~6% of throughput);
        // a connection that never sends a request is closed a moment after intake.
        http1::Builder::new()
            .serve_connection(io, service)
            .with_upgrades()
    );
    let result = tokio::select! {
        result = conn.as_mut() => result,
        _ = in_flight.closed() => {
            // A connection that has not sent its first request yet may be sending it
            // right now: give it a moment to, and answer it 503. One that has been
            // served and sits idle closes now (the keep-alive race HTTP clients retry).
            if !served.load(Ordering::Acquire) {
                if let Ok(result) = tokio::time::timeout(LINGER, conn.as_mut()).await {
                    return log_end(result);
                }
            }
            // Finish the response in progress, then close.
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    log_end(result);
}

fn log_end(result: Result<(), hyper::Error>) {
    if let Err(error) = result {
        debug!(%error, "connection ended with an error");
    }
}

/// Answers a connection that arrived after intake closed: read the request head,
/// answer 503 with `Connection: close`, close without a reset.
async fn refuse(stream: TcpStream, guard: InFlightGuard) {
    let mut stream = Lingering::new(stream, guard);
    let mut buf = [0u8; 4096];
    let mut seen = Vec::new();
    let head = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => {
                    seen.extend_from_slice(&buf[..n]);
                    if seen.windows(4).any(|w| w == b"\r\n\r\n") || seen.len() > 64 * 1024 {
                        return true;
                    }
                }
            }
        }
    };
    if let Ok(true) = tokio::time::timeout(LINGER, head).await {
        let body = b"service is shutting down\n";
        let response = format!(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n\
             connection: close\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.write_all(body).await;
    }
    let _ = stream.shutdown().await;
}

/// A hyper service wrapped so each request counts in flight until its body has
/// been sent, and is answered 503 once intake has closed.
#[derive(Clone)]
struct Tracked<S> {
    inner: S,
    in_flight: InFlight,
    /// Set once this connection has received a request.
    served: Arc<AtomicBool>,
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
        self.served.store(true, Ordering::Release);
        match self.in_flight.enter() {
            Ok(guard) => TrackedCall::Running {
                fut: self.inner.call(req),
                guard: Some(guard),
                in_flight: self.in_flight.clone(),
            },
            Err(_) => TrackedCall::Refused,
        }
    }
}

pin_project! {
    /// A call through the tracked server: refused, or running with its guard.
    #[project = CallProj]
    pub(crate) enum TrackedCall<F> {
        Refused,
        Running {
            #[pin]
            fut: F,
            guard: Option<InFlightGuard>,
            in_flight: InFlight,
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
            CallProj::Refused => Poll::Ready(Ok(
                shutting_down_response().map(|body| ServeBody::Refused { body })
            )),
            CallProj::Running {
                fut,
                guard,
                in_flight,
            } => {
                let rsp = ready!(fut.poll(cx)).map_err(Into::into)?;
                let guard = guard.take().expect("a call completes once");
                let rsp = TrackedBody::wrap(rsp, guard, in_flight);
                Poll::Ready(Ok(rsp.map(|body| ServeBody::Tracked { body })))
            }
        }
    }
}

pin_project! {
    /// The tracked server's response body: the service's, tracked, or the 503.
    #[project = ServeBodyProj]
    pub(crate) enum ServeBody<B> {
        Tracked { #[pin] body: TrackedBody<B> },
        Refused { #[pin] body: Full<Bytes> },
    }
}

impl<B> Body for ServeBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.project() {
            ServeBodyProj::Tracked { body } => body.poll_frame(cx).map_err(Into::into),
            ServeBodyProj::Refused { body } => body.poll_frame(cx).map_err(|never| match never {}),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ServeBody::Tracked { body } => body.is_end_stream(),
            ServeBody::Refused { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ServeBody::Tracked { body } => body.size_hint(),
            ServeBody::Refused { body } => body.size_hint(),
        }
    }
}

/// `503 Service Unavailable` with `Connection: close`: what a request gets once
/// intake has closed.
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

pin_project! {
    /// A response body that keeps its request counted in flight until it has been
    /// sent, and ends a server-sent event stream cleanly once intake has closed.
    pub struct TrackedBody<B> {
        #[pin]
        inner: B,
        guard: Option<InFlightGuard>,
        // Set for `text/event-stream` responses: completes at intake close.
        stop: Option<Pin<Box<WaitForCancellationFutureOwned>>>,
    }
}

impl<B: Body> TrackedBody<B> {
    /// Wraps `rsp`'s body, holding `guard` until the body ends.
    pub(crate) fn wrap(
        rsp: Response<B>,
        guard: InFlightGuard,
        in_flight: &InFlight,
    ) -> Response<Self> {
        let sse = rsp
            .headers()
            .get(CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        let stop = sse.then(|| Box::pin(in_flight.closed_owned()));
        rsp.map(|inner| TrackedBody {
            inner,
            guard: Some(guard),
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
        if let Some(stop) = this.stop.as_mut() {
            if stop.as_mut().poll(cx).is_ready() {
                // An event stream is told to finish: end it between events.
                *this.stop = None;
                *this.guard = None;
                return Poll::Ready(None);
            }
        }
        let frame = ready!(this.inner.poll_frame(cx));
        if frame.is_none() {
            *this.guard = None;
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

/// A socket that counts in flight while it lives and closes politely: on drop it
/// sends FIN and keeps reading (for up to a second) what the client still sends, so
/// the kernel never answers unread bytes with a reset.
pub(crate) struct Lingering {
    stream: Option<TcpStream>,
    /// Released on drop, when every response byte has been handed to the kernel.
    _guard: InFlightGuard,
}

impl Lingering {
    pub(crate) fn new(stream: TcpStream, guard: InFlightGuard) -> Self {
        Lingering {
            stream: Some(stream),
            _guard: guard,
        }
    }

    fn get(&mut self) -> &mut TcpStream {
        self.stream.as_mut().expect("stream present until drop")
    }
}

impl Drop for Lingering {
    fn drop(&mut self) {
        let Some(mut stream) = self.stream.take() else {
            return;
        };
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        handle.spawn(async move {
            let _ = stream.shutdown().await;
            let mut sink = [0u8; 4096];
            let drain = async {
                while let Ok(n) = stream.read(&mut sink).await {
                    if n == 0 {
                        break;
                    }
                }
            };
            let _ = tokio::time::timeout(LINGER, drain).await;
        });
    }
}

impl AsyncRead for Lingering {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(self.get()).poll_read(cx, buf)
    }
}

impl AsyncWrite for Lingering {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(self.get()).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.get()).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.get()).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(self.get()).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.as_ref().is_some_and(|s| s.is_write_vectored())
    }
}
