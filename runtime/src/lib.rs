//! # winddown
//!
//! Graceful shutdown for tokio services, correct by construction. One builder (or
//! four attributes, in the next release) gives a service signal handling, `/health`
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
//! 2. the drain delay: everything keeps serving while load balancers notice;
//! 3. intake closes: new tracked calls get [`ShuttingDown`];
//! 4. workers are told to quit while calls in flight drain, concurrently, within
//!    what `grace` leaves after the hooks' timeouts;
//! 5. `on_shutdown` hooks run in ascending order, each bounded by its timeout;
//! 6. the [`Report`] is logged and the process exits 0 if every step was clean, 1
//!    otherwise, 128 + the signal's number on a second signal.
#![deny(missing_docs)]
#![warn(rust_2018_idioms)]

#[doc(hidden)]
pub mod __private;
mod config;
mod hooks;
mod logging;
mod notify;
mod outcome;
mod probes;
mod report;
mod service;
mod shutdown;
mod signal;
mod tracking;
mod watchdog;
mod workers;

pub use config::{Builder, Config, ConfigError, DEFAULT_GRACE, fmt_duration};
pub use hooks::{Hook, IntoHook, deadline};
pub use outcome::IntoOutcome;
pub use report::{Outcome, Phase, Report, Step};
pub use service::Service;
pub use shutdown::{Cause, Quit, Shutdown};
pub use signal::{Signal, UnknownSignal};
pub use tracking::{InFlight, InFlightGuard, ShuttingDown, track};
pub use winddown_macros::{handler, on_shutdown, service, worker};
pub use workers::{DEFAULT_STOP_TIMEOUT, IntoWorker, Periodic, RunLoop, Worker};
