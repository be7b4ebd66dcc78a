//! Counting calls in flight, and refusing new ones once intake has closed.
//!
//! The count is striped: a set of calls is a handful of counters, each on its own
//! cache line, and a thread counts on the stripe it was given the first time it
//! tracked a call. Entering is one uncontended atomic add; leaving, one
//! compare-and-swap on the same line. No reference count is touched per call (a
//! `TaskTracker` token clones an `Arc` and adds to one shared word, so two threads
//! fight over that line on every call).
//!
//! The drain relies on three properties, each kept by the stripe's single word,
//! which holds both the count and the `CLOSED` bit:
//!
//! - **No admitted call is missed at intake close.** A call counts first, then
//!   looks: the add returns the word as it was, so either it came before `close`
//!   set `CLOSED` on that stripe (and the drain, which reads each stripe after
//!   closing it, sees the call), or it sees `CLOSED` and is refused.
//! - **The drain's wait wakes on the last call.** Once `CLOSED` is set, a call
//!   that leaves takes the slow path: it subtracts, then wakes the waiter, which
//!   registered before it summed the stripes, so no exit falls between its look
//!   and its sleep.
//! - **Memory per call is unchanged**: a guard is one pointer (as the
//!   `TaskTracker` token it replaces), nothing is allocated per call.
//!
//! Each stripe is a small reference-counted allocation of its own: the set holds
//! one reference, each call on it one more, and whoever drops the last frees it,
//! so a guard outliving every `InFlight` handle stays valid without a reference
//! count of the set.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use tokio::sync::Notify;
use tokio_util::sync::{
    CancellationToken, WaitForCancellationFuture, WaitForCancellationFutureOwned,
};

/// Returned instead of starting a call once the service's intake has closed.
///
/// Convert it into your own error type (`impl From<ShuttingDown> for MyError`) so
/// `?` carries it to the caller; with the `axum` feature it becomes a `503` with
/// `Connection: close`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, thiserror::Error)]
#[error("service is shutting down")]
pub struct ShuttingDown;

/// Set in a stripe's word once intake has closed.
const CLOSED: usize = 1 << (usize::BITS - 1);
/// The references in a stripe's word: the set's own, plus one per call on it.
const REFS: usize = !CLOSED;
/// Above this many references a count is about to overflow: abort, as `Arc` does.
const MAX_REFS: usize = REFS >> 1;

/// One counter on a cache line of its own (128 bytes: adjacent-line prefetch pairs
/// lines on x86, and some ARM cores have 128-byte lines).
#[repr(align(128))]
struct Stripe {
    /// `CLOSED` | references.
    word: AtomicUsize,
    /// Woken by every call that leaves after intake closed.
    wake: Arc<Notify>,
}

/// One reference to a stripe; dropping it releases the reference.
struct StripeRef(NonNull<Stripe>);

// SAFETY: a `StripeRef` only reaches the stripe through `&Stripe`, whose fields are
// an atomic and an `Arc<Notify>` (both `Send + Sync`); the allocation lives until
// the last reference is released, on whichever thread that happens.
unsafe impl Send for StripeRef {}
// SAFETY: as above; `&StripeRef` gives out nothing but `&Stripe`.
unsafe impl Sync for StripeRef {}

impl StripeRef {
    fn new(wake: Arc<Notify>) -> Self {
        let stripe = Box::new(Stripe {
            word: AtomicUsize::new(1),
            wake,
        });
        StripeRef(NonNull::from(Box::leak(stripe)))
    }

    fn stripe(&self) -> &Stripe {
        // SAFETY: `self` holds a reference, so the allocation has not been freed.
        unsafe { self.0.as_ref() }
    }

    /// One more reference: a call counted on this stripe. Counts first, then looks:
    /// the returned flag says whether intake was open when the call was counted.
    #[inline]
    fn acquire(&self) -> (StripeRef, bool) {
        let before = self.stripe().word.fetch_add(1, Ordering::AcqRel);
        if before > MAX_REFS && before & REFS > MAX_REFS {
            std::process::abort();
        }
        (StripeRef(self.0), before & CLOSED == 0)
    }

    fn count(&self) -> usize {
        // The set's own reference is not a call.
        (self.stripe().word.load(Ordering::Acquire) & REFS).saturating_sub(1)
    }

    fn close(&self) {
        self.stripe().word.fetch_or(CLOSED, Ordering::AcqRel);
    }
}

impl Drop for StripeRef {
    #[inline]
    fn drop(&mut self) {
        let word = &self.stripe().word;
        let mut now = word.load(Ordering::Relaxed);
        // Open: a compare-and-swap, so the subtraction itself proves that intake
        // was still open and no waiter needs waking.
        while now & CLOSED == 0 {
            match word.compare_exchange_weak(now, now - 1, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => {
                    if now == 1 {
                        self.free();
                    }
                    return;
                }
                Err(changed) => now = changed,
            }
        }
        self.release_closed();
    }
}

impl StripeRef {
    /// Leaving after intake closed: subtract, then wake the drain. The `Notify` is
    /// held by a clone of its own, since the stripe may be freed by the subtraction.
    #[cold]
    fn release_closed(&self) {
        let wake = Arc::clone(&self.stripe().wake);
        let before = self.stripe().word.fetch_sub(1, Ordering::AcqRel);
        if before & REFS == 1 {
            self.free();
        }
        wake.notify_waiters();
    }

    /// Frees the stripe; called by whoever released its last reference.
    #[cold]
    fn free(&self) {
        // SAFETY: the last reference was just released (the AcqRel subtraction saw
        // 1, ordered after every other release), the allocation came from
        // `Box::leak`, and no `StripeRef` to it is used afterwards.
        drop(unsafe { Box::from_raw(self.0.as_ptr()) });
    }
}

/// How many stripes a set has: a power of two, four per core, 8 to 256.
fn stripe_count() -> usize {
    static COUNT: OnceLock<usize> = OnceLock::new();
    *COUNT.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        (cores * 4).next_power_of_two().clamp(8, 256)
    })
}

/// This thread's stripe number, handed out round-robin the first time it asks.
#[inline]
fn this_thread_stripe() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static MINE: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    MINE.with(|mine| match mine.get() {
        usize::MAX => {
            let n = NEXT.fetch_add(1, Ordering::Relaxed) & (usize::MAX >> 1);
            mine.set(n);
            n
        }
        n => n,
    })
}

/// The shared part of an [`InFlight`].
struct Set {
    stripes: Box<[StripeRef]>,
    wake: Arc<Notify>,
    /// Cancelled when intake closes.
    closed: CancellationToken,
    /// Set when the clients are told to leave (from the trigger, unless turned
    /// off): HTTP/1.1 responses then carry `Connection: close`.
    leaving: std::sync::atomic::AtomicBool,
}

/// The calls in flight of one service: each tracked call is counted until it
/// returns, and the shutdown waits for the count to reach zero (bounded by what
/// is left of `grace`).
///
/// Cheap to clone: clones count into the same set. Counting a call costs one
/// uncontended atomic add and one compare-and-swap, however many threads track
/// calls at once (see the module's notes).
///
/// ```
/// # async fn demo(svc: winddown::Service) -> Result<(), winddown::ShuttingDown> {
/// let in_flight = svc.in_flight();
/// let answer = in_flight.track(async { 40 + 2 }).await?;
/// assert_eq!(answer, 42);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct InFlight {
    set: Arc<Set>,
}

impl Default for InFlight {
    fn default() -> Self {
        let wake = Arc::new(Notify::new());
        let stripes = (0..stripe_count())
            .map(|_| StripeRef::new(wake.clone()))
            .collect();
        InFlight {
            set: Arc::new(Set {
                stripes,
                wake,
                closed: CancellationToken::new(),
                leaving: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }
}

impl fmt::Debug for InFlight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InFlight")
            .field("len", &self.len())
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// Keeps one call counted in flight until dropped. From [`InFlight::enter`].
#[must_use = "the call is counted only while the guard lives"]
pub struct InFlightGuard {
    _stripe: StripeRef,
}

impl fmt::Debug for InFlightGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InFlightGuard").finish_non_exhaustive()
    }
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
        Track::new(self.enter().map(Some), fut)
    }

    /// Counts one call in flight until the guard is dropped, for calls whose end is
    /// not a single future (a response body that streams, say).
    #[inline]
    pub fn enter(&self) -> Result<InFlightGuard, ShuttingDown> {
        // Count first, then look: a call that sees the intake open is always waited for.
        let (stripe, open) = self.stripe().acquire();
        let guard = InFlightGuard { _stripe: stripe };
        if open {
            Ok(guard)
        } else {
            crate::metrics::refused();
            // Dropping the guard uncounts it, and wakes a drain that saw it.
            Err(ShuttingDown)
        }
    }

    /// How many calls are in flight now.
    pub fn len(&self) -> usize {
        self.set.stripes.iter().map(StripeRef::count).sum()
    }

    /// Whether no call is in flight.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether intake has closed (new calls get [`ShuttingDown`]).
    pub fn is_closed(&self) -> bool {
        self.set.closed.is_cancelled()
    }

    /// Completes once intake has closed: streams and upgraded connections select on
    /// it to finish in time.
    pub fn closed(&self) -> WaitForCancellationFuture<'_> {
        self.set.closed.cancelled()
    }

    /// [`closed`](Self::closed), owning a handle, for futures that must be `'static`.
    pub fn closed_owned(&self) -> WaitForCancellationFutureOwned {
        self.set.closed.clone().cancelled_owned()
    }

    #[inline]
    fn stripe(&self) -> &StripeRef {
        let stripes = &self.set.stripes;
        &stripes[this_thread_stripe() & (stripes.len() - 1)]
    }

    /// From now on the clients are told to leave.
    pub(crate) fn tell_leave(&self) {
        self.set.leaving.store(true, Ordering::SeqCst);
    }

    /// Whether the clients are being told to leave (read once per response).
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    pub(crate) fn is_leaving(&self) -> bool {
        self.set.leaving.load(Ordering::Relaxed)
    }

    /// Closes intake: from now on [`enter`](Self::enter) refuses.
    pub(crate) fn close(&self) {
        for stripe in self.set.stripes.iter() {
            stripe.close();
        }
        self.set.closed.cancel();
    }

    /// Completes once intake has closed and no call is in flight.
    pub(crate) async fn wait(&self) {
        self.closed().await;
        loop {
            // Register first, then sum: a call leaving after the sum wakes us.
            let mut woken = pin!(self.set.wake.notified());
            woken.as_mut().enable();
            if self.is_empty() {
                return;
            }
            woken.await;
        }
    }
}

static CURRENT: RwLock<Option<InFlight>> = RwLock::new(None);
/// Bumped by every `set_current`: threads refresh their cached copy when it moves.
static GENERATION: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static CACHED: RefCell<(u64, Option<InFlight>)> = const { RefCell::new((u64::MAX, None)) };
}

thread_local! {
    /// Set while a call admitted past intake close is polled (see [`poll_admitted`]).
    static ADMITTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Polls with the tracked calls made inside admitted even after intake close: an
/// outer guard (the request's own, or the connection's for a request that was on
/// its way at intake on an inherited listener) already counts them, so a call the
/// server admitted is never refused by a `#[handler]` called a moment later.
#[cfg(feature = "http")]
pub(crate) fn poll_admitted<T>(poll: impl FnOnce() -> T) -> T {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            ADMITTED.set(self.0);
        }
    }
    let _reset = Reset(ADMITTED.replace(true));
    poll()
}

fn admitted() -> bool {
    ADMITTED.get()
}

#[cfg(any(feature = "axum", feature = "tonic"))]
pin_project_lite::pin_project! {
    /// A future polled with the tracked calls inside it admitted (see
    /// [`poll_admitted`]): what a layer runs while it holds the call's guard.
    pub(crate) struct Admitted<F> {
        #[pin]
        fut: F,
    }
}

#[cfg(any(feature = "axum", feature = "tonic"))]
impl<F: Future> Admitted<F> {
    pub(crate) fn new(fut: F) -> Self {
        Admitted { fut }
    }
}

#[cfg(any(feature = "axum", feature = "tonic"))]
impl<F: Future> Future for Admitted<F> {
    type Output = F::Output;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        let fut = self.project().fut;
        poll_admitted(|| fut.poll(cx))
    }
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
        Err(_) if admitted() => Admission::Untracked,
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
    let entered = match with_current(|c| c.map(InFlight::enter).transpose()) {
        Err(_) if admitted() => Ok(None),
        entered => entered,
    };
    Track::new(entered, fut)
}

pin_project_lite::pin_project! {
    /// A call counted in flight (its guard, if counted) until `fut` returns, or the
    /// refusal. Written out rather than an `async` block: the state machine of one
    /// cost about as much again as the counting itself.
    struct Track<F> {
        #[pin]
        fut: F,
        // `Err`: refused; `Ok(None)`: untracked; taken when the call returns.
        entered: Option<Result<Option<InFlightGuard>, ShuttingDown>>,
    }
}

impl<F> Track<F> {
    #[inline]
    fn new(entered: Result<Option<InFlightGuard>, ShuttingDown>, fut: F) -> Self {
        Track {
            fut,
            entered: Some(entered),
        }
    }
}

impl<F: Future> Future for Track<F> {
    type Output = Result<F::Output, ShuttingDown>;

    #[inline]
    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let this = self.project();
        match this.entered {
            Some(Ok(_)) => {}
            Some(Err(refused)) => {
                let refused = *refused;
                *this.entered = None;
                return std::task::Poll::Ready(Err(refused));
            }
            None => panic!("`track`'s future polled after it returned"),
        }
        let out = std::task::ready!(this.fut.poll(cx));
        // The guard goes as the call returns.
        *this.entered = None;
        std::task::Poll::Ready(Ok(out))
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

    /// A guard is one pointer, as the `TaskTracker` token it replaced.
    #[test]
    fn a_guard_is_one_pointer() {
        assert_eq!(size_of::<InFlightGuard>(), size_of::<usize>());
        assert_eq!(size_of::<Option<InFlightGuard>>(), size_of::<usize>());
    }

    /// The drain's properties, hammered: threads enter and leave on every stripe
    /// while intake closes under them, round after round.
    ///
    /// - a call admitted (enter returned `Ok`) is always waited for: the drain never
    ///   returns while one is live;
    /// - a call that starts after `close` returned is refused;
    /// - the drain wakes on the last call (a lost wakeup hangs a round: bounded);
    /// - guards outliving every handle stay valid (the last one frees the stripe).
    #[test]
    fn stress_no_admitted_call_is_missed_and_the_drain_wakes_on_the_last() {
        use std::sync::atomic::{AtomicBool, AtomicUsize};
        use std::time::{Duration, Instant};

        let threads = 4;
        let rounds: u64 = 300;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut leftovers = Vec::new();
        for round in 0..rounds {
            let in_flight = InFlight::new();
            // A guard outliving every handle of its set, released on another thread.
            if round.is_multiple_of(50) {
                let other = InFlight::new();
                leftovers.push(other.enter().expect("intake open"));
                other.close();
            }
            let live = Arc::new(AtomicUsize::new(0));
            let closed = Arc::new(AtomicBool::new(false));
            let drained = Arc::new(AtomicBool::new(false));
            let stop = Arc::new(AtomicBool::new(false));
            let workers: Vec<_> = (0..threads)
                .map(|t| {
                    let (in_flight, live, closed, drained, stop) = (
                        in_flight.clone(),
                        live.clone(),
                        closed.clone(),
                        drained.clone(),
                        stop.clone(),
                    );
                    std::thread::spawn(move || {
                        let mut kept = None;
                        let (mut admitted, mut refused) = (0u64, 0u64);
                        while !stop.load(Ordering::Acquire) {
                            let after_close = closed.load(Ordering::Acquire);
                            match in_flight.enter() {
                                Ok(guard) => {
                                    assert!(!after_close, "admitted after close returned");
                                    live.fetch_add(1, Ordering::AcqRel);
                                    assert!(
                                        !drained.load(Ordering::Acquire),
                                        "a call live after the drain returned"
                                    );
                                    for _ in 0..(admitted % 64) {
                                        std::hint::spin_loop();
                                    }
                                    live.fetch_sub(1, Ordering::AcqRel);
                                    admitted += 1;
                                    // Now and then a guard outlives the round's handles.
                                    if (admitted + t as u64).is_multiple_of(997) && kept.is_none() {
                                        kept = Some(guard);
                                        break;
                                    }
                                }
                                Err(ShuttingDown) => refused += 1,
                            }
                        }
                        (admitted, refused, kept)
                    })
                })
                .collect();
            // Let them run, then close under them (the moment varies by round).
            let until = Instant::now() + Duration::from_micros(200 + (round % 7) * 150);
            while Instant::now() < until {
                std::hint::spin_loop();
            }
            in_flight.close();
            closed.store(true, Ordering::Release);
            // Calls kept past the round are released only after it: leave them out.
            let wait = rt.block_on(async {
                tokio::time::timeout(Duration::from_secs(20), async {
                    // Everything is refused from here on; workers stop soon.
                    stop.store(true, Ordering::Release);
                    loop {
                        if workers.iter().all(|w| w.is_finished()) {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                })
                .await
            });
            assert!(wait.is_ok(), "round {round}: workers did not stop");
            let mut kept = Vec::new();
            for w in workers {
                let (_admitted, _refused, guard) = w.join().expect("a worker panicked");
                kept.extend(guard);
            }
            // With guards kept the drain must wait; released, it must wake.
            let waiting = {
                let in_flight = in_flight.clone();
                let drained = drained.clone();
                let live = live.clone();
                rt.spawn(async move {
                    in_flight.wait().await;
                    assert_eq!(live.load(Ordering::Acquire), 0);
                    drained.store(true, Ordering::Release);
                })
            };
            rt.block_on(async {
                tokio::time::sleep(Duration::from_millis(1)).await;
            });
            assert_eq!(
                drained.load(Ordering::Acquire),
                kept.is_empty() && in_flight.is_empty()
            );
            assert_eq!(in_flight.len(), kept.len());
            let release = std::thread::spawn(move || drop(kept));
            let woke =
                rt.block_on(async { tokio::time::timeout(Duration::from_secs(20), waiting).await });
            assert!(
                woke.is_ok(),
                "round {round}: the drain missed the last call's wakeup"
            );
            release.join().unwrap();
            assert!(drained.load(Ordering::Acquire));
            drop(in_flight);
        }
        std::thread::spawn(move || drop(leftovers)).join().unwrap();
    }
}
