//! Metrics through the [`metrics`](https://docs.rs/metrics) facade (feature
//! `metrics`), so any exporter works, and `GET /metrics` on the probes port.
//!
//! | name | kind | labels | what |
//! |---|---|---|---|
//! | `winddown_in_flight_calls` | gauge | | calls in flight, read at each step and each scrape |
//! | `winddown_calls_refused_total` | counter | | calls refused with `ShuttingDown` after intake closed |
//! | `winddown_shutdowns_started_total` | counter | `cause` | shutdowns started (`SIGTERM`, `SIGINT`, …, `trigger`, `setup_failed`, `critical_worker`) |
//! | `winddown_shutdowns_completed_total` | counter | `outcome` | shutdowns that reached their report (`clean`, `failed`); started minus completed were cut off (SIGKILL, `grace` exhausted) |
//! | `winddown_step_duration_seconds` | histogram | `phase`, `step`, `outcome` | each step of the sequence |
//! | `winddown_ready` | gauge | | 1 while `/ready` would answer 200 on state alone, else 0 |
//! | `winddown_readiness_state` | gauge | | 0 starting, 1 ready, 2 shutting down |
//!
//! With a Prometheus exporter (`metrics-exporter-prometheus`, no default features
//! needed), two lines serve them on the probes port:
//!
//! ```ignore
//! let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()?;
//! winddown::metrics::expose(move || prometheus.render());
//! ```
//!
//! Without the feature every function here compiles to nothing.

#[cfg(feature = "metrics")]
use std::sync::{Arc, OnceLock};

use crate::report::{Outcome, Phase};
use crate::trigger::Cause;

/// Where `/metrics` gets its text: what the exporter renders.
#[cfg(feature = "metrics")]
type Render = Arc<dyn Fn() -> String + Send + Sync>;

#[cfg(feature = "metrics")]
static RENDER: OnceLock<Render> = OnceLock::new();

/// Serves `render()`'s text at `GET /metrics` on the probes port (set once per
/// process; later calls are ignored and return `false`). `render` is typically a
/// Prometheus handle's `render`; the in-flight gauge is refreshed just before.
#[cfg(feature = "metrics")]
pub fn expose(render: impl Fn() -> String + Send + Sync + 'static) -> bool {
    RENDER.set(Arc::new(render)).is_ok()
}

/// The text `GET /metrics` answers, or `None` when nothing was [`expose`]d.
#[cfg(feature = "metrics")]
pub(crate) fn scrape() -> Option<String> {
    let render = RENDER.get()?;
    in_flight_now();
    Some(render())
}

#[cfg(not(feature = "metrics"))]
#[allow(dead_code)]
pub(crate) fn scrape() -> Option<String> {
    None
}

/// Reads the current service's in-flight count into the gauge: done at scrape and
/// step time, so a tracked call pays nothing for it.
#[allow(dead_code)]
pub(crate) fn in_flight_now() {
    #[cfg(feature = "metrics")]
    if let Some(in_flight) = crate::in_flight::in_flight() {
        metrics::gauge!("winddown_in_flight_calls").set(in_flight.len() as f64);
    }
}

/// A call was refused after intake closed (the cold path of `InFlight::enter`).
#[inline]
pub(crate) fn refused() {
    #[cfg(feature = "metrics")]
    metrics::counter!("winddown_calls_refused_total").increment(1);
}

/// A run-loop worker was restarted after it failed.
pub(crate) fn worker_restarted(worker: &str) {
    #[cfg(feature = "metrics")]
    metrics::counter!("winddown_worker_restarts_total", "worker" => worker.to_owned()).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = worker;
}

/// The readiness stage, as gauges: `winddown_readiness_state` (0 starting, 1 ready,
/// 2 shutting down) and `winddown_ready` (1 when ready).
pub(crate) fn readiness(state: crate::probes::Stage) {
    #[cfg(feature = "metrics")]
    {
        metrics::gauge!("winddown_readiness_state").set(f64::from(state as u8));
        let ready = if state == crate::probes::Stage::Ready {
            1.0
        } else {
            0.0
        };
        metrics::gauge!("winddown_ready").set(ready);
    }
    #[cfg(not(feature = "metrics"))]
    let _ = state;
}

/// The label a cause is counted under: bounded (no worker names).
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) fn cause_label(cause: &Cause) -> String {
    match cause {
        Cause::Signal(sig) => sig.to_string(),
        Cause::Triggered => "trigger".into(),
        Cause::SetupFailed => "setup_failed".into(),
        Cause::CriticalWorker(_) => "critical_worker".into(),
        Cause::StartupTimedOut(_) => "startup_timeout".into(),
    }
}

pub(crate) fn shutdown_started(cause: &Cause) {
    #[cfg(feature = "metrics")]
    metrics::counter!("winddown_shutdowns_started_total", "cause" => cause_label(cause))
        .increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = cause;
}

pub(crate) fn shutdown_completed(clean: bool) {
    #[cfg(feature = "metrics")]
    metrics::counter!("winddown_shutdowns_completed_total",
        "outcome" => if clean { "clean" } else { "failed" })
    .increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = clean;
}

/// One step ended.
pub(crate) fn step(phase: Phase, name: &str, outcome: &Outcome, elapsed: std::time::Duration) {
    #[cfg(feature = "metrics")]
    {
        metrics::histogram!("winddown_step_duration_seconds",
            "phase" => phase.as_str(), "step" => name.to_owned(), "outcome" => outcome.label())
        .record(elapsed.as_secs_f64());
        in_flight_now();
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (phase, name, outcome, elapsed);
}
