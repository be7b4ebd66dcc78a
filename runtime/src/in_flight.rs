//! Counting calls in flight, and refusing new ones once intake has closed.

use std::cell::RefCell;
use std::future::Future;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio_util::sync::{
    CancellationToken, WaitForCancellationFuture, WaitForCancellationFutureOwned,
};
use tokio_util::task::TaskTracker;
use tokio_util::task::task_tracker::TaskTrackerToken;

/// Returned instead of starting a call once the service's intake has closed.
///
/// Convert it into your own error type (`impl From<ShuttingDown> for MyError`) so
/// `?` carries it to the caller; with the `axum` feature it becomes a `503` with
/// `Connection: close`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, thiserror::Error)]
#[error("service is shutting down")]
pub struct ShuttingDown;

/// The calls in flight of one service: each tracked call is counted until it
/// returns, and the shutdown waits for the count to reach zero (bounded by what
/// is left of `grace`).
///
/// Cheap to clone: clones count into the same set.
///
/// ```
/// # async fn demo(svc: winddown::Service) -> Result<(), winddown::ShuttingDown> {
/// let in_flight = svc.in_flight();
/// let answer = in_flight.track(async { 40 + 2 }).await?;
/// assert_eq!(answer, 42);
/// # Ok(()) }
/// ```
#[derive(Clone, Default, Debug)]
pub struct InFlight {
    tracker: TaskTracker,
    /// Cancelled when intake closes.
    closed: CancellationToken,
}

/// Keeps one call counted in flight until dropped. From [`InFlight::enter`].
#[derive(Debug)]
#[must_use = "the call is counted only while the guard lives"]
pub struct InFlightGuard {
    _token: TaskTrackerToken,
}

impl InFlight {
    /// A new, open set of calls.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `fut` counted in flight, or returns [`ShuttingDown`] without polling it
    /// if intake had closed. The call counts from the moment `track` is called, so
    /// a spawned call is waited for even before its task first runs; the returned
    /// future borrows nothing from `self`.
    pub fn track<F: Future>(
        &self,
        fut: F,
    ) -> impl Future<Output = Result<F::Output, ShuttingDown>> + use<F> {
        let entered = self.enter();
        async move {
            let _guard = entered?;
            Ok(fut.await)
        }
    }

    /// Counts one call in flight until the guard is dropped, for calls whose end is
    /// not a single future (a response body that streams, say).
    pub fn enter(&self) -> Result<InFlightGuard, ShuttingDown> {
        // Count first, then look: a call that sees the intake open is always waited for.
        let token = self.tracker.token();
        if self.tracker.is_closed() {
            crate::metrics::refused();
            return Err(ShuttingDown);
        }
        Ok(InFlightGuard { _token: token })
    }

    /// How many calls are in flight now.
    pub fn len(&self) -> usize {
        self.tracker.len()
    }

    /// Whether no call is in flight.
    pub fn is_empty(&self) -> bool {
        self.tracker.is_empty()
    }

    /// Whether intake has closed (new calls get [`ShuttingDown`]).
    pub fn is_closed(&self) -> bool {
        self.tracker.is_closed()
    }

    /// Completes once intake has closed: streams and upgraded connections select on
    /// it to finish in time.
    pub fn closed(&self) -> WaitForCancellationFuture<'_> {
        self.closed.cancelled()
    }

    /// [`closed`](Self::closed), owning a handle, for futures that must be `'static`.
    pub fn closed_owned(&self) -> WaitForCancellationFutureOwned {
        self.closed.clone().cancelled_owned()
    }

    /// Counts something in flight even after intake closed (a connection being
    /// answered 503 must still be waited for before exit).
    pub(crate) fn hold(&self) -> InFlightGuard {
        InFlightGuard {
            _token: self.tracker.token(),
        }
    }

    pub(crate) fn close(&self) {
        self.tracker.close();
        self.closed.cancel();
    }

    pub(crate) async fn wait(&self) {
        self.tracker.wait().await;
    }
}

static CURRENT: RwLock<Option<InFlight>> = RwLock::new(None);
/// Bumped by every `set_current`: threads refresh their cached copy when it moves.
static GENERATION: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static CACHED: RefCell<(u64, Option<InFlight>)> = const { RefCell::new((u64::MAX, None)) };
}

/// Makes `in_flight` the process's current set (what a running service does).
pub(crate) fn set_current(in_flight: Option<InFlight>) {
    *CURRENT.write().unwrap_or_else(|p| p.into_inner()) = in_flight;
    GENERATION.fetch_add(1, Ordering::Release);
}

/// Calls `f` with the current set: one atomic load and a thread-local on the fast
/// path (no lock, no reference count), the shared copy only after a change.
fn with_current<R>(f: impl FnOnce(Option<&InFlight>) -> R) -> R {
    let generation = GENERATION.load(Ordering::Acquire);
    CACHED.with(|cached| {
        let mut cached = cached.borrow_mut();
        if cached.0 != generation {
            let current = CURRENT.read().unwrap_or_else(|p| p.into_inner()).clone();
            *cached = (generation, current);
        }
        f(cached.1.as_ref())
    })
}

/// How a layer lets a call in.
#[cfg(any(feature = "axum", feature = "tonic"))]
pub(crate) enum Admission {
    /// No service runs: the call runs uncounted.
    Untracked,
    /// Intake has closed.
    Refused(ShuttingDown),
    /// Counted until the guard goes; the set is kept for the response body.
    Counted(InFlightGuard, InFlight),
}

/// Admits a call into `explicit`, or into the current service's set.
#[cfg(any(feature = "axum", feature = "tonic"))]
pub(crate) fn admit(explicit: Option<&InFlight>) -> Admission {
    let in_flight = match explicit {
        Some(in_flight) => in_flight.clone(),
        None => match in_flight() {
            Some(in_flight) => in_flight,
            None => return Admission::Untracked,
        },
    };
    match in_flight.enter() {
        Ok(guard) => Admission::Counted(guard, in_flight),
        Err(refused) => Admission::Refused(refused),
    }
}

/// The calls in flight of the service running in this process, if one runs: what
/// `#[handler]` and [`track`] count into.
pub fn in_flight() -> Option<InFlight> {
    with_current(|c| c.cloned())
}

/// Runs `fut` counted in flight by the service running in this process (what
/// `#[handler]` does), counting from this call. Once that service's intake has
/// closed it returns [`ShuttingDown`]; with no service running, `fut` runs untracked.
///
/// ```
/// # async fn demo() -> Result<(), winddown::ShuttingDown> {
/// let n = winddown::track(async { 7 }).await?;
/// # assert_eq!(n, 7);
/// # Ok(()) }
/// ```
pub fn track<F: Future>(fut: F) -> impl Future<Output = Result<F::Output, ShuttingDown>> {
    let entered = with_current(|c| c.map(InFlight::enter).transpose());
    async move {
        let _guard = entered?;
        Ok(fut.await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_until_return_then_refuses_after_close() {
        let in_flight = InFlight::new();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let t = in_flight.clone();
        let call = tokio::spawn(async move { t.track(async { rx.await.ok() }).await });
        while in_flight.is_empty() {
            tokio::task::yield_now().await;
        }
        assert_eq!(in_flight.len(), 1);
        in_flight.close();
        assert_eq!(in_flight.track(async {}).await, Err(ShuttingDown));
        tx.send(()).unwrap();
        in_flight.wait().await;
        assert_eq!(call.await.unwrap(), Ok(Some(())));
        assert!(in_flight.is_empty());
    }
}
