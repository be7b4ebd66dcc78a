//! When main keeps running: a setup that serves (`axum::serve(..).await` or
//! `svc.serve(..).await` inside `main`) is the service's *body*. It becomes ready by
//! [`Service::ready`](crate::Service::ready) or by waiting for
//! [`Service::intake_closed`](crate::Service::intake_closed) created in main, and
//! the sequence drains it in step 4 like a call in flight.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tokio_util::sync::WaitForCancellationFutureOwned;

use crate::service::Core;

tokio::task_local! {
    /// Set while the setup future of the service at this address is polled.
    static SETUP: usize;
}

fn id(core: &Core) -> usize {
    std::ptr::from_ref(core) as usize
}

/// Polls `setup` marked as the setup of `core`.
pub(crate) fn scope<F: Future>(core: &Core, setup: F) -> impl Future<Output = F::Output> {
    SETUP.scope(id(core), setup)
}

/// Whether the caller runs inside the setup (main's body) of `core`.
pub(crate) fn in_setup_of(core: &Core) -> bool {
    SETUP.try_with(|setup| *setup == id(core)).unwrap_or(false)
}

pin_project! {
    /// Completes when intake closes (step 3): the moment a server stops accepting.
    /// Owned, `Send` and `'static`, so it can be handed to a server as its
    /// graceful-shutdown signal:
    ///
    /// ```no_run
    /// # async fn demo(svc: winddown::Service) {
    /// // In main: with axum, `axum::serve(listener, app)
    /// //     .with_graceful_shutdown(svc.intake_closed()).await` is ready once it
    /// // serves and keeps serving through the drain delay. By hand:
    /// let intake = svc.intake_closed();
    /// tokio::select! {
    ///     _ = intake => {}                              // stop accepting
    ///     _ = std::future::pending::<()>() => {}        // the accept loop
    /// }
    /// # }
    /// ```
    ///
    /// Created in main's body (the setup of `#[service]`), waiting on it tells winddown
    /// that main now serves until intake closes: the service turns ready then.
    #[must_use = "futures do nothing unless polled"]
    pub struct IntakeClosed {
        #[pin]
        closed: WaitForCancellationFutureOwned,
        // Set when created in main: marks the service ready at the first poll.
        serving: Option<Arc<Core>>,
    }
}

impl IntakeClosed {
    pub(crate) fn new(core: &Arc<Core>) -> Self {
        IntakeClosed {
            closed: core.in_flight.closed_owned(),
            serving: in_setup_of(core).then(|| core.clone()),
        }
    }
}

impl Future for IntakeClosed {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        if let Some(core) = this.serving.take() {
            core.mark_ready("main serves until intake closes");
        }
        this.closed.poll(cx)
    }
}
