//! systemd notifications, sent only when `NOTIFY_SOCKET` is set: `READY=1` after
//! setup, `STOPPING=1` with `EXTEND_TIMEOUT_USEC` at shutdown, and `WATCHDOG=1`
//! every half period while `WATCHDOG_USEC` asks for it.

use std::time::Duration;

use sd_notify::NotifyState;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tracing::{debug, info, warn};

use crate::liveness::Liveness;

fn send(states: &[NotifyState<'_>]) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    if let Err(error) = sd_notify::notify(states) {
        debug!(%error, "systemd notification failed");
    }
}

/// Setup finished.
pub(crate) fn ready() {
    send(&[NotifyState::Ready]);
}

/// The shutdown started; ask systemd to wait `grace` before its own stop timeout.
pub(crate) fn stopping(grace: Duration) {
    let usec = u32::try_from(grace.as_micros()).unwrap_or(u32::MAX);
    send(&[NotifyState::Stopping, NotifyState::ExtendTimeoutUsec(usec)]);
}

/// Pings systemd's watchdog every half `WATCHDOG_USEC`, for the life of the process
/// (the shutdown included), when systemd asks for it — but only while the service
/// is alive: a stalled worker or a runtime that cannot run this task stops the
/// pings, so systemd restarts the process.
pub(crate) fn start_watchdog_pings(liveness: Arc<Liveness>) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    let Some(period) = sd_notify::watchdog_enabled() else {
        return;
    };
    let every = (period / 2).max(Duration::from_millis(1));
    debug!(
        every_ms = every.as_millis() as u64,
        "pinging the systemd watchdog"
    );
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        let mut held = false;
        let sending = Arc::new(AtomicBool::new(false));
        loop {
            tick.tick().await;
            // This task runs, so the runtime does: only the workers can hold the ping.
            liveness.runtime_ran();
            match liveness.status() {
                Ok(()) => {
                    if held {
                        info!("alive again: pinging the systemd watchdog");
                        held = false;
                    }
                    // The notify socket's send blocks when systemd does not read
                    // (its queue is full): never on a runtime thread, and never
                    // more than one ping waiting.
                    if !sending.swap(true, Ordering::AcqRel) {
                        let sending = sending.clone();
                        tokio::task::spawn_blocking(move || {
                            send(&[NotifyState::Watchdog]);
                            sending.store(false, Ordering::Release);
                        });
                    }
                }
                Err(why) => {
                    if !held {
                        warn!(%why, "not alive: the systemd watchdog is no longer pinged");
                        held = true;
                    }
                }
            }
        }
    });
}
