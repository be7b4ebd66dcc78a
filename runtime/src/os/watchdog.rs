//! The grace watchdog: an OS thread that exits the process when `grace` runs out,
//! however blocked the runtime's threads are.

use std::io::Write;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::error;

use crate::in_flight::InFlight;

/// What the sequence is waiting for right now, named in the log if grace runs out.
#[derive(Default)]
pub(crate) struct Progress {
    pending: Mutex<Vec<String>>,
}

impl Progress {
    /// Marks `what` as pending until the returned guard is dropped.
    pub(crate) fn enter(self: &Arc<Self>, what: impl Into<String>) -> Pending {
        let what = what.into();
        lock(&self.pending).push(what.clone());
        Pending {
            progress: self.clone(),
            what,
        }
    }

    pub(crate) fn snapshot(&self) -> Vec<String> {
        lock(&self.pending).clone()
    }
}

/// Removes its entry from [`Progress`] when dropped.
pub(crate) struct Pending {
    progress: Arc<Progress>,
    what: String,
}

impl Drop for Pending {
    fn drop(&mut self) {
        let mut pending = lock(&self.progress.pending);
        if let Some(i) = pending.iter().position(|p| *p == self.what) {
            pending.remove(i);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

enum Msg {
    Started(Instant),
    Finished,
}

/// The handle to the watchdog thread. Dropping it (or [`finish`](Self::finish))
/// disarms the watchdog.
pub(crate) struct Watchdog {
    tx: Mutex<Option<mpsc::Sender<Msg>>>,
}

impl Watchdog {
    /// Spawns the watchdog thread. It sleeps until the shutdown starts, then
    /// until `grace` has passed since, unless the sequence finished first.
    pub(crate) fn spawn(
        service: String,
        grace: Duration,
        progress: Arc<Progress>,
        in_flight: InFlight,
    ) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<Msg>();
        std::thread::Builder::new()
            .name("winddown-watchdog".into())
            .spawn(move || {
                let started = match rx.recv() {
                    Ok(Msg::Started(at)) => at,
                    Ok(Msg::Finished) | Err(_) => return,
                };
                let deadline = started + grace;
                loop {
                    let left = deadline.saturating_duration_since(Instant::now());
                    match rx.recv_timeout(left) {
                        Ok(Msg::Started(_)) => continue,
                        Ok(Msg::Finished) | Err(RecvTimeoutError::Disconnected) => return,
                        Err(RecvTimeoutError::Timeout) => break,
                    }
                }
                let mut pending = progress.snapshot();
                let calls = in_flight.len();
                if calls > 0 {
                    pending.push(format!("{calls} in-flight call(s)"));
                }
                error!(
                    service = %service,
                    phase = "grace",
                    grace_ms = grace.as_millis() as u64,
                    pending = ?pending,
                    exit_code = 1,
                    "grace exhausted: exiting with work still pending"
                );
                crate::settings::write_termination_log(
                    &service,
                    &format!(
                        "winddown: shutdown of {service} ran out of grace {} and exited 1 with \
                         work still pending: {}.",
                        crate::config::fmt_duration(grace),
                        pending.join(", ")
                    ),
                );
                let _ = std::io::stderr().flush();
                std::process::exit(1);
            })?;
        Ok(Watchdog {
            tx: Mutex::new(Some(tx)),
        })
    }

    pub(crate) fn start(&self, at: Instant) {
        if let Some(tx) = lock(&self.tx).as_ref() {
            let _ = tx.send(Msg::Started(at));
        }
    }

    /// The sequence finished: the watchdog thread ends without exiting.
    pub(crate) fn finish(&self) {
        if let Some(tx) = lock(&self.tx).take() {
            let _ = tx.send(Msg::Finished);
        }
    }
}
