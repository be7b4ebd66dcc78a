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
//!    what `grace` leaves after the hooks' timeouts;
//! 5. `on_shutdown` hooks run in ascending order, each bounded by its timeout;
//! 6. the [`Report`] is logged and the process exits 0 if every step was clean, 1
//!    otherwise, 128 + the signal's number on a second signal.
//!
//! ## Features
//!
//! - `axum`: `Service::serve` for a `Router`, `InFlightLayer`, `ShuttingDown` as a 503.
//! - `tonic`: `Service::serve_grpc`, `Service::grpc_health`, `GrpcLayer`.
//! - `kubernetes`: `kubernetes::check`, a Deployment against the service's timings.
//! - `testing`: `testing::Drill`, a shutdown drill for your own tests.
//!
//! [`Service::serve_hyper`] (any hyper service) needs no feature.
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
mod probes;
pub mod report;
mod sequence;
mod service;
mod trigger;
pub mod workers;

// Operating it: the steps as spans (and a hook on them), and metrics.
pub mod events;
pub mod metrics;

// What faces the operating system: signals, systemd, the watchdog thread, logging.
mod os;

// Integrations.
#[cfg(feature = "tonic")]
pub mod grpc;
pub mod http;
#[cfg(feature = "kubernetes")]
pub mod kubernetes;
#[cfg(feature = "testing")]
pub mod testing;

#[doc(hidden)]
pub mod __private;

pub use body::IntakeClosed;
pub use config::{Builder, Config, ConfigError, Flavor};
pub use hooks::deadline;
pub use in_flight::{InFlight, ShuttingDown, track};
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
///
/// | key | value | default |
/// |---|---|---|
/// | `name` | `"myservice"` (required) | |
/// | `grace` | duration bounding the whole shutdown | `"30s"` |
/// | `drain_delay` | duration between readiness false and intake close | `"0s"` |
/// | `probes` | `"0.0.0.0:8081"`, or an expression giving an address | none |
/// | `signals` | `["SIGTERM", "SIGINT"]` | those two |
/// | `on_shutdown` | `[close_db, db::flush]`: paths of `#[on_shutdown]` fns | none |
///
/// Durations are strings of whole numbers with units `h`, `m`, `s`, `ms`, largest
/// first (`"1m30s"`, `"250ms"`). Checked at compile time: every key and value, that no
/// two listed hooks share an order (E0119 "conflicting implementations of trait
/// `HookOrderMustBeUnique<N>`"), that each listed path is a hook, and that
/// `drain_delay` plus the hooks' timeouts fit in `grace` (the message gives the numbers).
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

/// Makes an async fn a cleanup hook with an order and a timeout.
///
/// The fn stays callable as written. It takes nothing or `&State` (the value setup
/// returned) and returns `()` or `Result<(), E>`. Beside it the attribute puts a
/// hidden companion of the same name carrying its name, order and timeout, so
/// `#[service(on_shutdown = [...])]` can check the whole list at compile time,
/// wherever the hooks are defined. Hooks run after workers stopped and calls
/// drained, in ascending `order`, each bounded by its `timeout`; one that fails,
/// panics or times out is reported and the next still runs. Inside a hook,
/// [`deadline`] says when it will be cut off.
///
/// | key | value |
/// |---|---|
/// | `order` | whole number, unique across the service's hooks (required) |
/// | `timeout` | duration (required, not zero) |
/// | `at` | `"end"` (default: after the drain) or `"start"`: right after readiness turns false, before the drain delay, e.g. to leave service discovery |
///
/// ```
/// struct App;
///
/// #[winddown::on_shutdown(order = 1, timeout = "25s")]
/// async fn close_db(_app: &App) -> anyhow::Result<()> { Ok(()) }
///
/// #[winddown::on_shutdown(order = 2, timeout = "2s")]
/// async fn flush_telemetry() {}
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
/// with none running they run untracked.
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
