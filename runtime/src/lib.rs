//! # winddown
//!
//! Graceful shutdown for tokio services, correct by construction. Four attributes
//! ([`service`], [`worker`], [`on_shutdown`], [`handler`]) or the builder below give a
//! service signal handling, `/health`
//! and `/ready` probes, a drain delay, in-flight draining, workers that stop when
//! told, cleanup hooks in a checked order with per-hook timeouts, one overall
//! deadline enforced even against blocked threads, a report and an honest exit code.
//!
//! ```no_run
//! use std::time::Duration;
//! use winddown::{Service, Worker};
//!
//! #[derive(Clone)]
//! struct Db;
//! impl Db {
//!     async fn close(&self) -> Result<(), std::io::Error> { Ok(()) }
//!     async fn vacuum(&self) {}
//! }
//! struct App { db: Db }
//!
//! async fn close_db(app: &App) -> Result<(), std::io::Error> { app.db.close().await }
//!
//! fn main() {
//!     Service::builder("myservice")
//!         .grace(Duration::from_secs(40))
//!         .drain_delay(Duration::from_secs(10))
//!         .probes("0.0.0.0:8081")
//!         .on_shutdown("close_db", 1, Duration::from_secs(25), close_db)
//!         .run_and_exit(|svc| async move {
//!             let db = Db;
//!             let worker_db = db.clone();
//!             svc.spawn_worker(Worker::every_fn("vacuum", Duration::from_secs(5), move || {
//!                 let db = worker_db.clone();
//!                 async move { db.vacuum().await }
//!             }));
//!             Ok::<_, std::io::Error>(App { db })
//!         })
//! }
//! ```
//!
//! ## The shutdown sequence
//!
//! Started by the first configured signal (SIGTERM, SIGINT by default),
//! [`Shutdown::trigger`], a failed setup, or a critical worker stopping:
//!
//! 1. readiness turns false (`/ready` answers 503); systemd hears `STOPPING=1`;
//!    hooks marked `at = "start"` run (leaving service discovery, say);
//! 2. the drain delay: everything keeps serving while load balancers notice;
//! 3. intake closes: new tracked calls get [`ShuttingDown`];
//! 4. workers are told to quit while calls in flight drain, concurrently, within
//!    what `grace` leaves after the end hooks' critical path;
//! 5. `on_shutdown` hooks run as their graph says (`after = [..]`, `order = N` as a
//!    chain), concurrently where nothing orders them, each bounded by its timeout;
//! 6. the [`Report`] is logged and the process exits 0 if every step was clean, 1
//!    otherwise, 128 + the signal's number on a second signal.
//!
//! ## Features
//!
//! On by default, each can be turned off (`default-features = false` leaves the core:
//! the sequence, signals, the probes, workers, hooks, the in-flight count):
//!
//! - `http`: the tracked server, `Service::serve_hyper` (HTTP/1.1 and HTTP/2 on
//!   one port over any [`http::Listener`]); `axum`, `tonic` and `rustls` build on it.
//! - `logging`: the log subscriber installed when none is set (`RUST_LOG`, text or
//!   JSON, to stderr) and `events::layer`. Without it, set your own subscriber.
//! - `systemd`: notifications (`READY=1`, `STOPPING=1`, watchdog pings), sockets
//!   passed by socket activation ([`listener`]), and `systemd::check`, `.service`
//!   and `.socket` units against the service. Without it nothing is sent and
//!   [`listener`] binds its fallback address.
//!
//! Off by default:
//!
//! - `axum`: `Service::serve` for a `Router`, `InFlightLayer`, `ShuttingDown` as a 503.
//! - `tonic`: `Service::serve_grpc`, `Service::grpc_health`, `GrpcLayer`.
//! - `kubernetes`: `kubernetes::check`, a Deployment against the service's timings,
//!   its findings errors or advice ([`check::Finding`]).
//! - `metrics`: `winddown_*` metrics through the `metrics` facade, `GET /metrics`.
//! - `testing`: `testing::Drill`, a shutdown drill for your own tests, and
//!   `testing::Restarts`, restarts under socket activation with every request's outcome.
//! - `rustls`: `http::tls::TlsListener`, HTTPS (HTTP/1.1 and HTTP/2 by ALPN) over any listener.
//! - `ws`: `http::ws::WebSocketUpgrade`, axum WebSockets closed with 1001 at intake close.
#![deny(missing_docs)]
#![deny(unreachable_pub)]
#![warn(rust_2018_idioms)]

// The core, in the order of the sequence: the handle setup gets, the run and its
// six steps, what triggers it, the parts it drives, and the report it ends with.
mod body;
mod config;
mod graph;
pub mod hooks;
pub mod in_flight;
mod liveness;
mod probes;
pub mod report;
mod sequence;
mod service;
mod trigger;
pub mod workers;

// Operating it: the steps as spans (and a hook on them), and metrics.
pub mod check;
pub mod events;
pub mod metrics;

// What faces the operating system: signals, systemd, the watchdog thread, logging.
mod os;

// What the deployment sets: environment variables, read in one place.
mod settings;

// Integrations.
#[cfg(feature = "tonic")]
pub mod grpc;
pub mod http;
#[cfg(feature = "kubernetes")]
pub mod kubernetes;
#[cfg(feature = "systemd")]
pub mod systemd;
#[cfg(feature = "testing")]
pub mod testing;

#[doc(hidden)]
pub mod __private;

pub use body::IntakeClosed;
pub use config::{Builder, Config, ConfigError, Flavor};
pub use hooks::deadline;
pub use in_flight::{InFlight, ShuttingDown, track};
pub use os::listen_fds::{ListenError, listen_addr, listener};
pub use os::signal::{Signal, UnknownSignal};
pub use report::Report;
pub use service::Service;
pub use trigger::{Cause, Quit, Shutdown};
/// Turns `async fn main` into the service's entry point.
///
/// The body is setup: it returns the application state (or `()`), which lives until
/// shutdown and is lent to every hook that takes `&State`. The generated `fn main`
/// builds the tokio runtime, installs a tracing subscriber unless one is set
/// (`RUST_LOG`, `info` by default, to stderr), runs setup, waits for a signal, winds
/// down and exits with the report's code. It is sugar over [`Service::builder`].
/// `grace` and `drain_delay` can be overridden at start by `WINDDOWN_GRACE` and
/// `WINDDOWN_DRAIN_DELAY` ([`Builder::from_env`]; see `docs/operating.md`).
///
/// | key | value | default |
/// |---|---|---|
/// | `name` | `"myservice"` (required) | |
/// | `grace` | duration bounding the whole shutdown | `"30s"` |
/// | `drain_delay` | duration between readiness false and intake close | `"0s"` |
/// | `probes` | `"0.0.0.0:8081"`, or an expression giving an address | none |
/// | `signals` | `["SIGTERM", "SIGINT"]` | those two |
/// | `on_shutdown` | `[close_db, db::flush]`: paths of `#[on_shutdown]` fns | none |
/// | `logging` | `false`: install no tracing subscriber, yours is used | `true` |
/// | `flavor` | `"multi_thread"` or `"current_thread"`: the tokio runtime | `"multi_thread"` |
/// | `worker_threads` | whole number, multi-thread runtime only | tokio's default |
/// | `startup_timeout` | duration: not ready by then is a timed-out start, hooks run, exit 1 | none |
/// | `tell_clients_to_leave` | `false`: no `Connection: close` / GOAWAY from the trigger ([`Builder::tell_clients_to_leave`]) | `true` |
/// | `crate` | `"::my_winddown"`: where winddown is, for a renamed or re-exported crate (every attribute takes it) | `"::winddown"` |
///
/// When setup returns `State` (or `Result<State, _>`) it also generates, beside the
/// new `fn main`, `fn service_config() -> Result<Config<State>, ConfigError>`: the
/// same configuration `main` runs, built and checked but not started, so a test or a
/// deploy-time check can read its timings (`kubernetes::check`, `systemd::check`).
///
/// Durations are strings of whole numbers with units `h`, `m`, `s`, `ms`, largest
/// first (`"1m30s"`, `"250ms"`). Checked at compile time: every key and value, that no
/// two listed hooks share an order (E0119 "conflicting implementations of trait
/// `HookOrderMustBeUnique<N>`"), that each listed path is a hook, that every
/// `#[on_shutdown]` fn of the crate is listed, that the hooks' `after` lists name
/// hooks of this service and form no cycle (the message spells the cycle out), and
/// that the sequence fits in `grace`: start hooks, `drain_delay`, the longest chain of
/// end hooks through the graph (its critical path, not the sum of every timeout) and
/// a 100 ms margin for the report (the message names the chain and its numbers).
///
/// The fn may take nothing or `svc: Service`, and return `()`, the state, or
/// `Result<State, E>` for any `E: Display + Debug + Send + Sync + 'static`; an error
/// starts the shutdown and exits 1 with its message.
///
/// **Setup, or the service's body.** Usually the body sets up and returns: servers
/// are spawned (`svc.serve(..)`), and readiness turns true when it returns. A body
/// that serves for the life of the service instead (`axum::serve(..).await` inside
/// `main`) tells winddown so, and is then drained like a call in flight: it becomes
/// ready when it awaits [`Service::intake_closed`] created in main (the natural
/// graceful-shutdown signal: `axum::serve(listener, app).with_graceful_shutdown(svc.intake_closed())`,
/// which also keeps it serving through the drain delay) or calls [`Service::ready`];
/// at step 4 winddown waits for it to return (bounded like the drain), and the hooks
/// get the state it returns. A setup still running after 5 s logs a warning saying
/// how to get out of "starting".
///
/// ```no_run
/// use winddown::{Service, on_shutdown, service};
///
/// struct App;
///
/// #[on_shutdown(order = 1, timeout = "25s")]
/// async fn close_db(_app: &App) -> anyhow::Result<()> { Ok(()) }
///
/// #[service(name = "myservice", grace = "40s", drain_delay = "10s",
///           probes = "0.0.0.0:8081", on_shutdown = [close_db])]
/// async fn main(svc: Service) -> anyhow::Result<App> {
///     let _ = svc;
///     Ok(App)
/// }
/// ```
pub use winddown_macros::service;
pub use workers::Worker;

/// Makes a struct a worker, started with [`Service::spawn_worker`] or
/// [`Builder::worker`].
///
/// With `every`, the struct's own `async fn tick(&mut self)` is called once per
/// period (the first time one period after start); a tick in progress finishes at
/// shutdown, the wait for the next ends at once. Without `every`, the struct's own
/// `async fn run(&mut self, quit: Quit)` owns the loop. Either returns `()` or
/// `Result<(), E>`: a tick's error is logged and the loop goes on; a panic ends the
/// worker and is reported.
///
/// | key | value | default |
/// |---|---|---|
/// | `every` | duration: a periodic worker | none: `run` owns the loop |
/// | `stop_timeout` | duration: past it the worker is aborted and reported | `"5s"` |
/// | `critical` | flag: if it panics or ends, the service shuts down and exits 1 | off |
/// | `name` | the name in logs and the report | the struct's name |
/// | `bound` | where-clause predicates for a generic struct, e.g. `"T: Display"` | none |
/// | `stall` | duration: a tick running longer, or a run loop not calling [`Quit::heartbeat`] for longer, fails `/health` naming the worker | none |
/// | `restart` | `"on-failure"`: a run-loop worker that errors or panics is restarted after a backoff | `"never"` |
/// | `backoff`, `max_backoff` | durations: the first restart delay, doubling up to the maximum | `"1s"`, `"1m"` |
/// | `max_restarts` | whole number: restarts allowed (within `restart_window`), then it stops; `critical` then stops the service | unlimited |
/// | `restart_window` | duration: restarts older than this no longer count | the worker's life |
/// | `crate` | `"::my_winddown"`: where winddown is | `"::winddown"` |
///
/// A generic struct's type parameters are bounded `Send + 'static` for you (the
/// worker runs in a task of its own). Bounds that only the impl block with `tick` or
/// `run` states go in `bound`, as with serde's `#[serde(bound = "..")]`:
/// `#[worker(every = "1s", bound = "T: Display")] struct Poller<T> { label: T }`.
///
/// ```
/// use winddown::{Quit, worker};
///
/// #[worker(every = "5s", stop_timeout = "5s")]
/// struct Cleanup;
///
/// impl Cleanup {
///     async fn tick(&mut self) -> anyhow::Result<()> { Ok(()) }
/// }
///
/// #[worker(critical)]
/// struct Consumer;
///
/// impl Consumer {
///     async fn run(&mut self, quit: Quit) {
///         quit.cancelled().await; // a real consumer selects on this and its queue
///     }
/// }
/// ```
pub use winddown_macros::worker;

/// Makes an async fn a cleanup hook with a timeout and a place in the shutdown.
///
/// The fn stays callable as written. It takes nothing or `&State` (the value setup
/// returned) and returns `()` or `Result<(), E>`. Beside it the attribute puts a
/// hidden companion of the same name carrying its path, order, `after` list and
/// timeout, so `#[service(on_shutdown = [...])]` can check the whole graph at compile
/// time, wherever the hooks are defined. Hooks are named by their path (`db::close`
/// and `cache::close` are two hooks). End hooks run after workers stopped and calls
/// drained, start hooks (`at = "start"`) right after readiness turns false.
///
/// **Where a hook runs.** A hook with `after = [a, b]` starts once `a` and `b` have
/// ended, whatever their outcome. Hooks with `order = N` form one chain: each starts
/// once the ordered hook just below it has ended, so they run one after another,
/// ascending, as they always did. A hook with neither depends on nothing. Hooks with
/// no path between them run concurrently; each is bounded by its `timeout`; one that
/// fails, panics or times out is reported and the hooks after it still run. Both
/// may be mixed: `order` adds an edge to the previous ordered hook, `after` adds
/// edges to the hooks it names. Inside a hook, [`deadline`] says when it will be cut
/// off.
///
/// Every `#[on_shutdown]` fn must be listed by a `#[service]` of the same crate, or
/// the build fails ("hook `x` is not listed by any #[service] in this crate"), so a
/// hook cannot be silently forgotten. A hook a service of another crate lists says
/// `listed_elsewhere`.
///
/// | key | value |
/// |---|---|
/// | `timeout` | duration (required, not zero) |
/// | `after` | `[stop_producer, cache::flush]`: hooks of the same service this one waits for |
/// | `order` | whole number, unique across the service's hooks: places the hook in the ordered chain |
/// | `at` | `"end"` (default: after the drain) or `"start"`: right after readiness turns false, before the drain delay, e.g. to leave service discovery |
/// | `listed_elsewhere` | flag: a service in another crate lists this hook |
/// | `crate` | `"::my_winddown"`: where winddown is (default `"::winddown"`) |
///
/// ```no_run
/// use winddown::{on_shutdown, service};
///
/// struct App;
///
/// #[on_shutdown(timeout = "10s")]
/// async fn stop_producer(_app: &App) {}
///
/// #[on_shutdown(timeout = "3s")]
/// async fn flush_cache(_app: &App) {}
///
/// #[on_shutdown(timeout = "25s", after = [stop_producer, flush_cache])]
/// async fn close_db(_app: &App) -> anyhow::Result<()> { Ok(()) }
///
/// #[on_shutdown(timeout = "2s", after = [close_db])]
/// async fn flush_telemetry() {}
///
/// // The timeouts sum to 40s, but the longest chain is 10s + 25s + 2s = 37s.
/// #[service(name = "myservice", grace = "38s",
///           on_shutdown = [stop_producer, flush_cache, close_db, flush_telemetry])]
/// async fn main() -> App {
///     App
/// }
/// ```
pub use winddown_macros::on_shutdown;

/// Counts each call of an async fn in flight, so the shutdown waits for it, and
/// refuses calls once intake has closed.
///
/// The fn must return `Result<T, E>` where `E: From<ShuttingDown>`: a refused call
/// returns `Err(E::from(ShuttingDown))` without running the body. That is how the
/// refusal reaches your caller: implement `From<ShuttingDown>` for your error type
/// (`anyhow::Error` has it already) and map it to what your protocol says, e.g. HTTP
/// 503 with `Connection: close`, or gRPC `UNAVAILABLE`. Methods taking `&self` work.
/// Calls are tracked through the service running in this process (see [`track`]);
/// with none running they run untracked. Its one key is `crate = ".."` (where
/// winddown is, for a renamed crate).
///
/// ```
/// #[derive(Debug)]
/// enum ApiError { Unavailable }
///
/// impl From<winddown::ShuttingDown> for ApiError {
///     fn from(_: winddown::ShuttingDown) -> Self { ApiError::Unavailable }
/// }
///
/// #[winddown::handler]
/// async fn get_user(id: u64) -> Result<String, ApiError> {
///     Ok(format!("user {id}"))
/// }
/// ```
pub use winddown_macros::handler;
