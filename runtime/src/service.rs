//! The `Service` handle given to setup: start workers, add readiness checks, track
//! calls, reach the shutdown. The run itself is in `sequence.rs`.

use std::collections::HashMap;
use std::fmt::Debug;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::sync::atomic::AtomicBool;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, warn};

use crate::body::IntakeClosed;
use crate::config::{Builder, ConfigError, fmt_duration};
use crate::in_flight::{InFlight, ShuttingDown};
use crate::os::watchdog::Progress;
use crate::probes::{Check, Readiness};
use crate::report::IntoOutcome;
use crate::trigger::{Quit, Shutdown};
use crate::workers::{self, IntoWorker, Running};

/// The running service, as setup sees it: start workers, register readiness
/// checks, track calls, and reach the [`Shutdown`] handle.
///
/// Cheap to clone.
#[derive(Clone)]
pub struct Service {
    pub(crate) core: Arc<Core>,
}

pub(crate) struct Core {
    pub(crate) name: String,
    pub(crate) shutdown: Shutdown,
    pub(crate) in_flight: InFlight,
    pub(crate) quit: CancellationToken,
    /// Cancelled when the shutdown sequence has finished: servers close their listeners.
    pub(crate) finished: CancellationToken,
    /// Cancelled when readiness first turns true.
    pub(crate) became_ready: CancellationToken,
    pub(crate) readiness: Arc<Readiness>,
    /// What `/health` answers and whether systemd's watchdog is pinged.
    pub(crate) liveness: Arc<crate::liveness::Liveness>,
    pub(crate) workers: Mutex<Vec<Running>>,
    pub(crate) worker_names: Mutex<HashMap<String, usize>>,
    pub(crate) probes_addr: Option<SocketAddr>,
    pub(crate) progress: Arc<Progress>,
    /// Set (and `leave` cancelled) when the clients are told to leave, from the
    /// trigger: HTTP/1.1 responses carry `Connection: close`, HTTP/2 gets GOAWAY.
    pub(crate) leaving: Arc<AtomicBool>,
    pub(crate) leave: CancellationToken,
    /// Closing sockets and the answers to late connections: waited for, briefly,
    /// before the process exits, so none is reset.
    pub(crate) closing: TaskTracker,
    /// Each tracked server's listener: its address and whether it is inherited.
    pub(crate) listeners: Mutex<Vec<(String, bool)>>,
    /// What grace leaves a worker's stop (see `Plan::worker_room`).
    pub(crate) worker_room: Duration,
}

impl Core {
    /// Readiness turns true (once, unless the shutdown has begun); `why` is logged.
    pub(crate) fn mark_ready(&self, why: &str) -> bool {
        if self.shutdown.is_triggered() || self.became_ready.is_cancelled() {
            return false;
        }
        self.readiness.set_ready();
        self.became_ready.cancel();
        crate::os::systemd::ready();
        tracing::info!(service = %self.name, phase = "setup", why, "ready: /ready answers 200");
        true
    }
}

/// The service running in this process (what the WebSocket helper listens to), set
/// beside the current calls in flight; weak, so a finished service is not kept.
static CURRENT: Mutex<Option<std::sync::Weak<Core>>> = Mutex::new(None);

pub(crate) fn set_current(core: &Arc<Core>) {
    *lock(&CURRENT) = Some(Arc::downgrade(core));
}

/// The service running in this process, if one runs.
#[cfg_attr(not(feature = "ws"), allow(dead_code))]
pub(crate) fn current() -> Option<Arc<Core>> {
    lock(&CURRENT).as_ref().and_then(std::sync::Weak::upgrade)
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Service {
    /// Starts configuring a service named `name`.
    pub fn builder<S: Send + Sync + 'static>(name: impl Into<String>) -> Builder<S> {
        Builder::new(name)
    }

    /// The service's name.
    pub fn name(&self) -> &str {
        &self.core.name
    }

    /// Starts a worker now: a [`Worker`](crate::Worker) or a `#[worker]` struct. It
    /// is told to quit at shutdown and reported. A worker with invalid settings (a
    /// zero period) does not start and is reported as failed; a name already taken
    /// gets a `#2` suffix.
    pub fn spawn_worker(&self, worker: impl IntoWorker) {
        let mut worker = worker.into_worker();
        {
            let mut names = lock(&self.core.worker_names);
            let seen = names.entry(worker.name().to_owned()).or_insert(0);
            *seen += 1;
            if *seen > 1 {
                let renamed = format!("{}#{}", worker.name(), seen);
                worker = worker.named(renamed);
            }
        }
        if worker.stop_limit() > self.core.worker_room {
            let room = self.core.worker_room;
            let raise = worker.stop_limit() - room;
            warn!(
                service = %self.core.name, worker = worker.name(),
                stop_timeout_ms = worker.stop_limit().as_millis() as u64,
                room_ms = room.as_millis() as u64,
                "worker `{}` may take {} to stop, but grace leaves workers {} once the drain delay, \
                 the hooks and the report's margin have their time: raise grace by {}, or give the \
                 worker a stop_timeout of at most {}; otherwise a slow stop is cut short and reported",
                worker.name(),
                fmt_duration(worker.stop_limit()),
                fmt_duration(room),
                fmt_duration(raise),
                fmt_duration(room),
            );
        }
        let quit = Quit::new(self.core.quit.child_token());
        let running = workers::start(
            worker,
            quit,
            self.core.shutdown.clone(),
            &self.core.liveness,
        );
        lock(&self.core.workers).push(running);
    }

    /// The handle that triggers the shutdown and tells whether it has started.
    pub fn shutdown(&self) -> Shutdown {
        self.core.shutdown.clone()
    }

    /// The service's calls in flight (what the shutdown drains).
    pub fn in_flight(&self) -> InFlight {
        self.core.in_flight.clone()
    }

    /// Runs `fut` counted in flight from this call on, or returns [`ShuttingDown`]
    /// if intake had closed. See [`InFlight::track`].
    pub fn track<F: Future>(
        &self,
        fut: F,
    ) -> impl Future<Output = Result<F::Output, ShuttingDown>> + use<F> {
        self.core.in_flight.track(fut)
    }

    /// Adds a readiness check from setup, for checks that need state setup built
    /// (a database pool, say). A zero timeout is reported by `/ready` as a failing check.
    pub fn readiness_check<F, Fut>(&self, name: impl Into<String>, timeout: Duration, check: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoOutcome,
    {
        let name = name.into();
        let check = if timeout.is_zero() {
            let err = ConfigError::ZeroDuration {
                what: format!("the timeout of readiness check `{name}`"),
            };
            error!(service = %self.core.name, check = %name, error = %err, "readiness check refused");
            let msg = err.to_string();
            Check::new(name, Duration::from_secs(1), move || {
                let msg = msg.clone();
                async move { Err::<(), String>(msg) }
            })
        } else {
            Check::new(name, timeout, check)
        };
        self.core.readiness.add_check(check);
    }

    /// Completes when intake closes (step 3): a server stops accepting then.
    /// Servers from the integrations watch it for you; give it to a server you run
    /// yourself as its graceful-shutdown signal, e.g.
    /// `axum::serve(listener, app).with_graceful_shutdown(svc.intake_closed())`,
    /// so it keeps serving through the drain delay. Awaited from `main` (the
    /// setup), it also marks the service ready: see [`ready`](Self::ready).
    pub fn intake_closed(&self) -> IntakeClosed {
        IntakeClosed::new(&self.core)
    }

    /// Marks the service ready now, although setup has not returned: for a `main`
    /// that serves for the life of the service (`axum::serve(..).await` inside
    /// `#[service]`'s body). `/ready` turns 200 (unless the shutdown has begun),
    /// and from then on main's body is drained in step 4 like a call in flight:
    /// the hooks run after it returns, with the state it returns.
    ///
    /// Awaiting [`intake_closed`](Self::intake_closed) created in main does this
    /// for you. When setup returns, the service is ready anyway; calling this then
    /// does nothing.
    ///
    /// ```no_run
    /// # async fn demo(svc: winddown::Service) -> std::io::Result<()> {
    /// let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
    /// svc.ready(); // listening: send traffic
    /// # let _ = listener;
    /// # Ok(()) }
    /// ```
    pub fn ready(&self) {
        self.core.mark_ready("ready() called while main runs");
    }

    /// The address the probes server is bound to (useful with port 0).
    pub fn probes_addr(&self) -> Option<SocketAddr> {
        self.core.probes_addr
    }
}

impl Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("name", &self.core.name)
            .field("probes_addr", &self.core.probes_addr)
            .field("in_flight", &self.core.in_flight.len())
            .finish_non_exhaustive()
    }
}
