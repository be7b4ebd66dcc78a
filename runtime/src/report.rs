//! The report of a shutdown: every step, its outcome and its duration, and the exit
//! code; and what hooks, ticks, checks and setup may return ([`IntoOutcome`]).

use std::any::Any;
use std::fmt::{self, Debug, Display};
use std::time::Duration;

use tracing::{error, info, warn};

use crate::trigger::Cause;

/// Which part of the sequence a [`Step`] belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Phase {
    /// The setup function.
    Setup,
    /// Readiness turned false.
    Readiness,
    /// The wait for load balancers to notice.
    DrainDelay,
    /// Intake closed.
    Intake,
    /// One worker stopping.
    Worker,
    /// The calls in flight draining.
    InFlight,
    /// One `on_shutdown` hook.
    Hook,
}

impl Phase {
    /// A short lowercase name, as used in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Setup => "setup",
            Phase::Readiness => "readiness",
            Phase::DrainDelay => "drain_delay",
            Phase::Intake => "intake",
            Phase::Worker => "worker",
            Phase::InFlight => "in_flight",
            Phase::Hook => "hook",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a step ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// It finished cleanly.
    Ok,
    /// It returned an error (the message).
    Failed(String),
    /// It panicked (the panic message).
    Panicked(String),
    /// It did not finish within its time and was abandoned.
    TimedOut(Duration),
    /// It did not run (the reason).
    Skipped(String),
}

impl Outcome {
    /// Whether this outcome makes the exit code 1.
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            Outcome::Failed(_) | Outcome::Panicked(_) | Outcome::TimedOut(_)
        )
    }

    pub(crate) fn label(&self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed(_) => "failed",
            Outcome::Panicked(_) => "panicked",
            Outcome::TimedOut(_) => "timed out",
            Outcome::Skipped(_) => "skipped",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Ok => f.write_str("ok"),
            Outcome::Failed(e) => write!(f, "failed: {e}"),
            Outcome::Panicked(e) => write!(f, "panicked: {e}"),
            Outcome::TimedOut(after) => write!(f, "timed out after {}ms", after.as_millis()),
            Outcome::Skipped(why) => write!(f, "skipped: {why}"),
        }
    }
}

/// One step of the shutdown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The part of the sequence.
    pub phase: Phase,
    /// What ran: the hook's or worker's name, or the phase's.
    pub name: String,
    /// How it ended.
    pub outcome: Outcome,
    /// How long it took.
    pub elapsed: Duration,
    /// When it started, from the start of the shutdown (zero for setup): with
    /// `elapsed`, which hooks ran concurrently.
    pub started: Duration,
    /// What the step adds to its outcome, if anything: for intake, how each tracked
    /// server's listener closes (`inherited`: its queue left to the next process;
    /// `bound`: the queue answered 503, then closed).
    pub note: Option<String>,
}

impl Step {
    /// Whether this step and `other` ran at the same time for a while.
    pub fn overlaps(&self, other: &Step) -> bool {
        self.started < other.started + other.elapsed && other.started < self.started + self.elapsed
    }
}

/// What happened during a shutdown, returned by [`Config::run`](crate::Config::run)
/// and logged before the process exits.
#[derive(Clone, Debug)]
pub struct Report {
    /// The service's name.
    pub service: String,
    /// What started the shutdown.
    pub cause: Cause,
    /// Every step, in the order they ended within each phase (hooks that run
    /// concurrently appear in the order they ended).
    pub steps: Vec<Step>,
    /// From the start of the shutdown to the end of the last hook.
    pub total: Duration,
}

impl Report {
    /// `0` when every step finished cleanly, `1` otherwise (a failed setup and a
    /// critical worker stopping count as failures).
    pub fn exit_code(&self) -> i32 {
        let failed = self.steps.iter().any(|s| s.outcome.is_failure())
            || matches!(
                self.cause,
                Cause::SetupFailed | Cause::CriticalWorker(_) | Cause::StartupTimedOut(_)
            );
        i32::from(failed)
    }

    /// Whether the exit code is 0.
    pub fn is_clean(&self) -> bool {
        self.exit_code() == 0
    }

    /// The step named `name` in `phase`, if it ran.
    pub fn step(&self, phase: Phase, name: &str) -> Option<&Step> {
        self.steps
            .iter()
            .find(|s| s.phase == phase && s.name == name)
    }

    /// One paragraph for the Kubernetes termination message (what `kubectl describe
    /// pod` shows): the cause, the failed steps, the exit code.
    ///
    /// ```
    /// # use winddown::{Report, Cause};
    /// # let report = Report { service: "web".into(), cause: Cause::Triggered, steps: vec![], total: Default::default() };
    /// assert_eq!(
    ///     report.summary(),
    ///     "winddown: shutdown of web (trigger() called) took 0ms and exited 0: every step was clean."
    /// );
    /// ```
    pub fn summary(&self) -> String {
        let failed: Vec<String> = (self.steps.iter())
            .filter(|s| s.outcome.is_failure())
            .map(|s| format!("{} `{}` {}", s.phase, s.name, s.outcome))
            .collect();
        let verdict = if failed.is_empty() && self.is_clean() {
            "every step was clean".to_owned()
        } else if failed.is_empty() {
            "it counts as failed".to_owned()
        } else {
            format!("{} step(s) failed: {}", failed.len(), failed.join("; "))
        };
        format!(
            "winddown: shutdown of {} ({}) took {}ms and exited {}: {verdict}.",
            self.service,
            self.cause,
            self.total.as_millis(),
            self.exit_code()
        )
    }

    /// Logs every step and the summary through `tracing`.
    pub(crate) fn log(&self) {
        for step in &self.steps {
            let elapsed_ms = step.elapsed.as_millis() as u64;
            let started_ms = step.started.as_millis() as u64;
            let (service, phase, name) = (&self.service, step.phase.as_str(), &step.name);
            // For hooks: the hooks it ran beside, so the log shows the concurrency.
            let with: Vec<&str> = match step.phase {
                Phase::Hook => (self.steps.iter())
                    .filter(|o| o.phase == Phase::Hook && o.name != step.name && o.overlaps(step))
                    .map(|o| o.name.as_str())
                    .collect(),
                _ => Vec::new(),
            };
            let ran_with = with.join(", ");
            let note = step.note.as_deref().unwrap_or_default();
            match &step.outcome {
                o if o.is_failure() => {
                    error!(%service, phase, step = %name, outcome = %o, started_ms, elapsed_ms, ran_with, note, "report")
                }
                Outcome::Skipped(_) => {
                    warn!(%service, phase, step = %name, outcome = %step.outcome, started_ms, elapsed_ms, ran_with, note, "report")
                }
                o => {
                    info!(%service, phase, step = %name, outcome = %o, started_ms, elapsed_ms, ran_with, note, "report")
                }
            }
        }
        let total_ms = self.total.as_millis() as u64;
        let exit_code = self.exit_code();
        if exit_code == 0 {
            info!(service = %self.service, cause = %self.cause, total_ms, exit_code, "shutdown complete");
        } else {
            error!(service = %self.service, cause = %self.cause, total_ms, exit_code, "shutdown complete with failures");
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "shutdown of {} ({}) in {}ms, exit code {}",
            self.service,
            self.cause,
            self.total.as_millis(),
            self.exit_code()
        )?;
        for step in &self.steps {
            writeln!(
                f,
                "  {:<11} {:<24} {:<9} {:>6}ms  {}",
                step.phase,
                step.name,
                step.outcome.label(),
                step.elapsed.as_millis(),
                match (&step.outcome, &step.note) {
                    (Outcome::Ok, None) => String::new(),
                    (Outcome::Ok, Some(note)) => note.clone(),
                    (other, _) => other.to_string(),
                }
            )?;
        }
        Ok(())
    }
}

/// The return types accepted from hooks, worker ticks and readiness checks:
/// `()` (always a success) or `Result<(), E>` where `E` is any
/// `Display + Debug + Send + Sync + 'static` error, `anyhow::Error` included.
///
/// An error is kept as its alternate `Display` (`{:#}`), which for `anyhow`
/// includes the whole chain of causes.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be returned by a hook, a worker or a readiness check",
    label = "this returns `{Self}`",
    note = "return `()` or `Result<(), E>` where `E: Display + Debug + Send + Sync + 'static` (e.g. `anyhow::Result<()>`)"
)]
pub trait IntoOutcome {
    /// `Ok(())` on success, or the error's message.
    fn into_outcome(self) -> Result<(), String>;
}

impl IntoOutcome for () {
    fn into_outcome(self) -> Result<(), String> {
        Ok(())
    }
}

impl<E> IntoOutcome for Result<(), E>
where
    E: Display + Debug + Send + Sync + 'static,
{
    fn into_outcome(self) -> Result<(), String> {
        self.map_err(|e| format!("{e:#}"))
    }
}

/// The message carried by a panic payload, for the report.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}
