//! What faces the operating system: signals, systemd notifications and the sockets
//! it passes, the watchdog thread that enforces `grace`, and the default log
//! subscriber.

pub(crate) mod listen_fds;
pub(crate) mod logging;
pub(crate) mod signal;
pub(crate) mod systemd;
pub(crate) mod watchdog;
