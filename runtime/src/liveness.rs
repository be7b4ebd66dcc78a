//! Liveness: what `/health` answers, and whether systemd's watchdog is pinged.
//!
//! The process is alive when its async runtime still runs tasks and no worker with
//! a `stall` bound has stalled: a tick running longer than `stall`, or a run-loop
//! worker that has not called [`Quit::heartbeat`](crate::Quit::heartbeat) for
//! longer than `stall`. The runtime proves itself by a task that stamps the time
//! every [`RUNTIME_BEAT`]; the probes answer from their own thread, so a runtime
//! whose every thread is blocked is seen (and said) instead of timing out silently.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often the runtime stamps its heartbeat.
pub(crate) const RUNTIME_BEAT: Duration = Duration::from_millis(100);
/// The default for how long the runtime may go without running its heartbeat task
/// before `/health` fails.
pub(crate) const DEFAULT_RUNTIME_STALL: Duration = Duration::from_secs(5);

/// One worker's proof of life.
pub(crate) struct Beat {
    name: String,
    stall: Duration,
    origin: Instant,
    /// Milliseconds since `origin` of the last proof of life.
    since: AtomicU64,
    /// Whether it is working (a tick in progress, or a run loop running): only then
    /// can it stall.
    busy: AtomicBool,
}

impl Beat {
    fn now(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    /// Proof of life: the worker moves.
    pub(crate) fn alive(&self) {
        self.since.store(self.now(), Ordering::Relaxed);
    }

    /// A tick starts (`true`, a proof of life too) or ends (`false`).
    pub(crate) fn busy(&self, busy: bool) {
        if busy {
            self.alive();
        }
        self.busy.store(busy, Ordering::Relaxed);
    }

    /// How long it has been stuck, when that is longer than its `stall`.
    fn stalled_for(&self) -> Option<Duration> {
        if !self.busy.load(Ordering::Relaxed) {
            return None;
        }
        let quiet = self
            .now()
            .saturating_sub(self.since.load(Ordering::Relaxed));
        let quiet = Duration::from_millis(quiet);
        (quiet > self.stall).then_some(quiet)
    }
}

impl fmt::Debug for Beat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Beat")
            .field("name", &self.name)
            .field("stall", &self.stall)
            .finish_non_exhaustive()
    }
}

/// Why the process is not alive, as `/health`'s body says it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum NotLive {
    /// The runtime has not run its heartbeat task for this long.
    Runtime(Duration),
    /// These workers stalled: (name, for how long, their bound).
    Workers(Vec<(String, Duration, Duration)>),
}

impl fmt::Display for NotLive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::config::fmt_duration as d;
        match self {
            NotLive::Runtime(quiet) => write!(
                f,
                "runtime stalled: no task has run for {} (every worker thread blocked?)",
                d(*quiet)
            ),
            NotLive::Workers(list) => {
                f.write_str("stalled: ")?;
                for (i, (name, quiet, stall)) in list.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(
                        f,
                        "worker `{name}` has not moved for {} (stall {})",
                        d(*quiet),
                        d(*stall)
                    )?;
                }
                Ok(())
            }
        }
    }
}

/// The liveness of one service.
pub(crate) struct Liveness {
    origin: Instant,
    runtime_stall: Duration,
    /// Milliseconds since `origin` of the runtime's last heartbeat.
    runtime_beat: AtomicU64,
    workers: Mutex<Vec<Arc<Beat>>>,
    /// Set when the workers are told to quit: a worker finishing its last tick or
    /// ignoring quit is the shutdown's business (its stop timeout), not liveness's.
    quitting: AtomicBool,
}

impl Liveness {
    pub(crate) fn new(runtime_stall: Duration) -> Arc<Self> {
        Arc::new(Liveness {
            origin: Instant::now(),
            runtime_stall,
            runtime_beat: AtomicU64::new(0),
            workers: Mutex::default(),
            quitting: AtomicBool::new(false),
        })
    }

    fn now(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    /// Starts the runtime's heartbeat: a task on the current runtime stamping the
    /// time every [`RUNTIME_BEAT`].
    pub(crate) fn start_runtime_beat(self: &Arc<Self>) {
        self.runtime_beat.store(self.now(), Ordering::Relaxed);
        let this = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(RUNTIME_BEAT);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(this) = this.upgrade() else { return };
                this.runtime_ran();
            }
        });
    }

    /// The runtime ran a task just now.
    pub(crate) fn runtime_ran(&self) {
        self.runtime_beat.store(self.now(), Ordering::Relaxed);
    }

    /// Watches a worker that must show it moves at least every `stall`.
    pub(crate) fn watch(&self, name: &str, stall: Duration, busy: bool) -> Arc<Beat> {
        let beat = Arc::new(Beat {
            name: name.to_owned(),
            stall,
            origin: self.origin,
            since: AtomicU64::new(self.now()),
            busy: AtomicBool::new(busy),
        });
        lock(&self.workers).push(beat.clone());
        beat
    }

    /// Stops watching a worker (it ended).
    pub(crate) fn unwatch(&self, beat: &Arc<Beat>) {
        lock(&self.workers).retain(|b| !Arc::ptr_eq(b, beat));
    }

    /// The workers are being told to quit: their stalls no longer count.
    pub(crate) fn workers_quitting(&self) {
        self.quitting.store(true, Ordering::Relaxed);
    }

    /// `Ok` when alive; otherwise why not.
    pub(crate) fn status(&self) -> Result<(), NotLive> {
        let quiet = self
            .now()
            .saturating_sub(self.runtime_beat.load(Ordering::Relaxed));
        let quiet = Duration::from_millis(quiet);
        if quiet > self.runtime_stall {
            return Err(NotLive::Runtime(quiet));
        }
        if self.quitting.load(Ordering::Relaxed) {
            return Ok(());
        }
        let stalled: Vec<_> = lock(&self.workers)
            .iter()
            .filter_map(|b| b.stalled_for().map(|q| (b.name.clone(), q, b.stall)))
            .collect();
        if stalled.is_empty() {
            Ok(())
        } else {
            Err(NotLive::Workers(stalled))
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_worker_past_its_stall_is_named_and_recovers_when_it_moves() {
        let live = Liveness::new(Duration::from_secs(3600));
        let beat = live.watch("poller", Duration::from_millis(20), false);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(live.status(), Ok(()), "idle between ticks is not a stall");
        beat.busy(true);
        std::thread::sleep(Duration::from_millis(40));
        let err = live.status().unwrap_err().to_string();
        assert!(
            err.starts_with("stalled: worker `poller` has not moved for"),
            "{err}"
        );
        beat.alive();
        assert_eq!(live.status(), Ok(()));
        beat.busy(false);
        live.unwatch(&beat);
        assert_eq!(live.status(), Ok(()));
    }

    #[test]
    fn a_quiet_runtime_fails() {
        let live = Liveness::new(Duration::from_millis(20));
        std::thread::sleep(Duration::from_millis(40));
        let err = live.status().unwrap_err().to_string();
        assert!(err.starts_with("runtime stalled"), "{err}");
    }

    #[test]
    fn stalls_stop_counting_once_the_workers_are_told_to_quit() {
        let live = Liveness::new(Duration::from_secs(3600));
        let _beat = live.watch("consumer", Duration::from_millis(1), true);
        std::thread::sleep(Duration::from_millis(5));
        assert!(live.status().is_err());
        live.workers_quitting();
        assert_eq!(live.status(), Ok(()));
    }
}
