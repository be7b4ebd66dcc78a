//! Liveness and readiness: the state behind `/ready`, readiness checks, and the
//! hyper server answering `GET /health` and `GET /ready`.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, join_all};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{ALLOW, CONNECTION, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use crate::http::Listener;
use tracing::{debug, error};

use crate::liveness::{Liveness, NotLive};

use crate::report::{IntoOutcome, panic_message};

/// Where the service is in its life, as `/ready` sees it (kept in an atomic).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Stage {
    /// Setup has not finished.
    Starting = 0,
    /// Serving: ready, if every readiness check passes.
    Ready = 1,
    /// The shutdown has begun.
    ShuttingDown = 2,
}

impl Stage {
    fn from_u8(raw: u8) -> Self {
        match raw {
            0 => Stage::Starting,
            1 => Stage::Ready,
            _ => Stage::ShuttingDown,
        }
    }
}

/// Why `/ready` answers 503; its `Display` is the body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum NotReady {
    /// Setup has not finished.
    Starting,
    /// The shutdown has begun (the answer also carries `Connection: close`).
    ShuttingDown,
    /// Readiness checks failed, each described.
    Failing(Vec<String>),
    /// The main runtime did not run the checks in time.
    NotResponding(String),
}

impl std::fmt::Display for NotReady {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotReady::Starting => f.write_str("starting"),
            NotReady::ShuttingDown => f.write_str("shutting down"),
            NotReady::Failing(failures) => f.write_str(&failures.join("; ")),
            NotReady::NotResponding(why) => f.write_str(why),
        }
    }
}

/// How long a client may take to send a request's headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// The most a connection may buffer: probes are tiny requests.
const MAX_BUF: usize = 16 * 1024;

type CheckFn = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// One readiness check: a name, a timeout, and the check itself.
#[derive(Clone)]
pub(crate) struct Check {
    pub(crate) name: String,
    pub(crate) timeout: Duration,
    f: CheckFn,
}

impl Check {
    pub(crate) fn new<F, Fut>(name: String, timeout: Duration, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoOutcome,
    {
        Check {
            name,
            timeout,
            f: Arc::new(move || {
                let fut = check();
                Box::pin(async move { fut.await.into_outcome() })
            }),
        }
    }

    /// Runs the check bounded by its timeout; a hang or a panic is a failure.
    async fn run(&self) -> Result<(), String> {
        let fut = AssertUnwindSafe((self.f)()).catch_unwind();
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(Ok(result)) => result,
            Ok(Err(panic)) => Err(format!("panicked: {}", panic_message(&*panic))),
            Err(_) => Err(format!("timed out after {}ms", self.timeout.as_millis())),
        }
    }
}

/// What `/ready` answers: starting, ready (if every check passes), or stopping.
#[derive(Default)]
pub(crate) struct Readiness {
    state: AtomicU8,
    checks: Mutex<Vec<Check>>,
}

impl Readiness {
    fn stage(&self) -> Stage {
        Stage::from_u8(self.state.load(Ordering::SeqCst))
    }

    /// Setup finished: ready, unless the shutdown has already begun.
    pub(crate) fn set_ready(&self) {
        let (from, to) = (Stage::Starting as u8, Stage::Ready as u8);
        if self
            .state
            .compare_exchange(from, to, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            crate::metrics::readiness(Stage::Ready);
        }
    }

    /// The shutdown began: not ready, for good.
    pub(crate) fn set_stopping(&self) {
        self.state
            .store(Stage::ShuttingDown as u8, Ordering::SeqCst);
        crate::metrics::readiness(Stage::ShuttingDown);
    }

    /// The longest of the checks' timeouts (they run concurrently).
    fn checks_bound(&self) -> Duration {
        (self.checks.lock().unwrap_or_else(|p| p.into_inner()).iter())
            .map(|c| c.timeout)
            .max()
            .unwrap_or_default()
    }

    pub(crate) fn add_check(&self, check: Check) {
        self.checks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(check);
    }

    /// `Ok` when ready; otherwise why not, as `/ready`'s body says it.
    pub(crate) async fn status(&self) -> Result<(), NotReady> {
        match self.stage() {
            Stage::Starting => return Err(NotReady::Starting),
            Stage::ShuttingDown => return Err(NotReady::ShuttingDown),
            Stage::Ready => {}
        }
        let checks = self
            .checks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let results = join_all(checks.iter().map(|c| c.run())).await;
        let failures: Vec<String> = checks
            .iter()
            .zip(results)
            .filter_map(|(c, r)| r.err().map(|e| format!("check {} failed: {e}", c.name)))
            .collect();
        if failures.is_empty() {
            // A shutdown that began while the checks ran wins.
            if self.stage() == Stage::ShuttingDown {
                return Err(NotReady::ShuttingDown);
            }
            Ok(())
        } else {
            Err(NotReady::Failing(failures))
        }
    }
}

/// Binds the probes address; a taken port is a clear start-up error.
pub(crate) async fn bind(addrs: &[SocketAddr]) -> Result<TcpListener, crate::ConfigError> {
    TcpListener::bind(addrs)
        .await
        .map_err(|source| crate::ConfigError::ProbesBind {
            addr: addrs
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            source,
        })
}

/// Serves `/health` and `/ready` until the process exits, from a thread of its own
/// (a current-thread runtime), so a main runtime whose every thread is blocked is
/// still answered for: `/health` says so. `/ready`'s checks run on the main runtime,
/// bounded. Each connection is its own task with a header-read timeout and a small
/// buffer, so a slow or malformed client disturbs nothing else.
pub(crate) fn serve(
    listener: TcpListener,
    readiness: Arc<Readiness>,
    liveness: Arc<Liveness>,
    service: String,
) {
    let main = tokio::runtime::Handle::current();
    let listener = match listener.into_std() {
        Ok(listener) => listener,
        Err(error) => {
            error!(%service, phase = "probes", %error, "cannot hand the probes listener to its thread");
            return;
        }
    };
    let span = tracing::Span::current();
    let spawned = std::thread::Builder::new()
        .name("winddown-probes".into())
        .spawn(move || {
            let _entered = span.enter();
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(error) => {
                    error!(%service, phase = "probes", %error, "cannot start the probes' runtime");
                    return;
                }
            };
            rt.block_on(accept_loop(listener, readiness, liveness, service, main));
        });
    if let Err(error) = spawned {
        error!(phase = "probes", %error, "cannot start the probes' thread");
    }
}

async fn accept_loop(
    listener: std::net::TcpListener,
    readiness: Arc<Readiness>,
    liveness: Arc<Liveness>,
    service: String,
    main: tokio::runtime::Handle,
) {
    let mut listener = match TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(error) => {
            error!(%service, phase = "probes", %error, "cannot serve the probes");
            return;
        }
    };
    loop {
        // `Listener::accept` backs off on resource exhaustion: never spins.
        let (stream, peer) = Listener::accept(&mut listener).await;
        let probes = Probes {
            readiness: readiness.clone(),
            liveness: liveness.clone(),
            main: main.clone(),
        };
        let service = service.clone();
        tokio::spawn(async move {
            let probes = Arc::new(probes);
            let svc = service_fn(move |req| {
                let probes = probes.clone();
                async move { Ok::<_, Infallible>(answer(req, &probes).await) }
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .max_buf_size(MAX_BUF)
                .serve_connection(TokioIo::new(stream), svc);
            if let Err(error) = conn.await {
                debug!(%service, phase = "probes", ?peer, %error, "probe connection ended with an error");
            }
        });
    }
}

/// What the probes answer from.
struct Probes {
    readiness: Arc<Readiness>,
    liveness: Arc<Liveness>,
    /// The main runtime, where readiness checks (the user's futures) run.
    main: tokio::runtime::Handle,
}

/// How long `/health` waits for the main runtime to run a task, when its heartbeat
/// is late, before it says the runtime stalled.
const RUNTIME_CONFIRM: Duration = Duration::from_millis(500);

impl Probes {
    /// Liveness. A late runtime heartbeat is confirmed first: a task is handed to
    /// the main runtime, and only if it does not run within [`RUNTIME_CONFIRM`] is
    /// the runtime called stalled (a busy runtime that still runs tasks is alive).
    async fn health(&self) -> Result<(), NotLive> {
        match self.liveness.status() {
            Err(NotLive::Runtime(quiet)) => {
                let ran = self.main.spawn(async {});
                match tokio::time::timeout(RUNTIME_CONFIRM, ran).await {
                    Ok(_) => {
                        self.liveness.runtime_ran();
                        self.liveness.status()
                    }
                    Err(_) => Err(NotLive::Runtime(quiet + RUNTIME_CONFIRM)),
                }
            }
            other => other,
        }
    }

    /// Readiness, its checks run on the main runtime; a runtime too blocked to run
    /// them within their bound is not ready.
    async fn ready(&self) -> Result<(), NotReady> {
        let readiness = self.readiness.clone();
        let bound = readiness.checks_bound() + Duration::from_secs(1);
        let status = self.main.spawn(async move { readiness.status().await });
        match tokio::time::timeout(bound, status).await {
            Ok(Ok(status)) => status,
            Ok(Err(join)) => Err(NotReady::NotResponding(format!(
                "readiness checks failed to run: {join}"
            ))),
            Err(_) => Err(NotReady::NotResponding(format!(
                "runtime not responding: readiness checks did not run within {}ms",
                bound.as_millis()
            ))),
        }
    }
}

async fn answer(req: Request<Incoming>, probes: &Probes) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    #[cfg(feature = "metrics")]
    if path == "/metrics"
        && let Some(text) = crate::metrics::scrape()
    {
        return text_owned(StatusCode::OK, text);
    }
    if path != "/health" && path != "/ready" {
        return text(StatusCode::NOT_FOUND, "not found: use /health or /ready");
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut rsp = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed: use GET",
        );
        rsp.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return rsp;
    }
    if path == "/health" {
        return match probes.health().await {
            Ok(()) => text(StatusCode::OK, "ok"),
            Err(why) => text(StatusCode::SERVICE_UNAVAILABLE, &why.to_string()),
        };
    }
    match probes.ready().await {
        Ok(()) => text(StatusCode::OK, "ready"),
        Err(why) => {
            let mut rsp = text(StatusCode::SERVICE_UNAVAILABLE, &why.to_string());
            if why == NotReady::ShuttingDown {
                rsp.headers_mut()
                    .insert(CONNECTION, HeaderValue::from_static("close"));
            }
            rsp
        }
    }
}

#[cfg(feature = "metrics")]
fn text_owned(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut rsp = Response::new(Full::new(Bytes::from(body)));
    *rsp.status_mut() = status;
    rsp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    rsp
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut rsp = Response::new(Full::new(Bytes::from(format!("{body}\n"))));
    *rsp.status_mut() = status;
    rsp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    rsp
}
