//! axum: a tracked `serve`, a tower layer that counts requests in flight and answers
//! 503 once intake has closed, and `ShuttingDown` as a response (feature `axum`).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::Extension;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use hyper_util::service::TowerToHyperService;
use tower_layer::Layer;

use crate::http::{Listener, TrackedBody, shutting_down_response};
use crate::in_flight::{self, Admission, InFlight, ShuttingDown};
use crate::service::Service;

impl Service {
    /// Serves an axum `Router` on `listener` (TCP, a Unix socket, a TLS acceptor:
    /// any [`Listener`]), HTTP/1.1 and HTTP/2 on one port, tracked and drained at
    /// shutdown. Handlers can extract `ConnectInfo<L::Addr>` as with `axum::serve`.
    ///
    /// - every connection and request counts in flight until its last byte is
    ///   written, so the drain waits for responses to be sent, not just produced;
    /// - from the first signal the clients are told to leave (`Connection: close`
    ///   on HTTP/1.1 responses, GOAWAY on HTTP/2; see
    ///   [`Builder::tell_clients_to_leave`](crate::Builder::tell_clients_to_leave));
    /// - at intake close idle connections close, requests being served finish,
    ///   `text/event-stream` responses end between events, a connection that has
    ///   not sent a complete request head gets a second to and is then closed;
    /// - connections arriving after intake close are answered 503 with
    ///   `Connection: close` (not counted, so they never hold the drain), and at
    ///   exit the listen queue is answered too: no client is reset.
    ///
    /// The server runs as its own task; call this from setup.
    ///
    /// ```no_run
    /// # async fn demo(svc: winddown::Service) -> std::io::Result<()> {
    /// let app = axum::Router::new().route("/", axum::routing::get(|| async { "hello" }));
    /// svc.serve(tokio::net::TcpListener::bind("0.0.0.0:8080").await?, app);
    /// # Ok(()) }
    /// ```
    pub fn serve<L: Listener>(&self, listener: L, router: axum::Router) {
        self.serve_hyper_with(listener, move |peer: &L::Addr| {
            let service = Extension(ConnectInfo(peer.clone())).layer(router.clone());
            TowerToHyperService::new(service)
        });
    }
}

/// `503 Service Unavailable` with `Connection: close`, so a `#[handler]` whose
/// error type wraps `ShuttingDown` can answer with it.
impl IntoResponse for ShuttingDown {
    fn into_response(self) -> Response {
        shutting_down_response().map(Body::new)
    }
}

/// A tower layer for routers served some other way (e.g. `axum::serve`): counts each
/// request in flight until its body has been sent, answers 503 with
/// `Connection: close` once intake has closed, and ends server-sent event streams
/// at intake close. From the first signal (unless
/// [`tell_clients_to_leave`](crate::Builder::tell_clients_to_leave) is off) its
/// HTTP/1.1 responses carry `Connection: close`, so the server closes each
/// connection after its response and pooled clients reconnect elsewhere during
/// the drain delay. With [`Service::serve`] it is built in, with more (HTTP/2
/// GOAWAY, connections counted, no reset at exit).
///
/// The layer sees requests, not connections: it releases a call when its response
/// body has ended, a moment before the server writes the last bytes. If the process
/// exits at once after the drain (no hook, or instant ones), those bytes can be lost
/// under heavy load; [`Service::serve`] counts connections and has no such race.
///
/// ```no_run
/// # async fn demo(svc: winddown::Service) {
/// let app: axum::Router = axum::Router::new()
///     .route("/", axum::routing::get(|| async { "hello" }))
///     .layer(winddown::http::InFlightLayer::new(&svc));
/// # }
/// ```
#[derive(Clone, Debug, Default)]
pub struct InFlightLayer {
    in_flight: Option<InFlight>,
}

impl InFlightLayer {
    /// Counts into `svc`'s calls in flight.
    pub fn new(svc: &Service) -> Self {
        InFlightLayer {
            in_flight: Some(svc.in_flight()),
        }
    }

    /// Counts into the service running in this process when each request arrives
    /// (none running: untracked).
    pub fn current() -> Self {
        InFlightLayer { in_flight: None }
    }
}

impl<S> tower_layer::Layer<S> for InFlightLayer {
    type Service = InFlightService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        InFlightService {
            inner,
            in_flight: self.in_flight.clone(),
        }
    }
}

/// The service [`InFlightLayer`] wraps around a router or handler.
#[derive(Clone, Debug)]
pub struct InFlightService<S> {
    inner: S,
    in_flight: Option<InFlight>,
}

impl<S> tower_service::Service<Request> for InFlightService<S>
where
    S: tower_service::Service<Request, Response = Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        // The clone that was made ready serves this call (tower's usual dance).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        match in_flight::admit(self.in_flight.as_ref()) {
            Admission::Untracked => Box::pin(inner.call(req)),
            Admission::Refused(refused) => Box::pin(async move { Ok(refused.into_response()) }),
            Admission::Counted(guard, in_flight) => Box::pin(async move {
                let http1 = req.version() < axum::http::Version::HTTP_2;
                // Holding the guard: the handlers inside are let in (see `Admitted`).
                let mut rsp = in_flight::Admitted::new(inner.call(req)).await?;
                if http1 && in_flight.is_leaving() {
                    // The server closes after this response; the client reconnects
                    // (through its load balancer) while the drain delay runs.
                    rsp.headers_mut().insert(
                        axum::http::header::CONNECTION,
                        axum::http::HeaderValue::from_static("close"),
                    );
                }
                Ok(TrackedBody::wrap(rsp, guard, &in_flight).map(Body::new))
            }),
        }
    }
}
