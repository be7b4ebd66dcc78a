//! What faces the operating system: signals, systemd notifications and the sockets
//! it passes, the watchdog thread that enforces `grace`, and the default log
//! subscriber.

pub(crate) mod listen_fds;
pub(crate) mod logging;
pub(crate) mod signal;
#[cfg(feature = "systemd")]
pub(crate) mod systemd;
/// Without the `systemd` feature: nothing is sent.
#[cfg(not(feature = "systemd"))]
pub(crate) mod systemd {
    use std::sync::Arc;
    use std::time::Duration;

    pub(crate) fn ready() {}
    pub(crate) fn stopping(_grace: Duration) {}
    pub(crate) fn start_watchdog_pings(_liveness: Arc<crate::liveness::Liveness>) {}
}
pub(crate) mod watchdog;
