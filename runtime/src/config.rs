//! The builder, the validated configuration, and the errors that stop a start.

use std::collections::{HashMap, HashSet};
use std::fmt::{Debug, Display};
use std::future::Future;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use crate::hooks::{Hook, IntoHook};
use crate::os::signal::Signal;
use crate::probes::Check;
use crate::report::IntoOutcome;
use crate::settings::{self, Source};
use crate::workers::{IntoWorker, Worker};

/// The default `grace`: 30 seconds.
pub(crate) const DEFAULT_GRACE: Duration = Duration::from_secs(30);

/// The longest duration any setting accepts: 365 days. Longer ones (such as
/// `Duration::MAX`) are refused with [`ConfigError::TooLong`] instead of
/// overflowing the arithmetic of the sequence.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// Why a service could not be configured or started. Each message says what to
/// write instead.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A name is empty.
    #[error("the {what} name is empty: give it a short name such as \"cleanup\"")]
    EmptyName {
        /// What has no name: `service`, `hook`, `worker` or `readiness check`.
        what: &'static str,
    },
    /// A duration that must be positive is zero.
    #[error("{what} is zero: give it a positive duration, e.g. `Duration::from_secs(5)`")]
    ZeroDuration {
        /// Which setting.
        what: String,
    },
    /// A duration is longer than any shutdown could use (more than 365 days).
    #[error(
        "{what} is {}, longer than the 365 days any setting accepts: give it a realistic duration, e.g. `Duration::from_secs(30)`",
        fmt_huge(*value)
    )]
    TooLong {
        /// Which setting.
        what: String,
        /// The duration given.
        value: Duration,
    },
    /// A worker's settings do not go together.
    #[error("worker `{name}`: {problem}")]
    Worker {
        /// The worker.
        name: String,
        /// What is wrong and what to write instead.
        problem: String,
    },
    /// Two hooks share an order, so which runs first would be undefined.
    #[error("hooks `{first}` and `{second}` both have order {order}: give each hook its own order")]
    DuplicateOrder {
        /// The shared order.
        order: u32,
        /// The hook registered first.
        first: String,
        /// The hook registered second.
        second: String,
    },
    /// Two items of one kind share a name, so the report could not tell them apart.
    #[error("two {what}s are named `{name}`: give each a distinct name")]
    DuplicateName {
        /// `hook`, `worker` or `readiness check`.
        what: &'static str,
        /// The shared name.
        name: String,
    },
    /// The drain delay and the hooks' critical paths (plus a margin for the report)
    /// do not fit inside `grace`.
    #[error("{message}")]
    Budget {
        /// The configured grace.
        grace: Duration,
        /// What the sequence needs at most.
        needed: Duration,
        /// The chain that does not fit, with every number, and the fix.
        message: String,
    },
    /// A hook's `after` names a hook the service does not have.
    #[error(
        "hook `{hook}` runs after `{after}`, which is not a hook of this service: add `{after}` \
         to the service's hooks, or remove it from `after`"
    )]
    UnknownAfter {
        /// The hook.
        hook: String,
        /// The name it waits for.
        after: String,
    },
    /// A hook lists itself in `after`.
    #[error(
        "hook `{hook}` lists itself in `after`, so it could never start: remove it from its own `after`"
    )]
    SelfAfter {
        /// The hook.
        hook: String,
    },
    /// A hook waits for one in the other part of the shutdown (start or end).
    #[error(
        "hook `{hook}` and the hook `{after}` it runs after are not in the same part of the shutdown \
         (start or end): a start hook cannot wait for an end hook, and an end hook runs after \
         every start hook anyway; remove `{after}` from `after`"
    )]
    AfterAcrossPhases {
        /// The hook.
        hook: String,
        /// The hook it waits for.
        after: String,
    },
    /// The hooks wait for each other in a cycle.
    #[error(
        "hooks wait for each other in a cycle, so none of them could start: {} (each runs after \
         the next, through `after` or `order`); remove one of these from an `after` list",
        cycle.join(" → ")
    )]
    HookCycle {
        /// The hooks around the cycle, the first repeated at the end.
        cycle: Vec<String>,
    },
    /// More hooks than one service may have.
    #[error("a service has at most 64 hooks: merge some of them")]
    TooManyHooks,
    /// The probes address does not parse or resolve.
    #[error(
        "probes address `{addr}` is not a socket address ({reason}): write e.g. \"0.0.0.0:8081\""
    )]
    ProbesAddr {
        /// The address as given.
        addr: String,
        /// Why it was refused.
        reason: String,
    },
    /// The probes address could not be bound.
    #[error(
        "cannot listen for probes on {addr}: {source}; another process may hold that port: \
         stop it or choose another address with `probes`"
    )]
    ProbesBind {
        /// The address.
        addr: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The socket passed under the name `probes` cannot serve them.
    #[error("{0}")]
    ProbesInherited(#[source] Box<crate::ListenError>),
    /// A deploy-time setting (an environment variable) is set but cannot be used.
    #[error("environment variable {var}: {reason} (or unset it to use the compiled value)")]
    Env {
        /// The variable, e.g. `WINDDOWN_GRACE`.
        var: &'static str,
        /// Why its value was refused, and what to write.
        reason: String,
    },
    /// Signal handlers could not be installed.
    #[error("cannot install signal handlers: {0}")]
    Signals(#[source] std::io::Error),
    /// The runtime or the watchdog thread could not be started.
    #[error("cannot start the runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

/// Formats a duration in the grammar the attributes accept: `1m30s`, `250ms`, `0s`
/// (`90_250` ms reads `1m30s250ms`).
fn fmt_huge(d: Duration) -> String {
    if d.as_secs() >= 100 * 365 * 24 * 3600 {
        format!("{}s", d.as_secs())
    } else {
        fmt_duration(d)
    }
}

pub(crate) fn fmt_duration(d: Duration) -> String {
    let mut buf = crate::__private::ConstBuf::<64>::new();
    buf.push_duration(u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    buf.as_str().to_owned()
}

pub(crate) struct HookSpec<S> {
    /// What tells it apart: the fn's path for an attribute, the name for the builder.
    pub(crate) id: String,
    pub(crate) name: String,
    /// Its place in the `order` chain, if any.
    pub(crate) order: Option<u32>,
    pub(crate) timeout: Duration,
    /// Runs right after readiness turns false, before the drain delay.
    pub(crate) at_start: bool,
    /// The `(id, name)` of every hook it runs after.
    pub(crate) after: Vec<(String, String)>,
    pub(crate) hook: Hook<S>,
}

/// The hooks' graph, as the sequence runs it.
pub(crate) struct Plan {
    /// For each hook (by index in `hooks`), the hooks it waits for.
    pub(crate) deps: Vec<Vec<usize>>,
    /// The longest chain of start hooks' timeouts.
    pub(crate) start_path: Duration,
    /// The longest chain of end hooks' timeouts.
    pub(crate) end_path: Duration,
    /// What grace leaves a worker's stop at step 4 when everything else takes its
    /// longest: a worker spawned in setup with a longer `stop_timeout` is warned of.
    pub(crate) worker_room: Duration,
}

/// Configures a service; finish with [`run`](Self::run) (inside your own runtime) or
/// [`run_and_exit`](Self::run_and_exit) (builds the runtime and exits the process).
///
/// `S` is the state setup returns and hooks borrow; it is usually inferred.
///
/// ```no_run
/// use std::time::Duration;
/// use winddown::Service;
///
/// struct App { /* a database pool, say */ }
///
/// async fn close_db(_app: &App) -> Result<(), std::io::Error> { Ok(()) }
/// async fn flush_logs() {}
///
/// fn main() {
///     Service::builder("myservice")
///         .grace(Duration::from_secs(40))
///         .drain_delay(Duration::from_secs(10))
///         .probes("0.0.0.0:8081")
///         .on_shutdown("close_db", 1, Duration::from_secs(25), close_db)
///         .on_shutdown("flush_logs", 2, Duration::from_secs(2), flush_logs)
///         .run_and_exit(|_svc| async { Ok::<_, std::io::Error>(App {}) })
/// }
/// ```
#[must_use = "a builder does nothing until `run` or `run_and_exit`"]
pub struct Builder<S> {
    pub(crate) name: String,
    pub(crate) grace: Duration,
    pub(crate) drain_delay: Duration,
    pub(crate) probes: Option<Result<Vec<SocketAddr>, ConfigError>>,
    pub(crate) signals: Vec<Signal>,
    pub(crate) hooks: Vec<HookSpec<S>>,
    pub(crate) workers: Vec<Worker>,
    pub(crate) checks: Vec<Check>,
    pub(crate) logging: bool,
    pub(crate) flavor: Flavor,
    pub(crate) worker_threads: Option<usize>,
    pub(crate) tell_clients_to_leave: bool,
    pub(crate) startup_timeout: Option<Duration>,
    pub(crate) runtime_stall: Duration,
    /// Where `grace` and `drain_delay` came from, for the start log line.
    pub(crate) grace_from: Source,
    pub(crate) drain_from: Source,
    /// The first environment variable [`from_env`](Self::from_env) refused.
    pub(crate) env_error: Option<ConfigError>,
}

/// Which tokio runtime [`Config::run_and_exit`] (and so `#[service]`) builds, as
/// `#[tokio::main(flavor = ..)]` chooses it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Flavor {
    /// A multi-threaded runtime (the default): hooks and ticks run as tasks on its
    /// worker threads, one per core (at least two) unless
    /// [`Builder::worker_threads`] says otherwise.
    #[default]
    MultiThread,
    /// A single-threaded runtime: everything runs on the main thread. `grace` still
    /// holds (the watchdog is its own OS thread), but a hook that blocks its thread
    /// stops everything else until the watchdog exits the process.
    CurrentThread,
}

impl<S: Send + Sync + 'static> Builder<S> {
    pub(crate) fn new(name: impl Into<String>) -> Self {
        Builder {
            name: name.into(),
            grace: DEFAULT_GRACE,
            drain_delay: Duration::ZERO,
            probes: None,
            signals: vec![Signal::Term, Signal::Int],
            hooks: Vec::new(),
            workers: Vec::new(),
            checks: Vec::new(),
            logging: true,
            flavor: Flavor::MultiThread,
            worker_threads: None,
            tell_clients_to_leave: true,
            startup_timeout: None,
            runtime_stall: crate::liveness::DEFAULT_RUNTIME_STALL,
            grace_from: Source::Default,
            drain_from: Source::Default,
            env_error: None,
        }
    }

    /// How long the async runtime may go without running a task before `/health`
    /// fails (default 5s). A task stamps the time every 100 ms and the probes answer
    /// from a thread of their own, so a runtime whose every worker thread is blocked
    /// turns `/health` to 503 ("runtime stalled") instead of a probe timing out, and
    /// systemd's watchdog stops being pinged.
    pub fn runtime_stall(mut self, limit: Duration) -> Self {
        self.runtime_stall = limit;
        self
    }

    /// A start-up deadline (default: none). A service that has not become ready
    /// within it — setup still running, or a body that serves from `main` not yet
    /// ready — is reported as timed out: the shutdown sequence runs, hooks included,
    /// and the process exits 1. What a database that never answers at start turns
    /// into, instead of a process "starting" forever.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let config = winddown::Service::builder::<()>("api")
    ///     .startup_timeout(Duration::from_secs(60))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(config.startup_timeout(), Some(Duration::from_secs(60)));
    /// ```
    pub fn startup_timeout(mut self, limit: Duration) -> Self {
        self.startup_timeout = Some(limit);
        self
    }

    /// Lets the deployment override `grace` and `drain_delay` at start, without a
    /// rebuild: `WINDDOWN_GRACE` and `WINDDOWN_DRAIN_DELAY`, in the attributes'
    /// duration grammar (`45s`, `1m30s`, `500ms`). A variable that is set wins over
    /// the value given in code before *or after* this call; one that is unset
    /// leaves it. A value that does not parse makes [`build`](Self::build) fail
    /// (exit code 1 from [`run_and_exit`](Self::run_and_exit)), and the budget is
    /// checked again with the new values, never a silent fallback. `#[service]`
    /// calls it for you.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// winddown::Service::builder::<()>("svc")
    ///     .grace(Duration::from_secs(30)) // WINDDOWN_GRACE=45s makes it 45s
    ///     .from_env()
    /// #   ;
    /// ```
    pub fn from_env(mut self) -> Self {
        for (var, grace) in [(settings::GRACE, true), (settings::DRAIN_DELAY, false)] {
            match settings::duration(var) {
                None => {}
                Some(Ok(value)) => {
                    if grace {
                        (self.grace, self.grace_from) = (value, Source::Env(var));
                    } else {
                        (self.drain_delay, self.drain_from) = (value, Source::Env(var));
                    }
                }
                Some(Err(reason)) => {
                    self.env_error
                        .get_or_insert(ConfigError::Env { var, reason });
                }
            }
        }
        self
    }

    /// Whether [`run_and_exit`](Self::run_and_exit) installs winddown's log
    /// subscriber (default `true`: `RUST_LOG` or `info`, to stderr, and only if no
    /// subscriber is set yet). Turn it off to install your own (JSON, OpenTelemetry):
    /// set it before calling `run_and_exit`, or first thing in setup — what is logged
    /// before it is set goes nowhere. A configuration error is always shown.
    pub fn logging(mut self, install: bool) -> Self {
        self.logging = install;
        self
    }

    /// The runtime [`run_and_exit`](Self::run_and_exit) builds (default
    /// [`Flavor::MultiThread`]).
    pub fn flavor(mut self, flavor: Flavor) -> Self {
        self.flavor = flavor;
        self
    }

    /// The number of worker threads of the multi-threaded runtime (default: one per
    /// core, at least two). Not zero, and only with [`Flavor::MultiThread`].
    pub fn worker_threads(mut self, threads: usize) -> Self {
        self.worker_threads = Some(threads);
        self
    }

    /// Whether the tracked servers tell clients to leave from the first signal
    /// (default `true`): every HTTP/1.1 response carries `Connection: close` and
    /// HTTP/2 connections get a graceful GOAWAY, so pooled clients reconnect —
    /// through the load balancer, to another replica — during the drain delay,
    /// and by intake close almost nothing is left to race. Turn it off only when
    /// nothing balances the connections (a single replica whose clients should
    /// keep their connections through the drain delay).
    pub fn tell_clients_to_leave(mut self, tell: bool) -> Self {
        self.tell_clients_to_leave = tell;
        self
    }

    /// Bounds the whole shutdown, from the first signal to exit (default 30s).
    pub fn grace(mut self, grace: Duration) -> Self {
        if !matches!(self.grace_from, Source::Env(_)) {
            (self.grace, self.grace_from) = (grace, Source::Compiled);
        }
        self
    }

    /// How long everything keeps serving after readiness turns false, so load
    /// balancers notice before intake closes (default 0s).
    pub fn drain_delay(mut self, delay: Duration) -> Self {
        if !matches!(self.drain_from, Source::Env(_)) {
            (self.drain_delay, self.drain_from) = (delay, Source::Compiled);
        }
        self
    }

    /// Serves `GET /health` and `GET /ready` on `addr` (e.g. `"0.0.0.0:8081"`; port 0
    /// picks a free port, see [`Service::probes_addr`](crate::Service::probes_addr)).
    pub fn probes(mut self, addr: impl ToSocketAddrs + Display) -> Self {
        let shown = addr.to_string();
        self.probes = Some(match addr.to_socket_addrs() {
            Ok(addrs) => {
                let addrs: Vec<SocketAddr> = addrs.collect();
                if addrs.is_empty() {
                    Err(ConfigError::ProbesAddr {
                        addr: shown,
                        reason: "it resolves to no address".into(),
                    })
                } else {
                    Ok(addrs)
                }
            }
            Err(e) => Err(ConfigError::ProbesAddr {
                addr: shown,
                reason: e.to_string(),
            }),
        });
        self
    }

    /// The signals that start the shutdown (default SIGTERM and SIGINT). A second
    /// one, of any of these, exits at once with 128 + its number. A signal listed
    /// more than once (a list read from configuration, say) counts once.
    pub fn signals(mut self, signals: impl IntoIterator<Item = Signal>) -> Self {
        self.signals.clear();
        for signal in signals {
            if !self.signals.contains(&signal) {
                self.signals.push(signal);
            }
        }
        self
    }

    /// Adds a cleanup hook: an `async fn` taking nothing or `&S`, returning `()` or
    /// `Result<(), E>`. Hooks run after workers stopped and calls drained; a hook with
    /// an `order` runs after the hook with the next lower order (so ordered hooks run
    /// one after another, ascending), each bounded by its `timeout`; one that fails,
    /// panics or times out is reported and the next still runs.
    pub fn on_shutdown<M>(
        self,
        name: impl Into<String>,
        order: u32,
        timeout: Duration,
        hook: impl IntoHook<S, M>,
    ) -> Self {
        self.hook(false, name.into(), Some(order), timeout, Vec::new(), hook)
    }

    /// Adds a cleanup hook that runs as soon as every hook named in `after` has
    /// ended, whatever their outcome (at once if `after` is empty), concurrently with
    /// every hook it has no path to. The same as `#[on_shutdown(timeout = ..,
    /// after = [..])]`.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # async fn stop_producer() {} async fn stop_cache() {} async fn close_db() {}
    /// # let s = Duration::from_secs(1);
    /// winddown::Service::builder::<()>("svc")
    ///     .grace(Duration::from_secs(30))
    ///     .on_shutdown_after("stop_producer", 10 * s, [""; 0], stop_producer)
    ///     .on_shutdown_after("stop_cache", 3 * s, [""; 0], stop_cache)
    ///     // 10s + 15s on the longest chain: fits in 30s although the sum is 28s.
    ///     .on_shutdown_after("close_db", 15 * s, ["stop_producer", "stop_cache"], close_db)
    /// #   ;
    /// ```
    pub fn on_shutdown_after<M>(
        self,
        name: impl Into<String>,
        timeout: Duration,
        after: impl IntoIterator<Item = impl Into<String>>,
        hook: impl IntoHook<S, M>,
    ) -> Self {
        let after = after.into_iter().map(Into::into).collect();
        self.hook(false, name.into(), None, timeout, after, hook)
    }

    /// Adds a hook that runs at the *start* of the shutdown, right after readiness
    /// turns false and before the drain delay: leaving service discovery, say (what
    /// go-micro's `BeforeStop` is used for). Start hooks run in ascending order before
    /// the others, count in the budget, and share one order space with them.
    pub fn on_shutdown_at_start<M>(
        self,
        name: impl Into<String>,
        order: u32,
        timeout: Duration,
        hook: impl IntoHook<S, M>,
    ) -> Self {
        self.hook(true, name.into(), Some(order), timeout, Vec::new(), hook)
    }

    /// A start hook placed by `after` (other start hooks), as
    /// [`on_shutdown_after`](Self::on_shutdown_after) places an end hook.
    pub fn on_shutdown_at_start_after<M>(
        self,
        name: impl Into<String>,
        timeout: Duration,
        after: impl IntoIterator<Item = impl Into<String>>,
        hook: impl IntoHook<S, M>,
    ) -> Self {
        let after = after.into_iter().map(Into::into).collect();
        self.hook(true, name.into(), None, timeout, after, hook)
    }

    fn hook<M>(
        self,
        at_start: bool,
        name: String,
        order: Option<u32>,
        timeout: Duration,
        after: Vec<String>,
        hook: impl IntoHook<S, M>,
    ) -> Self {
        self.add_hook(HookSpec {
            id: name.clone(),
            name,
            order,
            timeout,
            at_start,
            after: after.into_iter().map(|a| (a.clone(), a)).collect(),
            hook: hook.into_hook(),
        })
    }

    /// Adds a hook, from the builder or from `#[service]`: one implementation.
    pub(crate) fn add_hook(mut self, spec: HookSpec<S>) -> Self {
        self.hooks.push(spec);
        self
    }

    /// Starts a worker when the service starts (before setup). Workers built from
    /// state that setup creates go through [`Service::spawn_worker`](crate::Service::spawn_worker).
    pub fn worker(mut self, worker: impl IntoWorker) -> Self {
        self.workers.push(worker.into_worker());
        self
    }

    /// Adds a readiness check: `/ready` answers 200 only while every check returns
    /// success within its timeout (a hang counts as a failure).
    pub fn readiness_check<F, Fut>(
        mut self,
        name: impl Into<String>,
        timeout: Duration,
        check: F,
    ) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoOutcome,
    {
        self.checks.push(Check::new(name.into(), timeout, check));
        self
    }

    /// Checks the configuration: zero durations, duplicate names and orders, and
    /// that the drain delay plus every hook's timeout fits inside `grace`.
    pub fn build(mut self) -> Result<Config<S>, ConfigError> {
        let zero = |what: String| ConfigError::ZeroDuration { what };
        if self.name.trim().is_empty() {
            return Err(ConfigError::EmptyName { what: "service" });
        }
        if let Some(e) = self.env_error.take() {
            return Err(e);
        }
        if self.grace.is_zero() {
            return Err(zero(self.grace_from.what("grace")));
        }
        if self.startup_timeout == Some(Duration::ZERO) {
            return Err(zero("`startup_timeout`".into()));
        }
        if self.runtime_stall.is_zero() {
            return Err(zero("`runtime_stall`".into()));
        }
        self.check_lengths()?;
        match (self.flavor, self.worker_threads) {
            (_, Some(0)) => {
                return Err(ConfigError::Runtime(std::io::Error::other(
                    "`worker_threads` is 0: give the runtime at least one worker thread",
                )));
            }
            (Flavor::CurrentThread, Some(_)) => {
                return Err(ConfigError::Runtime(std::io::Error::other(
                    "`worker_threads` is set with the current-thread flavor, which has none: \
                 remove it or use `Flavor::MultiThread`",
                )));
            }
            _ => {}
        }
        let probes = self.probes.take().transpose()?;
        let mut names = HashSet::new();
        for hook in &self.hooks {
            if hook.name.trim().is_empty() {
                return Err(ConfigError::EmptyName { what: "hook" });
            }
            if hook.timeout.is_zero() {
                return Err(zero(format!("the timeout of hook `{}`", hook.name)));
            }
            // Unique by identity: a builder hook's name, an attribute hook's path.
            unique(&mut names, "hook", &hook.id)?;
        }
        // Two attribute hooks of different crates may share the name they log under
        // (`db::close` here and in a library): they then log under their full path.
        let mut by_name: HashMap<&str, usize> = HashMap::new();
        for hook in &self.hooks {
            *by_name.entry(hook.name.as_str()).or_default() += 1;
        }
        let shared: HashSet<String> = (by_name.into_iter())
            .filter(|(_, n)| *n > 1)
            .map(|(name, _)| name.to_owned())
            .collect();
        for hook in &mut self.hooks {
            if shared.contains(&hook.name) {
                hook.name = hook.id.clone();
            }
        }
        let mut ordered: Vec<&HookSpec<S>> =
            self.hooks.iter().filter(|h| h.order.is_some()).collect();
        ordered.sort_by_key(|h| h.order);
        if let Some(pair) = ordered.windows(2).find(|w| w[0].order == w[1].order) {
            return Err(ConfigError::DuplicateOrder {
                order: pair[0].order.unwrap_or_default(),
                first: pair[0].name.clone(),
                second: pair[1].name.clone(),
            });
        }
        names.clear();
        for worker in &self.workers {
            if let Some(err) = worker.invalid() {
                return Err(err);
            }
            unique(&mut names, "worker", worker.name())?;
        }
        names.clear();
        for check in &self.checks {
            if check.name.trim().is_empty() {
                return Err(ConfigError::EmptyName {
                    what: "readiness check",
                });
            }
            if check.timeout.is_zero() {
                return Err(zero(format!(
                    "the timeout of readiness check `{}`",
                    check.name
                )));
            }
            unique(&mut names, "readiness check", &check.name)?;
        }
        let plan = plan(&self.hooks, &self.workers, self.grace, self.drain_delay).map_err(|e| {
            match e {
                // The compile-time message, and which values the deployment changed.
                ConfigError::Budget {
                    grace,
                    needed,
                    message,
                } if self.set_by_env() => ConfigError::Budget {
                    grace,
                    needed,
                    message: format!(
                        "{message} (with {})",
                        settings_line(
                            self.grace,
                            self.grace_from,
                            self.drain_delay,
                            self.drain_from
                        )
                    ),
                },
                e => e,
            }
        })?;
        Ok(Config {
            name: self.name,
            grace: self.grace,
            drain_delay: self.drain_delay,
            probes,
            signals: self.signals,
            hooks: self.hooks,
            plan,
            workers: self.workers,
            checks: self.checks,
            logging: self.logging,
            flavor: self.flavor,
            worker_threads: self.worker_threads,
            tell_clients_to_leave: self.tell_clients_to_leave,
            startup_timeout: self.startup_timeout,
            runtime_stall: self.runtime_stall,
            grace_from: self.grace_from,
            drain_from: self.drain_from,
        })
    }

    fn set_by_env(&self) -> bool {
        matches!(self.grace_from, Source::Env(_)) || matches!(self.drain_from, Source::Env(_))
    }
}

/// `grace=45s (WINDDOWN_GRACE) drain_delay=5s (compiled)`: each value and where it
/// came from.
pub(crate) fn settings_line(
    grace: Duration,
    grace_from: Source,
    drain: Duration,
    drain_from: Source,
) -> String {
    format!(
        "grace={} ({grace_from}) drain_delay={} ({drain_from})",
        fmt_duration(grace),
        fmt_duration(drain)
    )
}

impl<S> Builder<S> {
    /// Refuses any duration longer than [`MAX_DURATION`], so no sum or deadline of
    /// the sequence can overflow.
    fn check_lengths(&self) -> Result<(), ConfigError> {
        let long = |what: String, value: Duration| {
            if value > MAX_DURATION {
                Err(ConfigError::TooLong { what, value })
            } else {
                Ok(())
            }
        };
        long(self.grace_from.what("grace"), self.grace)?;
        long(self.drain_from.what("drain_delay"), self.drain_delay)?;
        if let Some(limit) = self.startup_timeout {
            long("`startup_timeout`".into(), limit)?;
        }
        long("`runtime_stall`".into(), self.runtime_stall)?;
        for hook in &self.hooks {
            long(format!("the timeout of hook `{}`", hook.name), hook.timeout)?;
        }
        for check in &self.checks {
            long(
                format!("the timeout of readiness check `{}`", check.name),
                check.timeout,
            )?;
        }
        Ok(())
    }
}

fn unique(seen: &mut HashSet<String>, what: &'static str, name: &str) -> Result<(), ConfigError> {
    if seen.insert(name.to_owned()) {
        Ok(())
    } else {
        Err(ConfigError::DuplicateName {
            what,
            name: name.to_owned(),
        })
    }
}

/// A checked configuration, ready to run. Its values are readable, e.g. to check a
/// Kubernetes manifest against them.
pub struct Config<S> {
    pub(crate) name: String,
    pub(crate) grace: Duration,
    pub(crate) drain_delay: Duration,
    pub(crate) probes: Option<Vec<SocketAddr>>,
    pub(crate) signals: Vec<Signal>,
    pub(crate) hooks: Vec<HookSpec<S>>,
    pub(crate) plan: Plan,
    pub(crate) workers: Vec<Worker>,
    pub(crate) checks: Vec<Check>,
    pub(crate) logging: bool,
    pub(crate) flavor: Flavor,
    pub(crate) worker_threads: Option<usize>,
    pub(crate) tell_clients_to_leave: bool,
    pub(crate) startup_timeout: Option<Duration>,
    pub(crate) runtime_stall: Duration,
    pub(crate) grace_from: Source,
    pub(crate) drain_from: Source,
}

/// Checks the hooks' graph with the same `const fn` the compile-time check runs, and
/// that its critical paths fit in `grace`.
pub(crate) fn plan<S>(
    hooks: &[HookSpec<S>],
    workers: &[Worker],
    grace: Duration,
    drain: Duration,
) -> Result<Plan, ConfigError> {
    use crate::graph::{self, Dep, Node, Problem};
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let after: Vec<Vec<Dep<'_>>> = (hooks.iter())
        .map(|h| {
            (h.after.iter())
                .map(|(id, name)| Dep { id, name })
                .collect()
        })
        .collect();
    let nodes: Vec<Node<'_>> = (hooks.iter().zip(&after))
        .map(|(h, after)| Node {
            dep: Dep {
                id: &h.id,
                name: &h.name,
            },
            order: h.order,
            timeout_ms: ms(h.timeout),
            at_start: h.at_start,
            after,
        })
        .collect();
    let a = graph::analyze(&nodes);
    let name = |i: usize| hooks[i].name.clone();
    match a.problem {
        Problem::None => {}
        Problem::TooMany => return Err(ConfigError::TooManyHooks),
        Problem::Unknown { hook, dep } => {
            return Err(ConfigError::UnknownAfter {
                hook: name(hook),
                after: hooks[hook].after[dep].1.clone(),
            });
        }
        Problem::SelfDependency { hook } => {
            return Err(ConfigError::SelfAfter { hook: name(hook) });
        }
        Problem::CrossPhase { hook, dep } => {
            return Err(ConfigError::AfterAcrossPhases {
                hook: name(hook),
                after: name(dep),
            });
        }
        Problem::Cycle { .. } => {
            return Err(ConfigError::HookCycle {
                cycle: a.cycle.hooks().iter().map(|&i| name(i)).collect(),
            });
        }
    }
    let worker = (workers.iter())
        .map(|w| graph::SlowestWorker {
            name: w.name(),
            stop_ms: ms(w.stop_limit()),
        })
        .max_by_key(|w| w.stop_ms)
        .unwrap_or(graph::SlowestWorker::NONE);
    let needed = graph::needed_ms(&a, ms(drain), worker.stop_ms);
    if needed > ms(grace) {
        let mut message = crate::__private::ConstBuf::<2048>::new();
        graph::push_budget(&mut message, &nodes, &a, ms(grace), ms(drain), worker);
        return Err(ConfigError::Budget {
            grace,
            needed: Duration::from_millis(needed),
            message: message.as_str().to_owned(),
        });
    }
    Ok(Plan {
        deps: (0..nodes.len())
            .map(|i| graph::deps_of(&nodes, i))
            .collect(),
        start_path: Duration::from_millis(a.start.ms),
        end_path: Duration::from_millis(a.end.ms),
        worker_room: grace.saturating_sub(Duration::from_millis(graph::needed_ms(
            &a,
            ms(drain),
            0,
        ))),
    })
}

impl<S> Config<S> {
    /// The service's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The bound on the whole shutdown.
    pub fn grace(&self) -> Duration {
        self.grace
    }
    /// The delay between readiness turning false and intake closing.
    pub fn drain_delay(&self) -> Duration {
        self.drain_delay
    }
    /// The start-up deadline, if there is one.
    pub fn startup_timeout(&self) -> Option<Duration> {
        self.startup_timeout
    }
    /// `grace=45s (WINDDOWN_GRACE) drain_delay=5s (compiled)`: the timings and where
    /// each came from (`default`, `compiled`, or the environment variable).
    pub fn settings(&self) -> String {
        settings_line(
            self.grace,
            self.grace_from,
            self.drain_delay,
            self.drain_from,
        )
    }
    /// The probes addresses, if probes are served.
    pub fn probes(&self) -> Option<&[SocketAddr]> {
        self.probes.as_deref()
    }
    /// The signals that start the shutdown.
    pub fn signals(&self) -> &[Signal] {
        &self.signals
    }
    /// The hooks as `(name, order, timeout)`, start hooks first, then by order
    /// (hooks placed by `after` only have no order and come last).
    pub fn hooks(&self) -> impl Iterator<Item = (&str, Option<u32>, Duration)> {
        let mut hooks: Vec<&HookSpec<S>> = self.hooks.iter().collect();
        hooks.sort_by_key(|h| (!h.at_start, h.order.is_none(), h.order));
        hooks
            .into_iter()
            .map(|h| (h.name.as_str(), h.order, h.timeout))
    }

    /// The longest time the hooks can take: the critical path of the start hooks plus
    /// that of the end hooks (hooks with no path between them run concurrently).
    pub fn hooks_critical_path(&self) -> Duration {
        self.plan.start_path + self.plan.end_path
    }
}

impl<S> Debug for Config<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("name", &self.name)
            .field("grace", &self.grace)
            .field("drain_delay", &self.drain_delay)
            .field("probes", &self.probes)
            .field("signals", &self.signals)
            .field("hooks", &self.hooks().collect::<Vec<_>>())
            .field("workers", &self.workers)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Service;

    const S: Duration = Duration::from_secs(1);

    fn err(b: Builder<()>) -> String {
        b.build().unwrap_err().to_string()
    }

    #[test]
    fn durations_read_as_the_attributes_write_them() {
        assert_eq!(fmt_duration(Duration::from_millis(90_250)), "1m30s250ms");
        assert_eq!(fmt_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn repeated_signals_count_once() {
        let b = Service::builder::<()>("svc").signals([Signal::Term, Signal::Int, Signal::Term]);
        assert_eq!(b.build().unwrap().signals(), [Signal::Term, Signal::Int]);
    }

    #[test]
    fn huge_durations_are_errors_not_panics() {
        let e = err(Service::builder("svc").grace(Duration::MAX));
        assert!(e.contains("`grace` is") && e.contains("365 days"), "{e}");
        let e = err(Service::builder("svc")
            .grace(S)
            .on_shutdown("a", 1, Duration::MAX, || async {})
            .on_shutdown("b", 2, Duration::MAX, || async {}));
        assert!(e.contains("the timeout of hook `a`"), "{e}");
        let e = err(Service::builder("svc").drain_delay(Duration::MAX));
        assert!(e.contains("`drain_delay`"), "{e}");
        let e = err(Service::builder("svc").worker(crate::Worker::every_fn(
            "w",
            Duration::MAX,
            || async {},
        )));
        assert!(e.contains("`every` of worker `w`"), "{e}");
    }

    #[test]
    fn zero_grace_is_refused() {
        let e = err(Service::builder("svc").grace(Duration::ZERO));
        assert!(e.starts_with("`grace` is zero"), "{e}");
    }

    #[test]
    fn duplicate_orders_name_both_hooks() {
        let e = err(Service::builder("svc")
            .on_shutdown("a", 2, S, || async {})
            .on_shutdown("b", 2, S, || async {}));
        assert_eq!(
            e,
            "hooks `a` and `b` both have order 2: give each hook its own order"
        );
    }

    #[test]
    fn duplicate_names_are_refused() {
        let e = err(Service::builder("svc")
            .on_shutdown("a", 1, S, || async {})
            .on_shutdown("a", 2, S, || async {}));
        assert!(e.contains("two hooks are named `a`"), "{e}");
        let e = err(Service::builder("svc")
            .worker(crate::Worker::run_fn("w", |_q| async {}))
            .worker(crate::Worker::run_fn("w", |_q| async {})));
        assert!(e.contains("two workers are named `w`"), "{e}");
    }

    #[test]
    fn the_budget_gives_the_numbers_and_the_fix() {
        let e = err(Service::builder("svc")
            .grace(Duration::from_secs(30))
            .drain_delay(Duration::from_secs(10))
            .on_shutdown("db", 1, Duration::from_secs(25), || async {}));
        assert_eq!(
            e,
            "the shutdown does not fit in grace: drain_delay 10s + db 25s + 100ms margin for the report \
             = 35s100ms is more than grace 30s; raise grace to 36s, or shorten the drain delay or the \
             timeouts on this chain"
        );
        // An exact fit is refused: the report needs its moment.
        let exact = Service::builder::<()>("svc")
            .grace(Duration::from_secs(3))
            .drain_delay(S)
            .on_shutdown("db", 1, 2 * S, || async {});
        assert!(matches!(exact.build(), Err(ConfigError::Budget { .. })));
    }

    #[test]
    fn hooks_are_told_apart_by_their_path() {
        let spec = |id: &str| HookSpec::<()> {
            id: id.into(),
            name: "db::close".into(),
            order: None,
            timeout: S,
            at_start: false,
            after: Vec::new(),
            hook: (|| async {}).into_hook(),
        };
        let c = Service::builder::<()>("svc")
            .add_hook(spec("app::db::close"))
            .add_hook(spec("lib::db::close"))
            .build()
            .unwrap();
        let names: Vec<_> = c.hooks().map(|(n, _, _)| n).collect();
        assert_eq!(names, ["app::db::close", "lib::db::close"]);
        let e = err(Service::builder("svc")
            .add_hook(spec("app::db::close"))
            .add_hook(spec("app::db::close")));
        assert!(e.contains("two hooks are named `app::db::close`"), "{e}");
    }

    #[test]
    fn the_budget_counts_the_slowest_workers_stop() {
        let worker = || Worker::every_fn("ticker", S, || async {}).stop_timeout(2 * S);
        let e = err(Service::builder("svc")
            .grace(3 * S)
            .drain_delay(S)
            .worker(worker())
            .on_shutdown("db", 1, S, || async {}));
        assert_eq!(
            e,
            "the shutdown does not fit in grace: drain_delay 1s + worker ticker stop_timeout 2s + db 1s \
             + 100ms margin for the report = 4s100ms is more than grace 3s; raise grace to 5s, or shorten \
             the drain delay or the timeouts on this chain"
        );
        // The tightest grace accepted leaves the worker its stop and the report its moment.
        let c = Service::builder::<()>("svc")
            .grace(Duration::from_millis(4_100))
            .drain_delay(S)
            .worker(worker())
            .on_shutdown("db", 1, S, || async {})
            .build()
            .unwrap();
        assert_eq!(c.plan.worker_room, 2 * S);
    }

    #[test]
    fn the_budget_is_the_critical_path() {
        let c = Service::builder::<()>("svc")
            .grace(Duration::from_secs(20))
            .on_shutdown_after("producer", 10 * S, [""; 0], || async {})
            .on_shutdown_after("cache", 3 * S, [""; 0], || async {})
            .on_shutdown_after("db", 5 * S, ["producer", "cache"], || async {})
            .on_shutdown("telemetry", 1, 2 * S, || async {})
            .build()
            .unwrap();
        assert_eq!(c.hooks_critical_path(), 15 * S);
        let e = err(Service::builder("svc")
            .grace(Duration::from_secs(14))
            .on_shutdown_after("producer", 10 * S, [""; 0], || async {})
            .on_shutdown_after("db", 5 * S, ["producer"], || async {}));
        assert!(e.contains("producer 10s → db 5s"), "{e}");
    }

    #[test]
    fn the_graph_is_checked_by_name() {
        let e = err(Service::builder("svc").on_shutdown_after("db", S, ["nope"], || async {}));
        assert!(e.starts_with("hook `db` runs after `nope`"), "{e}");
        let e = err(Service::builder("svc").on_shutdown_after("db", S, ["db"], || async {}));
        assert!(e.contains("lists itself"), "{e}");
        let e = err(Service::builder("svc")
            .on_shutdown_after("close_db", S, ["flush_cache"], || async {})
            .on_shutdown_after("flush_cache", S, ["close_db"], || async {}));
        assert!(e.contains("close_db → flush_cache → close_db"), "{e}");
        let e = err(Service::builder("svc")
            .on_shutdown_at_start("leave", 1, S, || async {})
            .on_shutdown_after("db", S, ["leave"], || async {}));
        assert!(e.contains("not in the same part"), "{e}");
    }

    #[test]
    fn zero_timeouts_and_empty_names_are_refused() {
        assert!(
            err(Service::builder("svc").on_shutdown("h", 1, Duration::ZERO, || async {}))
                .contains("the timeout of hook `h` is zero")
        );
        assert!(err(Service::builder("")).contains("service name is empty"));
        assert!(
            err(Service::builder("svc").readiness_check("db", Duration::ZERO, || async {}))
                .contains("readiness check `db` is zero")
        );
    }

    #[test]
    fn a_bare_port_is_not_an_address() {
        let e = err(Service::builder("svc").probes("8080"));
        assert!(
            e.starts_with("probes address `8080` is not a socket address"),
            "{e}"
        );
        assert!(e.ends_with("write e.g. \"0.0.0.0:8081\""), "{e}");
    }

    #[test]
    fn a_valid_config_is_readable_in_run_order() {
        let c = Service::builder::<()>("svc")
            .grace(Duration::from_secs(40))
            .drain_delay(Duration::from_secs(10))
            .probes("127.0.0.1:0")
            .on_shutdown("second", 2, S, || async {})
            .on_shutdown("first", 1, S, || async {})
            .build()
            .unwrap();
        let order: Vec<_> = c.hooks().map(|(n, o, _)| (n, o)).collect();
        assert_eq!(order, [("first", Some(1)), ("second", Some(2))]);
        assert_eq!(c.grace(), Duration::from_secs(40));
        assert_eq!(c.probes().unwrap().len(), 1);
    }
}
