//! The signals that start the shutdown, and the listener that turns them into a trigger.

use std::fmt;
use std::str::FromStr;

/// A signal that can start the shutdown.
///
/// Parsed from names such as `"SIGTERM"` or `"TERM"` (any case). On Windows only
/// [`Signal::Int`] is delivered (Ctrl-C); the others are never received there.
///
/// ```
/// use winddown::Signal;
/// assert_eq!("SIGTERM".parse::<Signal>().unwrap(), Signal::Term);
/// assert_eq!(Signal::Int.number(), 2);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Signal {
    /// `SIGTERM` (15): what Kubernetes, systemd and `kill` send.
    Term,
    /// `SIGINT` (2): Ctrl-C in a terminal.
    Int,
    /// `SIGHUP` (1).
    Hup,
    /// `SIGQUIT` (3).
    Quit,
    /// `SIGUSR1` (10 on Linux).
    Usr1,
    /// `SIGUSR2` (12 on Linux).
    Usr2,
}

impl Signal {
    /// Every signal winddown can listen for.
    pub const ALL: [Signal; 6] = [
        Signal::Term,
        Signal::Int,
        Signal::Hup,
        Signal::Quit,
        Signal::Usr1,
        Signal::Usr2,
    ];

    /// The conventional name, e.g. `"SIGTERM"`.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Term => "SIGTERM",
            Signal::Int => "SIGINT",
            Signal::Hup => "SIGHUP",
            Signal::Quit => "SIGQUIT",
            Signal::Usr1 => "SIGUSR1",
            Signal::Usr2 => "SIGUSR2",
        }
    }

    /// The signal number on this platform; the exit code of a forced exit is 128 plus it.
    pub fn number(self) -> i32 {
        #[cfg(unix)]
        {
            match self {
                Signal::Term => libc_consts::SIGTERM,
                Signal::Int => libc_consts::SIGINT,
                Signal::Hup => libc_consts::SIGHUP,
                Signal::Quit => libc_consts::SIGQUIT,
                Signal::Usr1 => libc_consts::SIGUSR1,
                Signal::Usr2 => libc_consts::SIGUSR2,
            }
        }
        #[cfg(not(unix))]
        {
            match self {
                Signal::Term => 15,
                Signal::Int => 2,
                Signal::Hup => 1,
                Signal::Quit => 3,
                Signal::Usr1 => 10,
                Signal::Usr2 => 12,
            }
        }
    }
}

#[cfg(unix)]
mod libc_consts {
    // The numbers tokio's `SignalKind` uses; read back from it so they match the platform.
    use tokio::signal::unix::SignalKind;
    pub(super) const SIGTERM: i32 = SignalKind::terminate().as_raw_value();
    pub(super) const SIGINT: i32 = SignalKind::interrupt().as_raw_value();
    pub(super) const SIGHUP: i32 = SignalKind::hangup().as_raw_value();
    pub(super) const SIGQUIT: i32 = SignalKind::quit().as_raw_value();
    pub(super) const SIGUSR1: i32 = SignalKind::user_defined1().as_raw_value();
    pub(super) const SIGUSR2: i32 = SignalKind::user_defined2().as_raw_value();
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A signal name that winddown does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown signal `{0}`: write one of SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2")]
pub struct UnknownSignal(pub String);

impl FromStr for Signal {
    type Err = UnknownSignal;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = s.trim().to_ascii_uppercase();
        let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
        Signal::ALL
            .into_iter()
            .find(|sig| &sig.name()[3..] == bare)
            .ok_or_else(|| UnknownSignal(s.to_owned()))
    }
}

/// Registers the handlers for `signals` now and returns the stream of signals
/// received, in order of arrival.
pub(crate) fn listen(
    signals: &[Signal],
) -> std::io::Result<tokio::sync::mpsc::UnboundedReceiver<Signal>> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Signal>();
    for &sig in signals {
        let mut stream = platform::register(sig)?;
        let tx = tx.clone();
        tokio::spawn(async move {
            while platform::recv(&mut stream).await {
                if tx.send(sig).is_err() {
                    break;
                }
            }
        });
    }
    Ok(rx)
}

#[cfg(unix)]
mod platform {
    use super::Signal;
    use tokio::signal::unix::{SignalKind, signal};

    pub(super) type Stream = tokio::signal::unix::Signal;

    pub(super) fn register(sig: Signal) -> std::io::Result<Stream> {
        signal(SignalKind::from_raw(sig.number()))
    }

    pub(super) async fn recv(stream: &mut Stream) -> bool {
        stream.recv().await.is_some()
    }
}

#[cfg(not(unix))]
mod platform {
    use super::Signal;

    /// Ctrl-C (and Ctrl-Break/close through tokio's `ctrl_c`) stands for SIGINT;
    /// the other signals never arrive on this platform.
    pub(super) struct Stream(bool);

    pub(super) fn register(sig: Signal) -> std::io::Result<Stream> {
        Ok(Stream(sig == Signal::Int))
    }

    pub(super) async fn recv(stream: &mut Stream) -> bool {
        if stream.0 {
            tokio::signal::ctrl_c().await.is_ok()
        } else {
            std::future::pending::<bool>().await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_in_any_form() {
        assert_eq!("SIGTERM".parse::<Signal>(), Ok(Signal::Term));
        assert_eq!("int".parse::<Signal>(), Ok(Signal::Int));
        assert_eq!("SigHup".parse::<Signal>(), Ok(Signal::Hup));
        let err = "SIGKILL".parse::<Signal>().unwrap_err();
        assert!(err.to_string().contains("SIGTERM, SIGINT"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn numbers_are_the_platform_numbers() {
        assert_eq!(Signal::Term.number(), 15);
        assert_eq!(Signal::Int.number(), 2);
    }
}
