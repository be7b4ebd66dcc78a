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
    Config, ConfigError, Flavor, Quit, Service, ShuttingDown, Signal, Worker, report::IntoOutcome,
    workers::IntoWorker, workers::Restart,
};

/// The default grace, in milliseconds, for the compile-time budget check.
pub const DEFAULT_GRACE_MS: u64 = crate::config::DEFAULT_GRACE.as_millis() as u64;
/// The default stop timeout of a worker, in milliseconds.
pub const DEFAULT_STOP_TIMEOUT_MS: u64 = crate::workers::DEFAULT_STOP_TIMEOUT.as_millis() as u64;

/// Carried by each `#[on_shutdown]` fn's companion struct.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an #[on_shutdown] hook",
    label = "listed as a hook, but has no #[on_shutdown] attribute",
    note = "add `#[on_shutdown(timeout = \"5s\")]` to the fn (with `order = N` or `after = [..]` to place it)"
)]
pub trait HookMeta {
    /// What tells it apart from every other hook: its path, crate included.
    const ID: &'static str;
    /// Its name in logs and messages: its path without the crate (`db::close`).
    const NAME: &'static str;
    /// Its place in the `order` chain, if it has one.
    const ORDER: Option<u32>;
    /// Its timeout in milliseconds.
    const TIMEOUT_MS: u64;
    /// Whether it runs at the start of the shutdown (`at = "start"`).
    const AT_START: bool;
    /// The hooks it runs after.
    const AFTER: &'static [Dep<'static>];
}

pub use crate::graph::{Dep, Node};

/// `my_crate::db::close` → `db::close`: a hook's name from its path.
pub const fn strip_crate(id: &'static str) -> &'static str {
    let bytes = id.as_bytes();
    let mut i = 0;
    while i + 1 < bytes.len() {
        if bytes[i] == b':' && bytes[i + 1] == b':' {
            return match core::str::from_utf8(bytes.split_at(i + 2).1) {
                Ok(rest) => rest,
                Err(_) => id,
            };
        }
        i += 1;
    }
    id
}

/// Whom `H` runs after, as an `after` entry.
pub const fn dep<H: HookMeta>() -> Dep<'static> {
    Dep {
        id: H::ID,
        name: H::NAME,
    }
}

/// The hook `H`, as the graph check sees it.
pub const fn node<H: HookMeta>() -> Node<'static> {
    Node {
        dep: dep::<H>(),
        order: H::ORDER,
        timeout_ms: H::TIMEOUT_MS,
        at_start: H::AT_START,
        after: H::AFTER,
    }
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
    builder.add_hook(crate::config::HookSpec {
        id: H::ID.to_owned(),
        name: H::NAME.to_owned(),
        order: H::ORDER,
        timeout: Duration::from_millis(H::TIMEOUT_MS),
        at_start: H::AT_START,
        after: H::AFTER
            .iter()
            .map(|d| (d.id.to_owned(), d.name.to_owned()))
            .collect(),
        hook: hook.into_hook(),
    })
}

/// Implemented once per listed hook for its order: two hooks with the same order
/// fail to compile with "conflicting implementations of trait
/// `HookOrderMustBeUnique<N>`", pointing at both. A hook without an order gets a
/// slot of its own above every order.
pub trait HookOrderMustBeUnique<const ORDER: u64> {}

/// The slot of the `i`-th listed hook in [`HookOrderMustBeUnique`].
pub const fn order_slot(order: Option<u32>, i: u64) -> u64 {
    match order {
        Some(o) => o as u64,
        None => (1 << 32) + i,
    }
}

/// Implemented by `#[service]` for every hook it lists (`M` is a type of that
/// service's own): a hook no service lists fails to compile instead of never running.
#[diagnostic::on_unimplemented(
    message = "hook `{Self}` is not listed by any #[service] in this crate, so it would never run",
    label = "no service lists this hook",
    note = "add it to the service: `#[service(.., on_shutdown = [.., {Self}])]`",
    note = "if a service in another crate lists it, write `#[on_shutdown(.., listed_elsewhere)]`"
)]
pub trait Listed<M> {}

/// Fails to compile unless some `#[service]` lists the hook `H`.
pub const fn assert_listed<H: Listed<M>, M>() {}

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

/// A compile-time check's verdict, with its message formatted at compile time.
pub struct Verdict {
    failed: bool,
    msg: ConstBuf<1024>,
}

impl Verdict {
    /// Whether the check failed (the build should stop with [`as_str`](Self::as_str)).
    pub const fn failed(&self) -> bool {
        self.failed
    }

    /// The message, with the real names and numbers.
    pub const fn as_str(&self) -> &str {
        self.msg.as_str()
    }
}

/// What is wrong with the `i`-th listed hook's place in the graph (an unknown name in
/// its `after`, itself in its `after`, a cycle found from it, a start/end mix).
pub const fn hook_problem(hooks: &[Node<'_>], i: usize) -> Verdict {
    let a = crate::graph::analyze(hooks);
    let mut v = Verdict {
        failed: false,
        msg: ConstBuf::new(),
    };
    let here = match a.problem.hook() {
        Some(h) => h == i,
        None => i == 0 && !matches!(a.problem, crate::graph::Problem::None),
    };
    if here {
        v.failed = true;
        crate::graph::push_problem(&mut v.msg, hooks, &a);
    }
    v
}

/// Whether the sequence fits in `grace_ms`: start hooks, drain delay and end hooks
/// along their critical paths, and the margin. A graph with a problem passes here
/// (its problem is reported at its hook).
pub const fn budget(grace_ms: u64, drain_ms: u64, hooks: &[Node<'_>]) -> Verdict {
    let a = crate::graph::analyze(hooks);
    let mut v = Verdict {
        failed: false,
        msg: ConstBuf::new(),
    };
    if matches!(a.problem, crate::graph::Problem::None)
        && crate::graph::needed_ms(&a, drain_ms, 0) > grace_ms
    {
        v.failed = true;
        crate::graph::push_budget(
            &mut v.msg,
            hooks,
            &a,
            grace_ms,
            drain_ms,
            crate::graph::SlowestWorker::NONE,
        );
    }
    v
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
    fn budget_message_names_the_chain() {
        const HOOKS: &[Node<'static>] = &[
            Node {
                dep: Dep {
                    id: "c::close_db",
                    name: "close_db",
                },
                order: Some(1),
                timeout_ms: 25_000,
                at_start: false,
                after: &[],
            },
            Node {
                dep: Dep {
                    id: "c::flush",
                    name: "flush",
                },
                order: Some(2),
                timeout_ms: 2_000,
                at_start: false,
                after: &[],
            },
        ];
        const B: Verdict = budget(30_000, 10_000, HOOKS);
        assert!(B.failed());
        assert_eq!(
            B.as_str(),
            "the shutdown does not fit in grace: drain_delay 10s + close_db 25s → flush 2s + 100ms margin \
             for the report = 37s100ms is more than grace 30s; raise grace to 38s, or shorten the drain \
             delay or the timeouts on this chain"
        );
        // An exact fit leaves no room for the report: refused.
        assert!(budget(37_000, 10_000, HOOKS).failed());
        assert!(!budget(37_100, 10_000, HOOKS).failed());
        assert_eq!(strip_crate("my_crate::db::close"), "db::close");
        assert_eq!(strip_crate("my_crate"), "my_crate");
    }
}
