//! What the attribute macros expand to. Not a public API: names and signatures
//! change without notice.

use std::future::Future;
pub use std::time::Duration;

pub use std::string::String;

pub use crate::sequence::run_config;

/// Makes `in_flight` the process's current set (what a running service does).
pub fn set_current(in_flight: Option<crate::InFlight>) {
    crate::in_flight::set_current(in_flight);
}
pub use crate::{
    Config, ConfigError, Quit, Service, ShuttingDown, Signal, Worker, report::IntoOutcome,
    workers::IntoWorker,
};

/// The default grace, in milliseconds, for the compile-time budget check.
pub const DEFAULT_GRACE_MS: u64 = crate::config::DEFAULT_GRACE.as_millis() as u64;
/// The default stop timeout of a worker, in milliseconds.
pub const DEFAULT_STOP_TIMEOUT_MS: u64 = crate::workers::DEFAULT_STOP_TIMEOUT.as_millis() as u64;

/// Carried by each `#[on_shutdown]` fn's companion struct.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an #[on_shutdown] hook",
    label = "listed in `on_shutdown`, but has no #[on_shutdown] attribute",
    note = "add `#[on_shutdown(order = N, timeout = \"5s\")]` to the fn"
)]
pub trait HookMeta {
    /// The fn's name.
    const NAME: &'static str;
    /// Its place in the sequence.
    const ORDER: u32;
    /// Its timeout in milliseconds.
    const TIMEOUT_MS: u64;
    /// Whether it runs at the start of the shutdown (`at = "start"`).
    const AT_START: bool;
}

/// Adds the hook whose companion is `H` to `builder`, at the start or the end.
pub fn add_hook<S, H, M>(
    builder: crate::Builder<S>,
    hook: impl crate::hooks::IntoHook<S, M>,
) -> crate::Builder<S>
where
    S: Send + Sync + 'static,
    H: HookMeta,
{
    builder.add_hook(
        H::AT_START,
        H::NAME.to_owned(),
        H::ORDER,
        Duration::from_millis(H::TIMEOUT_MS),
        hook.into_hook(),
    )
}

/// Implemented once per listed hook for its order: two hooks with the same order
/// fail to compile with "conflicting implementations of trait
/// `HookOrderMustBeUnique<N>`", pointing at both.
pub trait HookOrderMustBeUnique<const ORDER: u32> {}

/// Checks at compile time that a hook's return type is accepted.
pub fn assert_outcome<T: IntoOutcome>() {}

/// A string built in `const` context: the budget message at compile time, and the
/// duration formatting at run time (one implementation of the grammar's output).
pub(crate) struct ConstBuf<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> ConstBuf<N> {
    pub(crate) const fn new() -> Self {
        ConstBuf {
            buf: [0; N],
            len: 0,
        }
    }

    pub(crate) const fn as_str(&self) -> &str {
        match core::str::from_utf8(self.buf.split_at(self.len).0) {
            Ok(s) => s,
            Err(_) => "",
        }
    }

    pub(crate) const fn push(&mut self, s: &str) {
        let bytes = s.as_bytes();
        let mut i = 0;
        while i < bytes.len() && self.len < N {
            self.buf[self.len] = bytes[i];
            self.len += 1;
            i += 1;
        }
    }

    const fn push_u64(&mut self, mut n: u64) {
        let mut digits = [0u8; 20];
        let mut k = 0;
        loop {
            digits[k] = b'0' + (n % 10) as u8;
            k += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        while k > 0 {
            k -= 1;
            if self.len < N {
                self.buf[self.len] = digits[k];
                self.len += 1;
            }
        }
    }

    /// Milliseconds in the attribute grammar: `1m30s`, `250ms`, `0s`.
    pub(crate) const fn push_duration(&mut self, mut ms: u64) {
        if ms == 0 {
            self.push("0s");
            return;
        }
        let units: [(&str, u64); 4] = [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)];
        let mut i = 0;
        while i < units.len() {
            let (unit, size) = units[i];
            if ms >= size {
                self.push_u64(ms / size);
                self.push(unit);
                ms %= size;
            }
            i += 1;
        }
    }
}

/// The budget check's verdict, with its message formatted at compile time.
pub struct Budget {
    exceeded: bool,
    msg: ConstBuf<1024>,
}

impl Budget {
    /// Whether drain delay plus hook timeouts exceed grace.
    pub const fn exceeded(&self) -> bool {
        self.exceeded
    }

    /// The message, with the real numbers.
    pub const fn as_str(&self) -> &str {
        self.msg.as_str()
    }
}

/// Whether `drain_ms` plus every hook's timeout fits in `grace_ms`; if not, the
/// message names every number.
pub const fn budget(grace_ms: u64, drain_ms: u64, hooks: &[(&str, u64)]) -> Budget {
    let mut total = drain_ms;
    let mut i = 0;
    while i < hooks.len() {
        total = total.saturating_add(hooks[i].1);
        i += 1;
    }
    let mut b = Budget {
        exceeded: total > grace_ms,
        msg: ConstBuf::new(),
    };
    if !b.exceeded {
        return b;
    }
    let m = &mut b.msg;
    m.push("the shutdown does not fit in grace: drain_delay ");
    m.push_duration(drain_ms);
    let mut i = 0;
    while i < hooks.len() {
        m.push(" + ");
        m.push_duration(hooks[i].1);
        m.push(" (");
        m.push(hooks[i].0);
        m.push(")");
        i += 1;
    }
    m.push(" = ");
    m.push_duration(total);
    m.push(" is more than grace ");
    m.push_duration(grace_ms);
    m.push("; raise grace to at least ");
    m.push_duration(total);
    m.push(", or shorten the drain delay or the hook timeouts");
    b
}

/// A `#[worker(every = …)]` struct: its inherent `tick`, with the outcome erased.
pub trait TickBody: Send + 'static {
    /// Calls the struct's own `tick`.
    fn __winddown_tick(&mut self) -> impl Future<Output = Result<(), String>> + Send;
}

/// A `#[worker]` struct without `every`: its inherent `run(&mut self, quit)`.
pub trait RunBody: Send + 'static {
    /// Calls the struct's own `run`.
    fn __winddown_run(&mut self, quit: Quit) -> impl Future<Output = Result<(), String>> + Send;
}

struct Ticking<T>(T);

impl<T: TickBody> crate::workers::Periodic for Ticking<T> {
    type Output = Result<(), String>;
    fn tick(&mut self) -> impl Future<Output = Self::Output> + Send {
        self.0.__winddown_tick()
    }
}

struct Running<T>(T);

impl<T: RunBody> crate::workers::RunLoop for Running<T> {
    type Output = Result<(), String>;
    fn run(&mut self, quit: Quit) -> impl Future<Output = Self::Output> + Send {
        self.0.__winddown_run(quit)
    }
}

fn configure(w: Worker, name: &'static str, stop_ms: u64, critical: bool) -> Worker {
    let w = w.named(name).stop_timeout(Duration::from_millis(stop_ms));
    if critical { w.critical() } else { w }
}

/// The worker of a `#[worker(every = …)]` struct.
pub fn periodic<T: TickBody>(
    w: T,
    name: &'static str,
    every_ms: u64,
    stop_ms: u64,
    critical: bool,
) -> Worker {
    configure(
        Worker::every(Duration::from_millis(every_ms), Ticking(w)),
        name,
        stop_ms,
        critical,
    )
}

/// The worker of a `#[worker]` struct that owns its loop.
pub fn run_loop<T: RunBody>(w: T, name: &'static str, stop_ms: u64, critical: bool) -> Worker {
    configure(Worker::run(Running(w)), name, stop_ms, critical)
}

/// What a `#[handler]` may return: `Result<T, E>` where `E: From<ShuttingDown>`.
#[diagnostic::on_unimplemented(
    message = "#[handler] needs a return type `Result<T, E>` with `E: From<winddown::ShuttingDown>`; `{Self}` is not",
    label = "a call refused during shutdown must be able to return `ShuttingDown` here",
    note = "implement `From<winddown::ShuttingDown>` for your error type (`anyhow::Error` already has it)"
)]
pub trait HandlerOutput {
    /// The value returned instead of running the call.
    fn shutting_down(s: ShuttingDown) -> Self;
}

impl<T, E: From<ShuttingDown>> HandlerOutput for Result<T, E> {
    fn shutting_down(s: ShuttingDown) -> Self {
        Err(E::from(s))
    }
}

/// The body of a `#[handler]` fn: counted in flight from the call, refused once
/// intake has closed.
pub fn handle<R: HandlerOutput, F: Future<Output = R>>(fut: F) -> impl Future<Output = R> {
    let tracked = crate::track(fut);
    async move {
        match tracked.await {
            Ok(r) => r,
            Err(s) => R::shutting_down(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_message_names_every_number() {
        const B: Budget = budget(30_000, 10_000, &[("close_db", 25_000), ("flush", 2_000)]);
        assert!(B.exceeded());
        assert_eq!(
            B.as_str(),
            "the shutdown does not fit in grace: drain_delay 10s + 25s (close_db) + 2s (flush) = 37s \
             is more than grace 30s; raise grace to at least 37s, or shorten the drain delay or the hook timeouts"
        );
        assert!(!budget(40_000, 10_000, &[("a", 30_000)]).exceeded());
    }
}
