//! Workers: periodic ones that tick, and ones that own their loop and watch `Quit`.

use std::collections::VecDeque;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{debug, error, info, warn};

use crate::liveness::{Beat, Liveness};
use crate::report::Outcome;
use crate::report::{IntoOutcome, panic_message};
use crate::trigger::{Cause, Quit, Shutdown};

/// The default bound on a worker's stop: 5 seconds.
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// A worker that does one unit of work every period: what `#[worker(every = "…")]`
/// generates, and what builder users implement by hand.
///
/// A tick in progress is allowed to finish at shutdown; the wait for the next one
/// ends at once. An error from a tick is logged and the loop goes on; a panic ends
/// the worker and is reported.
///
/// ```
/// struct Cleanup;
///
/// impl winddown::workers::Periodic for Cleanup {
///     type Output = Result<(), std::io::Error>;
///     async fn tick(&mut self) -> Self::Output {
///         Ok(())
///     }
/// }
///
/// let worker = winddown::Worker::every(std::time::Duration::from_secs(5), Cleanup);
/// assert_eq!(worker.name(), "Cleanup");
/// ```
pub trait Periodic: Send + 'static {
    /// `()` or `Result<(), E>`.
    type Output: IntoOutcome;
    /// One unit of periodic work.
    fn tick(&mut self) -> impl Future<Output = Self::Output> + Send;
}

/// A worker that owns its loop and stops when told through [`Quit`]: what
/// `#[worker]` without `every` generates.
///
/// If it ignores `quit`, it is aborted at its stop timeout and reported.
pub trait RunLoop: Send + 'static {
    /// `()` or `Result<(), E>`.
    type Output: IntoOutcome;
    /// The worker's whole life; return once `quit` is cancelled.
    fn run(&mut self, quit: Quit) -> impl Future<Output = Self::Output> + Send;
}

type Body = Box<dyn FnOnce(Quit, WorkerCtx) -> BoxFuture<'static, Result<(), String>> + Send>;

/// A worker ready to start: its name, its stop timeout, whether it is critical,
/// and its body. Start it with [`Builder::worker`](crate::Builder::worker) or
/// [`Service::spawn_worker`](crate::Service::spawn_worker).
pub struct Worker {
    name: String,
    every: Option<Duration>,
    stop_timeout: Duration,
    critical: bool,
    stall: Option<Duration>,
    restart: Option<Restart>,
    /// Whether its body can run again (a [`RunLoop`]; not a `FnOnce`).
    restartable: bool,
    body: Body,
}

/// How a run-loop worker is restarted when it fails (returns an error or panics)
/// before it was told to quit: after a backoff that doubles from `backoff` up to
/// `max_backoff` (1 s to 1 min by default), at most `max_restarts` times within
/// `window` (default: unlimited). Each restart is logged with its attempt number
/// and counted in the report; quit during a backoff ends the worker at once. When
/// the restarts are exhausted the worker stops with its last failure, and a
/// critical worker then starts the shutdown.
///
/// Ticking workers need none of this: a failed tick is logged and the next tick
/// runs on time; a panicking tick ends the worker.
///
/// ```
/// use std::time::Duration;
/// use winddown::workers::Restart;
///
/// let policy = Restart::on_failure()
///     .backoff(Duration::from_millis(500), Duration::from_secs(30))
///     .max_restarts(5)
///     .within(Duration::from_secs(600));
/// let w = winddown::Worker::run(Consumer).restart(policy).critical();
/// # struct Consumer;
/// # impl winddown::workers::RunLoop for Consumer {
/// #     type Output = ();
/// #     async fn run(&mut self, quit: winddown::Quit) { quit.cancelled().await }
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Restart {
    backoff: Duration,
    max_backoff: Duration,
    max_restarts: Option<u32>,
    window: Option<Duration>,
}

impl Restart {
    /// Restart on an error or a panic, with the default backoff (1 s doubling to
    /// 1 min) and no limit.
    pub fn on_failure() -> Self {
        Restart {
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            max_restarts: None,
            window: None,
        }
    }

    /// The first delay and the most a delay grows to (it doubles each restart).
    pub fn backoff(mut self, first: Duration, max: Duration) -> Self {
        self.backoff = first;
        self.max_backoff = max;
        self
    }

    /// At most `n` restarts (within [`within`](Self::within), if set); then the
    /// worker stops with its last failure.
    pub fn max_restarts(mut self, n: u32) -> Self {
        self.max_restarts = Some(n);
        self
    }

    /// Counts restarts only within a sliding window, so a worker that fails rarely
    /// is restarted for ever while one that keeps failing runs out.
    pub fn within(mut self, window: Duration) -> Self {
        self.window = Some(window);
        self
    }

    /// The delay before restart number `attempt` (1-based).
    fn delay(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(31));
        self.backoff.saturating_mul(factor).min(self.max_backoff)
    }
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("name", &self.name)
            .field("every", &self.every)
            .field("stop_timeout", &self.stop_timeout)
            .field("critical", &self.critical)
            .field("stall", &self.stall)
            .field("restart", &self.restart)
            .finish_non_exhaustive()
    }
}

/// What a worker's loop needs to log, and its proof of life when it has a `stall`.
#[derive(Clone)]
pub(crate) struct WorkerCtx {
    service: String,
    worker: String,
    beat: Option<Arc<Beat>>,
    restart: Option<Restart>,
    /// How many times it was restarted.
    restarts: Arc<AtomicU32>,
}

impl Worker {
    /// A periodic worker calling `worker.tick()` every `every`, the first time one
    /// period after it starts. Named after the type, e.g. `Cleanup`.
    pub fn every<P: Periodic>(every: Duration, worker: P) -> Self {
        Self::new(type_name::<P>(), Some(every), move |quit, ctx| {
            Box::pin(tick_loop(every, worker, quit, ctx))
        })
    }

    /// A periodic worker from a closure, for work that needs no struct.
    ///
    /// ```
    /// use std::time::Duration;
    /// let w = winddown::Worker::every_fn("metrics", Duration::from_secs(10), || async {
    ///     // push metrics
    /// });
    /// assert_eq!(w.name(), "metrics");
    /// ```
    pub fn every_fn<F, Fut>(name: impl Into<String>, every: Duration, tick: F) -> Self
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoOutcome,
    {
        Self::every(every, FnTick(tick)).named(name)
    }

    /// A worker that owns its loop, calling `worker.run(quit)` once. Named after
    /// the type.
    pub fn run<R: RunLoop>(mut worker: R) -> Self {
        let mut w = Self::new(type_name::<R>(), None, move |quit, ctx| {
            Box::pin(async move {
                match ctx.restart.clone() {
                    None => worker.run(quit).await.into_outcome(),
                    Some(policy) => supervise(&mut worker, quit, &ctx, &policy).await,
                }
            })
        });
        w.restartable = true;
        w
    }

    /// A worker that owns its loop, from a closure given the [`Quit`].
    ///
    /// ```
    /// let w = winddown::Worker::run_fn("consumer", |quit| async move {
    ///     quit.cancelled().await;
    /// });
    /// assert_eq!(w.name(), "consumer");
    /// ```
    pub fn run_fn<F, Fut>(name: impl Into<String>, run: F) -> Self
    where
        F: FnOnce(Quit) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoOutcome,
    {
        Self::new(name.into(), None, move |quit, _ctx| {
            Box::pin(async move { run(quit).await.into_outcome() })
        })
    }

    fn new(
        name: String,
        every: Option<Duration>,
        body: impl FnOnce(Quit, WorkerCtx) -> BoxFuture<'static, Result<(), String>> + Send + 'static,
    ) -> Self {
        Worker {
            name,
            every,
            stop_timeout: DEFAULT_STOP_TIMEOUT,
            critical: false,
            stall: None,
            restart: None,
            restartable: false,
            body: Box::new(body),
        }
    }

    /// Renames the worker (in logs and the report).
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Bounds the worker's stop (default 5s): past it the worker is aborted and
    /// reported as timed out.
    pub fn stop_timeout(mut self, timeout: Duration) -> Self {
        self.stop_timeout = timeout;
        self
    }

    /// Marks the worker critical: if it panics or ends before it is told to quit,
    /// the service shuts down (and exits 1).
    pub fn critical(mut self) -> Self {
        self.critical = true;
        self
    }

    /// Watches the worker for stalls: a tick running longer than `stall`, or a
    /// run-loop worker not calling [`Quit::heartbeat`] for longer than `stall`,
    /// turns `/health` to 503 (the body names the worker) and stops systemd's
    /// watchdog pings, so the orchestrator restarts the process; it recovers by
    /// itself when the worker moves again.
    pub fn stall(mut self, stall: Duration) -> Self {
        self.stall = Some(stall);
        self
    }

    /// Restarts the worker when it fails, by `policy`. Only for a worker that owns
    /// its loop and can run again: [`Worker::run`] or `#[worker(restart = ..)]`
    /// (not [`Worker::run_fn`], whose closure runs once, nor a ticking worker).
    pub fn restart(mut self, policy: Restart) -> Self {
        self.restart = Some(policy);
        self
    }

    /// The worker's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How long its stop may take before it is aborted.
    pub(crate) fn stop_limit(&self) -> Duration {
        self.stop_timeout
    }

    /// What is wrong with this worker's settings, if anything.
    /// The worker's durations, named as its settings are.
    pub(crate) fn durations(&self) -> impl Iterator<Item = (&'static str, Duration)> {
        (self.every.map(|every| ("every", every)).into_iter())
            .chain(std::iter::once(("stop_timeout", self.stop_timeout)))
            .chain(self.stall.map(|stall| ("stall", stall)))
    }

    pub(crate) fn invalid(&self) -> Option<crate::ConfigError> {
        use crate::ConfigError;
        if self.name.trim().is_empty() {
            return Some(ConfigError::EmptyName { what: "worker" });
        }
        if self.every == Some(Duration::ZERO) {
            return Some(ConfigError::ZeroDuration {
                what: format!("`every` of worker `{}`", self.name),
            });
        }
        if self.stop_timeout.is_zero() {
            return Some(ConfigError::ZeroDuration {
                what: format!("`stop_timeout` of worker `{}`", self.name),
            });
        }
        if let Some(policy) = &self.restart {
            if self.every.is_some() {
                return Some(ConfigError::Worker {
                    name: self.name.clone(),
                    problem: "a ticking worker is not restarted: a failed tick is logged and the \
                              next tick runs on time; remove `restart`"
                        .into(),
                });
            }
            if !self.restartable {
                return Some(ConfigError::Worker {
                    name: self.name.clone(),
                    problem: "a `run_fn` closure runs once and cannot be restarted: implement \
                              `RunLoop` and use `Worker::run`"
                        .into(),
                });
            }
            if policy.backoff.is_zero() {
                return Some(ConfigError::ZeroDuration {
                    what: format!("the restart backoff of worker `{}`", self.name),
                });
            }
            if policy.backoff > policy.max_backoff {
                return Some(ConfigError::Worker {
                    name: self.name.clone(),
                    problem: format!(
                        "the restart backoff ({}) is longer than its maximum ({})",
                        crate::config::fmt_duration(policy.backoff),
                        crate::config::fmt_duration(policy.max_backoff)
                    ),
                });
            }
            if policy.window == Some(Duration::ZERO) {
                return Some(ConfigError::ZeroDuration {
                    what: format!("the restart window of worker `{}`", self.name),
                });
            }
        }
        if self.stall == Some(Duration::ZERO) {
            return Some(ConfigError::ZeroDuration {
                what: format!("`stall` of worker `{}`", self.name),
            });
        }
        let (what, value) = self
            .durations()
            .find(|(_, d)| *d > crate::config::MAX_DURATION)?;
        Some(ConfigError::TooLong {
            what: format!("`{what}` of worker `{}`", self.name),
            value,
        })
    }
}

/// Anything that can be started as a worker: a [`Worker`], or a struct carrying
/// `#[worker]`.
pub trait IntoWorker {
    /// The worker, with its name and settings.
    fn into_worker(self) -> Worker;
}

impl IntoWorker for Worker {
    fn into_worker(self) -> Worker {
        self
    }
}

struct FnTick<F>(F);

impl<F, Fut> Periodic for FnTick<F>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: IntoOutcome,
{
    type Output = Fut::Output;
    fn tick(&mut self) -> impl Future<Output = Fut::Output> + Send {
        (self.0)()
    }
}

async fn tick_loop<P: Periodic>(
    every: Duration,
    mut worker: P,
    quit: Quit,
    ctx: WorkerCtx,
) -> Result<(), String> {
    let mut interval = tokio::time::interval_at(Instant::now() + every, every);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = quit.cancelled() => return Ok(()),
            _ = interval.tick() => {}
        }
        let started = Instant::now();
        if let Some(beat) = &ctx.beat {
            beat.busy(true);
        }
        // A tick in progress finishes even if quit arrives meanwhile.
        let outcome = worker.tick().await.into_outcome();
        if let Some(beat) = &ctx.beat {
            beat.busy(false);
        }
        match outcome {
            Ok(()) => debug!(
                service = %ctx.service,
                worker = %ctx.worker,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "tick done"
            ),
            Err(error) => warn!(
                service = %ctx.service,
                worker = %ctx.worker,
                %error,
                "tick failed; the worker goes on"
            ),
        }
    }
}

/// Runs a run-loop worker, restarting it by `policy` when it fails before quit.
/// Gives up with its last failure (a panic is resumed, so it is reported as one).
async fn supervise<R: RunLoop>(
    worker: &mut R,
    quit: Quit,
    ctx: &WorkerCtx,
    policy: &Restart,
) -> Result<(), String> {
    let mut recent: VecDeque<Instant> = VecDeque::new();
    let mut attempt = 0u32;
    loop {
        let started = Instant::now();
        // `R::Output` need not be `Send`: turn it into text before the next await.
        let (failure, panic) = match AssertUnwindSafe(worker.run(quit.clone()))
            .catch_unwind()
            .await
            .map(IntoOutcome::into_outcome)
        {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => (e, None),
            Err(payload) => (
                format!("panicked: {}", panic_message(&*payload)),
                Some(payload),
            ),
        };
        let give_up = |failure: String, panic: Option<Box<dyn std::any::Any + Send>>| match panic {
            Some(payload) => std::panic::resume_unwind(payload),
            None => Err(failure),
        };
        if quit.is_cancelled() {
            return give_up(failure, panic);
        }
        let now = Instant::now();
        if let Some(window) = policy.window {
            while recent
                .front()
                .is_some_and(|t| now.duration_since(*t) > window)
            {
                recent.pop_front();
            }
        }
        if policy
            .max_restarts
            .is_some_and(|max| recent.len() >= max as usize)
        {
            error!(service = %ctx.service, worker = %ctx.worker, restarts = ctx.restarts.load(Ordering::Relaxed),
                error = %failure, "worker failed; its restarts are exhausted");
            return give_up(failure, panic);
        }
        // A run that lasted longer than the longest backoff was healthy: start over.
        if started.elapsed() >= policy.max_backoff {
            attempt = 0;
        }
        attempt += 1;
        let delay = policy.delay(attempt);
        let total = ctx.restarts.fetch_add(1, Ordering::Relaxed) + 1;
        warn!(service = %ctx.service, worker = %ctx.worker, attempt, restart = total,
            delay_ms = delay.as_millis() as u64, error = %failure, "worker failed; restarting after backoff");
        crate::metrics::worker_restarted(&ctx.worker);
        tokio::select! {
            _ = quit.cancelled() => return give_up(failure, panic),
            _ = tokio::time::sleep(delay) => {}
        }
        recent.push_back(Instant::now());
        info!(service = %ctx.service, worker = %ctx.worker, attempt, "worker restarted");
    }
}

/// A started worker.
pub(crate) struct Running {
    pub(crate) name: String,
    stop_timeout: Duration,
    handle: Option<JoinHandle<Outcome>>,
    /// Set when the worker could not start (bad settings).
    refused: Option<Outcome>,
}

/// Starts `worker` on the runtime. A panic or an early end is logged at once;
/// a critical worker's triggers the shutdown.
pub(crate) fn start(
    worker: Worker,
    quit: Quit,
    shutdown: Shutdown,
    liveness: &Arc<Liveness>,
) -> Running {
    if let Some(err) = worker.invalid() {
        error!(service = %shutdown.service(), worker = %worker.name, error = %err, "worker not started");
        return Running {
            name: worker.name,
            stop_timeout: Duration::ZERO,
            handle: None,
            refused: Some(Outcome::Failed(format!("not started: {err}"))),
        };
    }
    let Worker {
        name,
        every,
        stop_timeout,
        critical,
        stall,
        restart,
        body,
        ..
    } = worker;
    // A ticking worker is busy only while it ticks; a run loop always is.
    let beat = stall.map(|stall| liveness.watch(&name, stall, every.is_none()));
    let ctx = WorkerCtx {
        service: shutdown.service().to_owned(),
        worker: name.clone(),
        beat: beat.clone(),
        restart,
        restarts: Arc::default(),
    };
    info!(service = %ctx.service, worker = %name, critical, stall_ms = stall.map(|s| s.as_millis() as u64), "worker started");
    let worker_quit = match &beat {
        Some(beat) => quit.with_beat(beat.clone()),
        None => quit.clone(),
    };
    let fut = body(worker_quit, ctx.clone());
    let liveness = liveness.clone();
    let handle = tokio::spawn(async move {
        let ended = AssertUnwindSafe(fut).catch_unwind().await;
        if let Some(beat) = &beat {
            liveness.unwatch(beat);
        }
        let outcome = match ended {
            Ok(Ok(())) => Outcome::Ok,
            Ok(Err(e)) => Outcome::Failed(e),
            Err(panic) => Outcome::Panicked(panic_message(&*panic)),
        };
        if !quit.is_cancelled() {
            let (service, worker) = (&ctx.service, &ctx.worker);
            match &outcome {
                Outcome::Ok => {
                    warn!(%service, %worker, critical, "worker ended before it was told to quit")
                }
                other => error!(%service, %worker, critical, outcome = %other, "worker stopped"),
            }
            if critical {
                shutdown.trigger_with(Cause::CriticalWorker(ctx.worker.clone()));
            }
        }
        outcome
    });
    Running {
        name,
        stop_timeout,
        handle: Some(handle),
        refused: None,
    }
}

impl Running {
    /// Waits for the worker to end (it has been told to quit), at most its stop
    /// timeout or `budget`, whichever is shorter; past that it is aborted.
    pub(crate) async fn stop(mut self, budget: Duration) -> Outcome {
        if let Some(refused) = self.refused.take() {
            return refused;
        }
        let Some(mut handle) = self.handle.take() else {
            return Outcome::Ok;
        };
        let limit = self.stop_timeout.min(budget);
        match tokio::time::timeout(limit, &mut handle).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(join)) => Outcome::Failed(format!("worker task ended abnormally: {join}")),
            Err(_) => {
                handle.abort();
                Outcome::TimedOut(limit)
            }
        }
    }
}

/// `my_crate::jobs::Cleanup<T>` → `Cleanup`.
fn type_name<T>() -> String {
    let full = std::any::type_name::<T>();
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Generic<T>(T);
    impl<T: Send + 'static> Periodic for Generic<T> {
        type Output = ();
        async fn tick(&mut self) {}
    }

    #[test]
    fn names_default_to_the_type() {
        assert_eq!(
            Worker::every(Duration::from_secs(1), Generic(1u8)).name(),
            "Generic"
        );
    }

    #[test]
    fn zero_settings_are_reported() {
        let w = Worker::every_fn("w", Duration::ZERO, || async {});
        assert!(
            w.invalid()
                .unwrap()
                .to_string()
                .contains("`every` of worker `w`")
        );
        let w = Worker::run_fn("r", |_q| async {}).stop_timeout(Duration::ZERO);
        assert!(w.invalid().unwrap().to_string().contains("stop_timeout"));
    }
}
