//! The shutdown trigger, what started it, and the quit signal given to workers.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};
use tracing::info;

use crate::os::signal::Signal;
use crate::os::watchdog::Watchdog;

/// What started the shutdown.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Cause {
    /// A configured signal arrived.
    Signal(Signal),
    /// [`Shutdown::trigger`] was called.
    Triggered,
    /// Setup returned an error or panicked.
    SetupFailed,
    /// A worker marked critical panicked or ended.
    CriticalWorker(String),
    /// The service did not become ready within its `startup_timeout`.
    StartupTimedOut(Duration),
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Signal(sig) => write!(f, "signal {sig}"),
            Cause::Triggered => f.write_str("trigger() called"),
            Cause::SetupFailed => f.write_str("setup failed"),
            Cause::CriticalWorker(name) => write!(f, "critical worker `{name}` stopped"),
            Cause::StartupTimedOut(limit) => {
                write!(
                    f,
                    "not ready within startup_timeout {}",
                    crate::config::fmt_duration(*limit)
                )
            }
        }
    }
}

/// A handle that starts the shutdown from code and tells whether it has begun.
///
/// Cheap to clone; every clone controls the same service. Get it from
/// [`Service::shutdown`](crate::Service::shutdown).
///
/// ```no_run
/// # async fn demo(svc: winddown::Service) {
/// let shutdown = svc.shutdown();
/// tokio::spawn(async move {
///     shutdown.triggered().await;
///     println!("shutting down");
/// });
/// svc.shutdown().trigger(); // same as receiving SIGTERM
/// # }
/// ```
#[derive(Clone)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

struct Inner {
    service: String,
    token: CancellationToken,
    started: OnceLock<(Cause, Instant)>,
    watchdog: Watchdog,
}

impl Shutdown {
    pub(crate) fn new(service: String, watchdog: Watchdog) -> Self {
        Shutdown {
            inner: Arc::new(Inner {
                service,
                token: CancellationToken::new(),
                started: OnceLock::new(),
                watchdog,
            }),
        }
    }

    /// Starts the shutdown, exactly as a signal would. Calling it again, from any
    /// number of tasks, does nothing more.
    pub fn trigger(&self) {
        self.trigger_with(Cause::Triggered);
    }

    /// Starts the shutdown for `cause`; `false` if it had already started.
    pub(crate) fn trigger_with(&self, cause: Cause) -> bool {
        let now = Instant::now();
        if self.inner.started.set((cause.clone(), now)).is_err() {
            return false;
        }
        self.inner.watchdog.start(now);
        crate::metrics::shutdown_started(&cause);
        info!(service = %self.inner.service, phase = "trigger", cause = %cause, "shutdown started");
        self.inner.token.cancel();
        true
    }

    /// Whether the shutdown has started.
    pub fn is_triggered(&self) -> bool {
        self.inner.token.is_cancelled()
    }

    /// Completes once the shutdown has started (at once if it already has).
    pub fn triggered(&self) -> WaitForCancellationFuture<'_> {
        self.inner.token.cancelled()
    }

    /// What started the shutdown, once it has started.
    pub fn cause(&self) -> Option<Cause> {
        self.inner.started.get().map(|(cause, _)| cause.clone())
    }

    /// A `CancellationToken` cancelled when the shutdown starts, for libraries that
    /// take one. Cancelling it does not start the shutdown: call [`trigger`](Self::trigger).
    pub fn token(&self) -> CancellationToken {
        self.inner.token.child_token()
    }

    pub(crate) fn started_at(&self) -> Option<Instant> {
        self.inner.started.get().map(|(_, at)| *at)
    }

    pub(crate) fn service(&self) -> &str {
        &self.inner.service
    }

    pub(crate) fn watchdog(&self) -> &Watchdog {
        &self.inner.watchdog
    }
}

impl fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shutdown")
            .field("service", &self.inner.service)
            .field("cause", &self.cause())
            .finish()
    }
}

/// The signal a worker receives when it must stop: the `quit` channel of a
/// hand-written Go worker, but it can never be closed twice or forgotten.
///
/// A periodic worker never sees it: winddown stops between ticks. A worker that
/// owns its loop (`run(&mut self, quit: Quit)`) selects on [`Quit::cancelled`].
///
/// ```
/// # async fn work() {}
/// async fn run(quit: winddown::Quit) {
///     loop {
///         tokio::select! {
///             _ = quit.cancelled() => break,
///             _ = work() => {}
///         }
///     }
/// }
/// ```
#[derive(Clone, Debug)]
pub struct Quit {
    token: CancellationToken,
    beat: Option<Arc<crate::liveness::Beat>>,
}

impl Quit {
    pub(crate) fn new(token: CancellationToken) -> Self {
        Quit { token, beat: None }
    }

    /// This worker's `Quit`, carrying its proof of life.
    pub(crate) fn with_beat(&self, beat: Arc<crate::liveness::Beat>) -> Self {
        Quit {
            token: self.token.clone(),
            beat: Some(beat),
        }
    }

    /// Shows the worker is alive. A run-loop worker with a `stall` bound calls it
    /// at least once per `stall` (once per message handled, say); past that
    /// `/health` answers 503 naming the worker and systemd's watchdog is no longer
    /// pinged, until it calls again. Without a `stall` bound it does nothing.
    ///
    /// ```
    /// # async fn next_message() {}
    /// async fn run(quit: winddown::Quit) {
    ///     loop {
    ///         tokio::select! {
    ///             _ = quit.cancelled() => break,
    ///             _ = next_message() => quit.heartbeat(),
    ///         }
    ///     }
    /// }
    /// ```
    pub fn heartbeat(&self) {
        if let Some(beat) = &self.beat {
            beat.alive();
        }
    }

    /// Completes once the worker must stop.
    pub fn cancelled(&self) -> WaitForCancellationFuture<'_> {
        self.token.cancelled()
    }

    /// Whether the worker must stop.
    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    /// The underlying token, for libraries that take a `CancellationToken`.
    pub fn token(&self) -> CancellationToken {
        self.token.child_token()
    }
}
