//! The run of a service, and its shutdown sequence step by step: start (signals,
//! probes, workers), setup, wait for the trigger, then [`wind_down`]: readiness
//! false, start hooks, drain delay, intake close, workers and in-flight drain,
//! end hooks, report.

use std::fmt::{Debug, Display};
use std::future::Future;
use std::io::Write;
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::join_all;
use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, error, info, warn};

use crate::config::{Builder, Config, ConfigError, Flavor, HookSpec};
use crate::events::{SHUTDOWN_SPAN, StepSpan};
use crate::in_flight::{self, InFlight};
use crate::liveness::Liveness;
use crate::os::watchdog::{Progress, Watchdog};
use crate::os::{logging, signal, systemd as notify};
use crate::probes::{self, Readiness};
use crate::report::{Outcome, Phase, Report, Step, panic_message};
use crate::service::{Core, Service, lock};
use crate::trigger::{Cause, Shutdown};
use crate::{body, hooks};

impl<S: Send + Sync + 'static> Builder<S> {
    /// [`build`](Builder::build)s, then [`Config::run`]s.
    pub async fn run<F, Fut, E>(self, setup: F) -> Result<Report, ConfigError>
    where
        F: FnOnce(Service) -> Fut,
        Fut: Future<Output = Result<S, E>>,
        E: Display + Debug + Send + Sync + 'static,
    {
        self.build()?.run(setup).await
    }

    /// [`build`](Builder::build)s, then [`Config::run_and_exit`]; a configuration
    /// error is logged and exits with code 1.
    pub fn run_and_exit<F, Fut, E>(self, setup: F) -> !
    where
        F: FnOnce(Service) -> Fut,
        Fut: Future<Output = Result<S, E>>,
        E: Display + Debug + Send + Sync + 'static,
    {
        let name = self.name.clone();
        run_config(&name, self.build(), setup)
    }
}

/// Runs `config` and exits, or logs why it could not be built and exits 1.
#[doc(hidden)]
pub fn run_config<S, F, Fut, E>(
    service: &str,
    config: Result<Config<S>, ConfigError>,
    setup: F,
) -> !
where
    S: Send + Sync + 'static,
    F: FnOnce(Service) -> Fut,
    Fut: Future<Output = Result<S, E>>,
    E: Display + Debug + Send + Sync + 'static,
{
    match config {
        Ok(config) => config.run_and_exit(setup),
        Err(e) => {
            // Shown whatever `logging` says: the process is exiting because of it.
            logging::init();
            exit(service, &e)
        }
    }
}

/// Registers the signal handlers now (so a signal during setup is ours, not the
/// default action): the first signal triggers the shutdown, a second exits at once.
fn listen_for_signals(signals: &[signal::Signal], shutdown: Shutdown) -> std::io::Result<()> {
    let mut received = signal::listen(signals)?;
    tokio::spawn(async move {
        let Some(first) = received.recv().await else {
            return;
        };
        info!(service = %shutdown.service(), signal = %first, "signal received");
        shutdown.trigger_with(Cause::Signal(first));
        if let Some(second) = received.recv().await {
            let code = 128 + second.number();
            error!(
                service = %shutdown.service(),
                signal = %second,
                exit_code = code,
                "second signal: exiting now, without finishing the shutdown"
            );
            crate::settings::write_termination_log(
                shutdown.service(),
                &format!(
                    "winddown: shutdown of {} (signal {first}) was cut short by a second signal, \
                     {second}, and exited {code} without finishing.",
                    shutdown.service()
                ),
            );
            std::process::exit(code);
        }
    });
    Ok(())
}

fn exit(service: &str, e: &ConfigError) -> ! {
    error!(%service, error = %e, exit_code = 1, "cannot start");
    crate::settings::write_termination_log(
        service,
        &format!("winddown: {service} could not start and exited 1: {e}"),
    );
    let _ = std::io::stderr().flush();
    std::process::exit(1)
}

impl<S: Send + Sync + 'static> Config<S> {
    /// Runs the service inside the current tokio runtime (multi-threaded, with time
    /// and I/O enabled): installs signal handlers, binds the probes, starts the
    /// workers, runs `setup`, waits for the shutdown to start, winds down, and
    /// returns the [`Report`].
    ///
    /// `grace` is enforced by a watchdog thread that exits the process with code 1
    /// when it runs out, and a second signal exits at once: both end the process
    /// even here.
    pub async fn run<F, Fut, E>(mut self, setup: F) -> Result<Report, ConfigError>
    where
        F: FnOnce(Service) -> Fut,
        Fut: Future<Output = Result<S, E>>,
        E: Display + Debug + Send + Sync + 'static,
    {
        let in_flight = InFlight::new();
        let progress = Arc::new(Progress::default());
        let watchdog = Watchdog::spawn(
            self.name.clone(),
            self.grace,
            progress.clone(),
            in_flight.clone(),
        )
        .map_err(ConfigError::Runtime)?;
        let shutdown = Shutdown::new(self.name.clone(), watchdog);
        // A socket passed under the name `probes` wins over the configured address.
        let inherited = crate::os::listen_fds::take("probes", false)
            .map_err(|e| ConfigError::ProbesInherited(Box::new(e)))?;
        let listener = match (inherited, &self.probes) {
            (Some(listener), _) => Some(listener),
            (None, Some(addrs)) => Some(probes::bind(addrs).await?),
            (None, None) => None,
        };
        listen_for_signals(&self.signals, shutdown.clone()).map_err(ConfigError::Signals)?;
        let liveness = Liveness::new(self.runtime_stall);
        liveness.start_runtime_beat();
        notify::start_watchdog_pings(liveness.clone());

        let readiness = Arc::new(Readiness::default());
        for check in &self.checks {
            readiness.add_check(check.clone());
        }
        let probes_addr = listener.as_ref().and_then(|l| l.local_addr().ok());
        if let (Some(listener), Some(addr)) = (listener, probes_addr) {
            info!(service = %self.name, phase = "start", %addr, "probes listening on /health and /ready");
            probes::serve(
                listener,
                readiness.clone(),
                liveness.clone(),
                self.name.clone(),
            );
        }
        let svc = Service {
            core: Arc::new(Core {
                name: self.name.clone(),
                shutdown: shutdown.clone(),
                in_flight: in_flight.clone(),
                quit: CancellationToken::new(),
                finished: CancellationToken::new(),
                became_ready: CancellationToken::new(),
                readiness,
                liveness,
                workers: Mutex::default(),
                worker_names: Mutex::default(),
                probes_addr,
                progress,
                leaving: Arc::default(),
                leave: CancellationToken::new(),
                closing: TaskTracker::new(),
                listeners: Mutex::default(),
                worker_room: self.plan.worker_room,
            }),
        };
        in_flight::set_current(Some(in_flight));
        crate::service::set_current(&svc.core);
        let name = self.name.clone();
        for worker in std::mem::take(&mut self.workers) {
            svc.spawn_worker(worker);
        }

        let grace = format!(
            "{} ({})",
            crate::config::fmt_duration(self.grace),
            self.grace_from
        );
        let drain_delay = format!(
            "{} ({})",
            crate::config::fmt_duration(self.drain_delay),
            self.drain_from
        );
        info!(service = %name, phase = "setup", grace = %grace, drain_delay = %drain_delay, "starting");
        let started = Instant::now();
        let pending = svc.core.progress.enter("setup");
        let setup = body::scope(&svc.core, async {
            match AssertUnwindSafe(setup(svc.clone())).catch_unwind().await {
                Ok(Ok(state)) => Ok(state),
                Ok(Err(e)) => Err(Outcome::Failed(format!("{e:#}"))),
                Err(panic) => Err(Outcome::Panicked(panic_message(&*panic))),
            }
        });
        let mut setup = pin!(setup);
        // Setup runs until it returns, or until main turns out to serve for the life
        // of the service (it called `ready()`): then it is the body, drained in step 4.
        let mut slow = pin!(tokio::time::sleep(SLOW_SETUP));
        let mut warned = false;
        // `startup_timeout`: not ready by then ends setup as timed out.
        let limit = self.startup_timeout;
        let mut deadline = pin!(async move {
            match limit {
                Some(limit) => tokio::time::sleep(limit).await,
                None => std::future::pending().await,
            }
        });
        let mut timed_out = false;
        let returned = loop {
            tokio::select! {
                biased;
                returned = &mut setup => break Some(returned),
                _ = svc.core.became_ready.cancelled() => break None,
                _ = &mut deadline => {
                    timed_out = true;
                    break Some(Err(Outcome::TimedOut(limit.unwrap_or_default())));
                }
                _ = &mut slow, if !warned => {
                    warned = true;
                    warn!(service = %name, phase = "setup", elapsed_ms = started.elapsed().as_millis() as u64,
                        "setup has not returned yet, so /ready answers 503 `starting`. If main serves \
                         (axum::serve(..).await), spawn the server with svc.serve(..), pass \
                         svc.intake_closed() as its graceful-shutdown signal, or call svc.ready() \
                         once it listens");
                }
            }
        };
        drop(pending);
        let elapsed = started.elapsed();
        let (state, setup_failure, body) = match returned {
            Some(Ok(state)) => (Some(Arc::new(state)), None, None),
            Some(Err(outcome)) => (None, Some(outcome), None),
            None => {
                info!(service = %name, phase = "setup", elapsed_ms = elapsed.as_millis() as u64,
                    "main keeps running: it serves as the service's body, drained at intake close");
                (None, None, Some(setup))
            }
        };
        // Readiness turns true only if nothing has started the shutdown meanwhile.
        let served = setup_failure.is_none() && !shutdown.is_triggered();
        let setup_step = match setup_failure {
            None => {
                if served && body.is_none() {
                    svc.core.mark_ready("setup finished");
                }
                if body.is_none() {
                    info!(service = %name, phase = "setup", elapsed_ms = elapsed.as_millis() as u64, ready = served, "setup finished");
                }
                None
            }
            Some(outcome) => {
                error!(service = %name, phase = "setup", %outcome, "setup did not finish");
                shutdown.trigger_with(match (timed_out, limit) {
                    (true, Some(limit)) => Cause::StartupTimedOut(limit),
                    _ => Cause::SetupFailed,
                });
                Some(Step {
                    phase: Phase::Setup,
                    name: "setup".into(),
                    outcome,
                    elapsed,
                    started: Duration::ZERO,
                    note: None,
                })
            }
        };

        // A body that returns before the shutdown: its state is kept for the hooks,
        // its error starts the shutdown.
        let mut setup_step = setup_step;
        let (state, body) = match body {
            None => {
                shutdown.triggered().await;
                (state, None)
            }
            Some(mut body) => {
                let _pending = svc.core.progress.enter("main");
                tokio::select! {
                    biased;
                    _ = shutdown.triggered() => (None, Some(body)),
                    returned = &mut body => match returned {
                        Ok(state) => {
                            info!(service = %name, phase = "setup", "main returned before the shutdown");
                            shutdown.triggered().await;
                            (Some(Arc::new(state)), None)
                        }
                        Err(outcome) => {
                            error!(service = %name, phase = "setup", %outcome, "main failed while serving");
                            shutdown.trigger_with(Cause::SetupFailed);
                            setup_step = Some(Step {
                                phase: Phase::Setup,
                                name: "main".into(),
                                outcome,
                                elapsed: started.elapsed(),
                                started: Duration::ZERO,
                                note: None,
                            });
                            (None, None)
                        }
                    },
                }
            }
        };
        let Some(body) = body else {
            return Ok(wind_down(&self, &svc.core, state, served, setup_step, None).await);
        };
        // Main's body keeps running (its server serving) through the whole sequence;
        // step 4 waits for its result, and whatever still runs when the sequence ends
        // is dropped with it.
        let (done, result) = tokio::sync::oneshot::channel();
        let drive = async move {
            let _ = done.send(body.await);
            std::future::pending::<std::convert::Infallible>().await
        };
        tokio::select! {
            report = wind_down(&self, &svc.core, state, served, setup_step, Some(result)) => Ok(report),
            never = drive => match never {},
        }
    }

    /// Builds a multi-threaded tokio runtime, installs a tracing subscriber unless
    /// one is set (`RUST_LOG` respected, `info` by default, to stderr), runs the
    /// service and exits the process with the report's exit code. This is what
    /// `#[service]` calls.
    ///
    /// The runtime is never dropped, so a `spawn_blocking` task that never returns
    /// cannot hold the exit.
    pub fn run_and_exit<F, Fut, E>(self, setup: F) -> !
    where
        F: FnOnce(Service) -> Fut,
        Fut: Future<Output = Result<S, E>>,
        E: Display + Debug + Send + Sync + 'static,
    {
        if self.logging {
            logging::init();
        }
        // Before the runtime's threads exist: the variables can be removed soundly.
        crate::os::listen_fds::capture_before_threads();
        let mut runtime = match self.flavor {
            Flavor::MultiThread => {
                let cores = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
                let mut rt = tokio::runtime::Builder::new_multi_thread();
                rt.worker_threads(self.worker_threads.unwrap_or(cores));
                rt
            }
            Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread(),
        };
        let runtime = match runtime.enable_all().build() {
            Ok(rt) => rt,
            Err(e) => exit(&self.name, &ConfigError::Runtime(e)),
        };
        let name = self.name.clone();
        let code = match runtime.block_on(self.run(setup)) {
            Ok(report) => report.exit_code(),
            Err(e) => exit(&name, &e),
        };
        let _ = std::io::stderr().flush();
        std::process::exit(code)
    }
}

/// How long setup may run before a warning says why the service is not ready.
/// At exit, how long the servers may take to answer what is queued and to close
/// their sockets without a reset.
const CLOSE_BOUND: Duration = Duration::from_secs(2);
const SLOW_SETUP: Duration = Duration::from_secs(5);

/// What main's body returns when it served for the life of the service: its state
/// (for the hooks) comes when it returns, after intake close.
type Body<S> = tokio::sync::oneshot::Receiver<Result<S, Outcome>>;

/// The shutdown sequence, step by step, once it has been triggered: inside a
/// `shutdown` span (`service`, `cause`), each step inside a child `step` span.
async fn wind_down<S: Send + Sync + 'static>(
    config: &Config<S>,
    core: &Core,
    state: Option<Arc<S>>,
    served: bool,
    setup_step: Option<Step>,
    body: Option<Body<S>>,
) -> Report {
    let cause = core.shutdown.cause().unwrap_or(Cause::Triggered);
    let span = tracing::info_span!(SHUTDOWN_SPAN, service = %core.name, cause = %cause);
    steps(config, core, state, served, setup_step, body)
        .instrument(span)
        .await
}

async fn steps<S: Send + Sync + 'static>(
    config: &Config<S>,
    core: &Core,
    state: Option<Arc<S>>,
    served: bool,
    setup_step: Option<Step>,
    body: Option<Body<S>>,
) -> Report {
    let service = core.name.as_str();
    let started = Instant::from_std(
        core.shutdown
            .started_at()
            .unwrap_or_else(std::time::Instant::now),
    );
    let deadline = started + config.grace;
    let mut steps: Vec<Step> = setup_step.into_iter().collect();
    // A step ends: its span records the outcome and closes (the metrics are taken
    // there), and the report gets its start from the shutdown's.
    let step = |span: StepSpan, outcome, since: Instant| {
        let mut step = span.finish(outcome);
        step.started = since.saturating_duration_since(started);
        step
    };

    // 1. Readiness turns false: /ready answers 503, systemd hears STOPPING=1.
    let t = Instant::now();
    let span = StepSpan::new(Phase::Readiness, "readiness");
    let entered = span.span().clone().entered();
    core.readiness.set_stopping();
    notify::stopping(config.grace);
    info!(%service,
        phase = "readiness",
        "readiness is false: /ready answers 503"
    );
    if config.tell_clients_to_leave {
        core.leaving
            .store(true, std::sync::atomic::Ordering::SeqCst);
        core.leave.cancel();
        core.in_flight.tell_leave();
    }
    drop(entered);
    steps.push(step(span, Outcome::Ok, t));

    // 1b. Start hooks (leaving service discovery, say), as their graph allows, each
    //     bounded.
    steps.extend(run_hooks(core, config, true, &state, started).await);

    // 2. Drain delay: everything keeps serving while load balancers notice.
    if !config.drain_delay.is_zero() {
        let t = Instant::now();
        let span = StepSpan::new(Phase::DrainDelay, "drain delay");
        if served {
            let _pending = core.progress.enter("drain delay");
            async {
                info!(%service,
                    phase = "drain_delay",
                    delay_ms = config.drain_delay.as_millis() as u64,
                    "still serving while load balancers notice"
                );
                tokio::time::sleep(config.drain_delay).await;
            }
            .instrument(span.span().clone())
            .await;
            steps.push(step(span, Outcome::Ok, t));
        } else {
            let why =
                Outcome::Skipped("the service was never ready, so no traffic was sent here".into());
            steps.push(step(span, why, t));
        }
    }

    // 3. Intake closes: new tracked calls get ShuttingDown, servers stop accepting.
    let t = Instant::now();
    let span = StepSpan::new(Phase::Intake, "intake");
    span.span().in_scope(|| {
        core.in_flight.close();
        info!(%service,
            phase = "intake",
            in_flight = core.in_flight.len(),
            "intake closed"
        );
    });
    let mut intake = step(span, Outcome::Ok, t);
    intake.note = listeners_note(&lock(&core.listeners));
    steps.push(intake);

    // 4. Workers quit, all at once, while calls in flight drain (and main's body, if
    //    main serves, returns): all within what grace leaves after the end hooks'
    //    critical path and the report's half of the margin, so the hooks always get
    //    their time and the report its moment.
    let reserve = config.plan.end_path + Duration::from_millis(crate::graph::MARGIN_MS / 2);
    let budget = deadline
        .checked_sub(reserve)
        .unwrap_or(started)
        .saturating_duration_since(Instant::now());
    core.liveness.workers_quitting();
    core.quit.cancel();
    let running = std::mem::take(&mut *lock(&core.workers));
    let stop_workers = join_all(running.into_iter().map(|worker| async move {
        let t = Instant::now();
        let _pending = core.progress.enter(format!("worker {}", worker.name));
        let name = worker.name.clone();
        let span = StepSpan::new(Phase::Worker, &name);
        let outcome = async {
            let outcome = worker.stop(budget).await;
            log_step(service, Phase::Worker, &name, &outcome);
            outcome
        }
        .instrument(span.span().clone())
        .await;
        step(span, outcome, t)
    }));
    let drain = async {
        let t = Instant::now();
        let _pending = core.progress.enter("in-flight calls");
        let span = StepSpan::new(Phase::InFlight, "in-flight calls");
        let outcome = async {
            match tokio::time::timeout(budget, core.in_flight.wait()).await {
                Ok(()) => Outcome::Ok,
                Err(_) => {
                    warn!(%service,
                        phase = "in_flight",
                        still = core.in_flight.len(),
                        budget_ms = budget.as_millis() as u64,
                        "calls still in flight: leaving them so the hooks get their time"
                    );
                    Outcome::TimedOut(budget)
                }
            }
        }
        .instrument(span.span().clone())
        .await;
        step(span, outcome, t)
    };
    let main_body = async {
        let body = body?;
        let t = Instant::now();
        let _pending = core.progress.enter("main");
        let span = StepSpan::new(Phase::Setup, "main");
        let (state, outcome) = async {
            let ended = match tokio::time::timeout(budget, body).await {
                Ok(Ok(Ok(state))) => (Some(Arc::new(state)), Outcome::Ok),
                Ok(Ok(Err(outcome))) => (None, outcome),
                Ok(Err(_)) => (None, Outcome::Failed("main's body was dropped".into())),
                Err(_) => (None, Outcome::TimedOut(budget)),
            };
            log_step(service, Phase::Setup, "main", &ended.1);
            ended
        }
        .instrument(span.span().clone())
        .await;
        Some((state, step(span, outcome, t)))
    };
    let (worker_steps, drain_step, main_body) = tokio::join!(stop_workers, drain, main_body);
    steps.extend(worker_steps);
    steps.push(drain_step);
    let state = match main_body {
        Some((body_state, main_step)) => {
            steps.push(main_step);
            body_state.or(state)
        }
        None => state,
    };

    // 5. End hooks, each as soon as the hooks it runs after have ended (`order` is a
    //    chain, `after` names them), each bounded by its timeout; a failure never
    //    stops the hooks after it.
    steps.extend(run_hooks(core, config, false, &state, started).await);

    // 6. The report: logged, handed back, and the watchdog stands down.
    // Servers close their listeners: what is queued is answered, closing sockets
    // linger; a moment at most, within grace.
    core.finished.cancel();
    core.closing.close();
    let moment = deadline
        .saturating_duration_since(Instant::now())
        .min(CLOSE_BOUND);
    if tokio::time::timeout(moment, core.closing.wait())
        .await
        .is_err()
    {
        debug!(%service, phase = "finish", "sockets still closing at exit");
    }
    core.shutdown.watchdog().finish();
    let report = Report {
        service: service.to_owned(),
        cause: core.shutdown.cause().unwrap_or(Cause::Triggered),
        steps,
        total: started.elapsed(),
    };
    report.log();
    crate::settings::write_termination_log(service, &report.summary());
    crate::metrics::shutdown_completed(report.is_clean());
    report
}

/// Runs the start or the end hooks as their graph says: every hook starts once the
/// hooks it waits for have ended (whatever their outcome), so hooks with no path
/// between them run concurrently. The steps come back in the order they ended.
async fn run_hooks<S: Send + Sync + 'static>(
    core: &Core,
    config: &Config<S>,
    at_start: bool,
    state: &Option<Arc<S>>,
    since: Instant,
) -> Vec<Step> {
    let ended: Vec<CancellationToken> = config
        .hooks
        .iter()
        .map(|_| CancellationToken::new())
        .collect();
    let ended = &ended;
    let mut running: FuturesUnordered<_> = (config.hooks.iter().enumerate())
        .filter(|(_, h)| h.at_start == at_start)
        .map(|(i, hook)| async move {
            for &dep in &config.plan.deps[i] {
                ended[dep].cancelled().await;
            }
            let step = run_hook(core, hook, state, since).await;
            ended[i].cancel();
            step
        })
        .collect();
    let mut steps = Vec::new();
    while let Some(step) = running.next().await {
        steps.push(step);
    }
    steps
}

/// Runs one hook bounded by its timeout, logged and named as pending meanwhile.
async fn run_hook<S: Send + Sync + 'static>(
    core: &Core,
    hook: &HookSpec<S>,
    state: &Option<Arc<S>>,
    since: Instant,
) -> Step {
    let t = Instant::now();
    let started = t.saturating_duration_since(since);
    let _pending = core.progress.enter(format!("hook {}", hook.name));
    let span = StepSpan::new(Phase::Hook, &hook.name);
    let outcome = run_hook_in_span(core, hook, state, started)
        .instrument(span.span().clone())
        .await;
    let mut step = span.finish(outcome);
    step.started = started;
    step
}

async fn run_hook_in_span<S: Send + Sync + 'static>(
    core: &Core,
    hook: &HookSpec<S>,
    state: &Option<Arc<S>>,
    started: Duration,
) -> Outcome {
    let service = core.name.as_str();
    let at = if hook.at_start { "start" } else { "end" };
    // `after` only where the hook has one (an absent field, not an empty one).
    let after: Vec<&str> = hook.after.iter().map(|(_, name)| name.as_str()).collect();
    let after = (!after.is_empty()).then(|| after.join(", "));
    info!(%service, phase = "hook", hook = %hook.name, order = hook.order, at, after = after.as_deref(),
        timeout_ms = hook.timeout.as_millis() as u64, started_ms = started.as_millis() as u64, "hook started");
    let outcome = hooks::run_one(&hook.hook, state.clone(), hook.timeout).await;
    log_step(service, Phase::Hook, &hook.name, &outcome);
    outcome
}

/// How the tracked servers' listeners close at intake, for the report.
fn listeners_note(listeners: &[(String, bool)]) -> Option<String> {
    if listeners.is_empty() {
        return None;
    }
    let each: Vec<String> = (listeners.iter())
        .map(|(addr, inherited)| match inherited {
            true => format!("{addr} inherited: queue left to the successor"),
            false => format!("{addr} bound: queue answered 503"),
        })
        .collect();
    Some(format!("listeners {}", each.join("; ")))
}

fn log_step(service: &str, phase: Phase, name: &str, outcome: &Outcome) {
    let phase = phase.as_str();
    if outcome.is_failure() {
        error!(%service, phase, step = name, %outcome, "step failed");
    } else {
        info!(%service, phase, step = name, %outcome, "step done");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());

    struct App {
        name: &'static str,
    }

    async fn close(app: &App) -> Result<(), std::io::Error> {
        LOG.lock().unwrap().push(format!("close {}", app.name));
        Ok(())
    }

    async fn flush() -> Result<(), String> {
        LOG.lock().unwrap().push("flush".into());
        Err("collector unreachable".into())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn run_returns_the_report_as_a_value() {
        let report = Service::builder("unit")
            .grace(Duration::from_secs(20))
            .signals([])
            .on_shutdown("flush", 2, Duration::from_secs(1), flush)
            .on_shutdown("close", 1, Duration::from_secs(1), close)
            .run(|svc| async move {
                let call = svc.track(tokio::time::sleep(Duration::from_millis(100)));
                tokio::spawn(call);
                svc.shutdown().trigger();
                Ok::<_, std::io::Error>(App { name: "app" })
            })
            .await
            .unwrap();
        assert_eq!(*LOG.lock().unwrap(), ["close app", "flush"]);
        assert_eq!(report.cause, Cause::Triggered);
        assert_eq!(report.exit_code(), 1);
        assert_eq!(
            report.step(Phase::Hook, "flush").unwrap().outcome,
            Outcome::Failed("collector unreachable".into())
        );
        assert_eq!(
            report.step(Phase::Hook, "close").unwrap().outcome,
            Outcome::Ok
        );
        let drained = report.step(Phase::InFlight, "in-flight calls").unwrap();
        assert_eq!(drained.outcome, Outcome::Ok);
        assert!(drained.elapsed >= Duration::from_millis(50), "{report}");
        let text = report.to_string();
        assert!(
            text.starts_with("shutdown of unit (trigger() called)"),
            "{text}"
        );
    }
}
