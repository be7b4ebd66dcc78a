//! systemd notifications (`READY=1`, `STOPPING=1`), sent only when `NOTIFY_SOCKET` is set.

use std::time::Duration;

use sd_notify::NotifyState;
use tracing::debug;

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
