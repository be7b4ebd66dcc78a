//! The shutdown's structure as tracing spans, and a hook for your own reaction to
//! each step.
//!
//! The sequence runs inside a `shutdown` span (field `service`, `cause`), and each
//! step inside a child `step` span with fields `phase`, `step`, and, once it ends,
//! `outcome` and `elapsed_ms`. Every log line of a step is an event inside its span,
//! so an OpenTelemetry or JSON layer sees the structure; the metrics are recorded
//! where the step span closes, so logs, traces and metrics come from one place.
//!
//! [`layer`] turns those spans into calls of your function, one when a step starts
//! and one when it ends. Add it to your own subscriber (with
//! [`Builder::logging(false)`](crate::Builder::logging)):
//!
//! ```
//! use tracing_subscriber::prelude::*;
//! use winddown::events::{self, StepEvent};
//!
//! let subscriber = tracing_subscriber::registry().with(events::layer(|e: &StepEvent| {
//!     if let StepEvent::Ended { phase, step, outcome, elapsed_ms, .. } = e {
//!         eprintln!("{phase}/{step}: {outcome} in {elapsed_ms}ms");
//!     }
//! }));
//! # let _ = subscriber;
//! ```

use std::time::Duration;

use tokio::time::Instant;
use tracing::Span;
use tracing::field::Empty;
#[cfg(feature = "logging")]
use {
    std::fmt,
    tracing::Subscriber,
    tracing::field::{Field, Visit},
    tracing::span::{Attributes, Id, Record},
    tracing_subscriber::layer::{Context, Layer},
    tracing_subscriber::registry::LookupSpan,
};

use crate::report::{Outcome, Phase, Step};

/// The name of the span around the whole sequence.
pub const SHUTDOWN_SPAN: &str = "shutdown";
/// The name of each step's span.
pub const STEP_SPAN: &str = "step";

/// A step starting or ending, as [`layer`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StepEvent {
    /// A step began.
    Started {
        /// The service (from the enclosing `shutdown` span).
        service: String,
        /// The phase: `readiness`, `drain_delay`, `intake`, `worker`, `in_flight`, `hook`, `setup`.
        phase: String,
        /// The step's name: a hook's or worker's name, or the phase's.
        step: String,
    },
    /// A step ended.
    Ended {
        /// The service (from the enclosing `shutdown` span).
        service: String,
        /// The phase.
        phase: String,
        /// The step's name.
        step: String,
        /// How it ended, as the report writes it (`ok`, `failed: …`, `timed out after …`).
        outcome: String,
        /// How long it took, in milliseconds.
        elapsed_ms: u64,
    },
}

#[cfg(feature = "logging")]
/// A layer calling `on_step` for every step of a winddown shutdown, at its start
/// and its end. Everything else passes through untouched.
pub fn layer<F>(on_step: F) -> StepLayer<F>
where
    F: Fn(&StepEvent) + Send + Sync + 'static,
{
    StepLayer { on_step }
}

#[cfg(feature = "logging")]
/// The layer returned by [`layer`].
pub struct StepLayer<F> {
    on_step: F,
}

#[cfg(feature = "logging")]
impl<F> fmt::Debug for StepLayer<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StepLayer").finish_non_exhaustive()
    }
}

#[cfg(feature = "logging")]
/// The fields kept on a span, in its extensions.
#[derive(Default)]
struct Fields {
    service: String,
    phase: String,
    step: String,
    outcome: String,
    elapsed_ms: u64,
}

#[cfg(feature = "logging")]
impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field, value.to_owned());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "elapsed_ms" {
            self.elapsed_ms = value;
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.set(field, format!("{value:?}"));
    }
}

#[cfg(feature = "logging")]
impl Fields {
    fn set(&mut self, field: &Field, value: String) {
        match field.name() {
            "service" => self.service = value,
            "phase" => self.phase = value,
            "step" => self.step = value,
            "outcome" => self.outcome = value,
            _ => {}
        }
    }
}

#[cfg(feature = "logging")]
fn ours(meta: &tracing::Metadata<'_>) -> bool {
    meta.target().starts_with("winddown")
        && (meta.name() == STEP_SPAN || meta.name() == SHUTDOWN_SPAN)
}

#[cfg(feature = "logging")]
impl<S, F> Layer<S> for StepLayer<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    F: Fn(&StepEvent) + Send + Sync + 'static,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if !ours(attrs.metadata()) {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if attrs.metadata().name() == STEP_SPAN {
            fields.service = service_of(&span);
            (self.on_step)(&StepEvent::Started {
                service: fields.service.clone(),
                phase: fields.phase.clone(),
                step: fields.step.clone(),
            });
        }
        span.extensions_mut().insert(fields);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        if let Some(fields) = span.extensions_mut().get_mut::<Fields>() {
            values.record(fields);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        if span.name() != STEP_SPAN || !ours(span.metadata()) {
            return;
        }
        let extensions = span.extensions();
        if let Some(f) = extensions.get::<Fields>() {
            (self.on_step)(&StepEvent::Ended {
                service: f.service.clone(),
                phase: f.phase.clone(),
                step: f.step.clone(),
                outcome: f.outcome.clone(),
                elapsed_ms: f.elapsed_ms,
            });
        }
    }
}

#[cfg(feature = "logging")]
fn service_of<S>(span: &tracing_subscriber::registry::SpanRef<'_, S>) -> String
where
    S: for<'a> LookupSpan<'a>,
{
    span.scope()
        .skip(1)
        .find(|s| s.name() == SHUTDOWN_SPAN)
        .and_then(|s| s.extensions().get::<Fields>().map(|f| f.service.clone()))
        .unwrap_or_default()
}

/// One step under way: its span (a child of the current one), its clock.
pub(crate) struct StepSpan {
    span: Span,
    phase: Phase,
    name: String,
    started: Instant,
}

impl StepSpan {
    /// Opens the span of a step named `name` in `phase`.
    pub(crate) fn new(phase: Phase, name: &str) -> Self {
        let span = tracing::info_span!(
            target: "winddown::step",
            STEP_SPAN,
            phase = phase.as_str(),
            step = name,
            outcome = Empty,
            elapsed_ms = Empty
        );
        StepSpan {
            span,
            phase,
            name: name.to_owned(),
            started: Instant::now(),
        }
    }

    /// The span, to `.instrument()` the step's work with (or to enter).
    pub(crate) fn span(&self) -> &Span {
        &self.span
    }

    /// The step ended with `outcome`: recorded on the span and in the metrics, and
    /// returned as the report's [`Step`]. The span closes here.
    pub(crate) fn finish(self, outcome: Outcome) -> Step {
        let elapsed = self.started.elapsed();
        self.finish_after(outcome, elapsed)
    }

    /// [`finish`](Self::finish) with an elapsed time measured elsewhere.
    pub(crate) fn finish_after(self, outcome: Outcome, elapsed: Duration) -> Step {
        let elapsed_ms = elapsed.as_millis() as u64;
        self.span
            .record("outcome", tracing::field::display(&outcome));
        self.span.record("elapsed_ms", elapsed_ms);
        crate::metrics::step(self.phase, &self.name, &outcome, elapsed);
        Step {
            phase: self.phase,
            name: self.name,
            outcome,
            elapsed,
            // Not measured from the shutdown's start here: the sequence's own steps
            // carry it (a hook's `started` is what tells concurrency apart).
            started: Duration::ZERO,
            note: None,
        }
    }
}
