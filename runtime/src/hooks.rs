//! `on_shutdown` hooks: what they may look like, and how one runs bounded by its timeout.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::time::Instant;

use crate::report::Outcome;
use crate::report::{IntoOutcome, panic_message};

tokio::task_local! {
    static DEADLINE: Instant;
}

/// When the running `on_shutdown` hook will be cut off, so it can stop taking new
/// work and close in time. `None` outside a hook (and in tasks a hook spawns).
///
/// ```
/// async fn close_pool() -> Result<(), std::io::Error> {
///     if let Some(deadline) = winddown::deadline() {
///         let left = deadline.saturating_duration_since(tokio::time::Instant::now());
///         // e.g. give the pool `left` minus a margin to return its connections
///         let _ = left;
///     }
///     Ok(())
/// }
/// ```
pub fn deadline() -> Option<Instant> {
    DEADLINE.try_with(|d| *d).ok()
}

/// Something that can be an `on_shutdown` hook for a service whose state is `S`:
/// an `async fn` (or closure returning a future) taking nothing or `&S`, returning
/// `()` or `Result<(), E>`.
///
/// `M` only tells the two forms apart; it is inferred.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an `on_shutdown` hook for state `{S}`",
    label = "not a hook",
    note = "a hook is an `async fn` taking nothing or `&{S}`, returning `()` or `Result<(), E>`; closures must be `Send + Sync + 'static`"
)]
pub trait IntoHook<S, M>: Send + Sync + 'static {
    #[doc(hidden)]
    fn into_hook(self) -> Hook<S>;
}

/// A hook ready to run, erased over its form. Built by [`IntoHook`].
pub struct Hook<S> {
    f: Arc<dyn ErasedHook<S>>,
}

impl<S> Clone for Hook<S> {
    fn clone(&self) -> Self {
        Hook { f: self.f.clone() }
    }
}

trait ErasedHook<S>: Send + Sync {
    /// `None` when the hook needs the state and there is none (setup failed).
    fn call<'a>(&'a self, state: Option<&'a S>) -> Option<BoxFuture<'a, Result<(), String>>>;
}

#[doc(hidden)]
pub struct NoArgs;

#[doc(hidden)]
pub struct WithState;

struct NoArgsHook<F>(F);

impl<S, F, Fut> ErasedHook<S> for NoArgsHook<F>
where
    F: Fn() -> Fut + Send + Sync,
    Fut: Future + Send + 'static,
    Fut::Output: IntoOutcome,
{
    fn call<'a>(&'a self, _: Option<&'a S>) -> Option<BoxFuture<'a, Result<(), String>>> {
        let fut = (self.0)();
        Some(Box::pin(async move { fut.await.into_outcome() }))
    }
}

impl<S, F, Fut> IntoHook<S, NoArgs> for F
where
    S: 'static,
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: IntoOutcome,
{
    fn into_hook(self) -> Hook<S> {
        Hook {
            f: Arc::new(NoArgsHook(self)),
        }
    }
}

/// A function from `&'a S` to a future that may borrow it (what an
/// `async fn hook(state: &S)` is). Implemented for every such function.
#[doc(hidden)]
pub trait RefFn<'a, S: 'a> {
    type Fut: Future<Output = Self::Output> + Send + 'a;
    type Output: IntoOutcome;
    fn call(&self, state: &'a S) -> Self::Fut;
}

impl<'a, S: 'a, F, Fut> RefFn<'a, S> for F
where
    F: Fn(&'a S) -> Fut,
    Fut: Future + Send + 'a,
    Fut::Output: IntoOutcome,
{
    type Fut = Fut;
    type Output = Fut::Output;
    fn call(&self, state: &'a S) -> Fut {
        self(state)
    }
}

struct StateHook<F>(F);

impl<S, F> ErasedHook<S> for StateHook<F>
where
    S: Sync,
    F: for<'a> RefFn<'a, S> + Send + Sync,
{
    fn call<'a>(&'a self, state: Option<&'a S>) -> Option<BoxFuture<'a, Result<(), String>>> {
        let fut = self.0.call(state?);
        Some(Box::pin(async move { fut.await.into_outcome() }))
    }
}

impl<S, F> IntoHook<S, WithState> for F
where
    S: Sync + 'static,
    F: for<'a> RefFn<'a, S> + Send + Sync + 'static,
{
    fn into_hook(self) -> Hook<S> {
        Hook {
            f: Arc::new(StateHook(self)),
        }
    }
}

/// Runs one hook as its own task, bounded by `timeout`. A panic is caught; a hook
/// that blocks its thread is abandoned at the timeout (the watchdog covers the rest).
pub(crate) async fn run_one<S: Send + Sync + 'static>(
    hook: &Hook<S>,
    state: Option<Arc<S>>,
    timeout: Duration,
) -> Outcome {
    let hook = hook.clone();
    let deadline = Instant::now() + timeout;
    // The hook's own log lines belong to its step's span.
    let mut task = tokio::spawn(tracing::Instrument::in_current_span(DEADLINE.scope(
        deadline,
        async move {
            match hook.f.call(state.as_deref()) {
                Some(fut) => Some(fut.await),
                None => None,
            }
        },
    )));
    match tokio::time::timeout_at(deadline, &mut task).await {
        Ok(Ok(Some(Ok(())))) => Outcome::Ok,
        Ok(Ok(Some(Err(e)))) => Outcome::Failed(e),
        Ok(Ok(None)) => {
            Outcome::Skipped("it takes the state, and setup did not produce one".into())
        }
        Ok(Err(join)) if join.is_panic() => Outcome::Panicked(panic_message(&*join.into_panic())),
        Ok(Err(_)) => Outcome::Failed("the hook's task was cancelled".into()),
        Err(_) => {
            task.abort();
            Outcome::TimedOut(timeout)
        }
    }
}
