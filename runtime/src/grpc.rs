//! tonic: a tracked gRPC server, calls refused with `UNAVAILABLE` once intake has
//! closed, and the standard health service following readiness (feature `tonic`).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::FutureExt;
use hyper::{Request, Response};
use hyper_util::service::TowerToHyperService;
use tonic::body::Body;
use tonic::service::Routes;
use tonic_health::ServingStatus;
use tonic_health::pb::health_server::{Health, HealthServer};

use crate::http::{Listener, TrackedBody, spawn_server};
use crate::in_flight::{self, Admission, InFlight};
use crate::service::Service;

/// The path prefix of the standard health service, whose calls are not counted in
/// flight (a `Watch` stream never ends, and a health check is not work to drain).
const HEALTH_PREFIX: &str = "/grpc.health.v1.Health/";

impl Service {
    /// Serves gRPC `routes` on `listener` (any [`Listener`]) with the tracked
    /// server: every call counts in flight until its response (stream included)
    /// has ended; from the first signal the clients get a graceful GOAWAY and
    /// reconnect (elsewhere, behind a balancer) while the drain delay runs; calls
    /// arriving after intake close get `UNAVAILABLE` (HTTP 503, which gRPC clients
    /// read as `UNAVAILABLE` and retry); calls in flight finish within the drain's
    /// deadline. Health calls (`grpc.health.v1.Health`) are answered throughout
    /// and not counted; a `Watch` stream ends at intake close.
    ///
    /// ```no_run
    /// # async fn demo(svc: winddown::Service) -> std::io::Result<()> {
    /// let routes = tonic::service::Routes::new(svc.grpc_health());
    /// svc.serve_grpc(tokio::net::TcpListener::bind("0.0.0.0:50051").await?, routes);
    /// # Ok(()) }
    /// ```
    pub fn serve_grpc<L: Listener>(&self, listener: L, routes: Routes) {
        let make = move |_: &L::Addr| TowerToHyperService::new(routes.clone());
        spawn_server(&self.core, listener, make, Some(HEALTH_PREFIX), "gRPC");
    }

    /// The standard gRPC health service (`grpc.health.v1.Health`), following
    /// readiness: `SERVING` once setup has finished, `NOT_SERVING` the moment the
    /// shutdown starts. Add it to the routes you serve.
    pub fn grpc_health(&self) -> HealthServer<impl Health> {
        let (reporter, server) = tonic_health::server::health_reporter();
        // tonic-health starts the overall service as SERVING. Nothing else holds the
        // reporter's lock yet, so the first poll sets NOT_SERVING before the server is
        // handed out: no call during setup can see SERVING.
        let not_serving = reporter.set_service_status("", ServingStatus::NotServing);
        let set_at_once = not_serving.now_or_never().is_some();
        let core = self.core.clone();
        tokio::spawn(async move {
            if !set_at_once {
                reporter
                    .set_service_status("", ServingStatus::NotServing)
                    .await;
            }
            tokio::select! {
                _ = core.became_ready.cancelled() => {
                    reporter.set_service_status("", ServingStatus::Serving).await;
                    core.shutdown.triggered().await;
                }
                _ = core.shutdown.triggered() => {}
            }
            reporter
                .set_service_status("", ServingStatus::NotServing)
                .await;
        });
        server
    }
}

/// A tower layer for tonic servers: counts each call in flight until its response
/// has ended, and answers `UNAVAILABLE` once intake has closed. Built into
/// [`Service::serve_grpc`]; add it yourself (`Server::builder().layer(..)`) when
/// serving tonic some other way.
#[derive(Clone, Debug, Default)]
pub struct GrpcLayer {
    in_flight: Option<InFlight>,
}

impl GrpcLayer {
    /// Counts into `svc`'s calls in flight.
    pub fn new(svc: &Service) -> Self {
        GrpcLayer {
            in_flight: Some(svc.in_flight()),
        }
    }

    /// Counts into the service running in this process when each call arrives.
    pub fn current() -> Self {
        GrpcLayer { in_flight: None }
    }
}

impl<S> tower_layer::Layer<S> for GrpcLayer {
    type Service = GrpcService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        GrpcService {
            inner,
            in_flight: self.in_flight.clone(),
        }
    }
}

/// The service [`GrpcLayer`] wraps.
#[derive(Clone, Debug)]
pub struct GrpcService<S> {
    inner: S,
    in_flight: Option<InFlight>,
}

impl<S, B> tower_service::Service<Request<B>> for GrpcService<S>
where
    S: tower_service::Service<Request<B>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        if req.uri().path().starts_with(HEALTH_PREFIX) {
            return Box::pin(inner.call(req));
        }
        match in_flight::admit(self.in_flight.as_ref()) {
            Admission::Untracked => Box::pin(inner.call(req)),
            Admission::Refused(refused) => {
                let status = tonic::Status::unavailable(refused.to_string());
                Box::pin(async move { Ok(status.into_http()) })
            }
            Admission::Counted(guard, in_flight) => Box::pin(async move {
                // Holding the guard: the handlers inside are let in (see `Admitted`).
                let rsp = crate::in_flight::Admitted::new(inner.call(req)).await?;
                Ok(TrackedBody::wrap(rsp, guard, &in_flight).map(Body::new))
            }),
        }
    }
}
