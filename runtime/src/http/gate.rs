//! A connection's shutdown signals, polled only when one of them woke its task.
//!
//! A connection's task is woken for every read and write, and a `select!` over the
//! connection and its signals polls every signal on every wakeup. The signals are
//! shared by all connections of a service (a `CancellationToken` locks its tree's
//! mutex on each poll, a `Notify` its waiter list), so two threads serving busy
//! connections fought over those locks on every request. Behind a [`Gate`] the
//! signals get a waker of their own: they are polled once when armed and then only
//! after that waker fired, and a wakeup for I/O polls the connection alone.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;
use http_body_util::Either;

/// The waker the signals are polled with: it marks them due, then wakes the task.
pub(crate) struct Gate {
    due: AtomicBool,
    task: AtomicWaker,
}

impl Wake for Gate {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.due.store(true, Ordering::Release);
        self.task.wake();
    }
}

/// A connection future and a gate for its signals.
pub(crate) struct Gated {
    gate: Arc<Gate>,
    waker: Waker,
}

impl Gated {
    pub(crate) fn new() -> Self {
        let gate = Arc::new(Gate {
            due: AtomicBool::new(true),
            task: AtomicWaker::new(),
        });
        Gated {
            waker: Waker::from(gate.clone()),
            gate,
        }
    }

    /// Runs `conn` until it ends (`Left`) or `signal` completes (`Right`); `signal`
    /// is a new future, polled first at once, then only when it woke the task.
    pub(crate) async fn first<C: Future + ?Sized, S: Future>(
        &self,
        mut conn: Pin<&mut C>,
        signal: S,
    ) -> Either<C::Output, S::Output> {
        let mut signal = std::pin::pin!(signal);
        self.gate.due.store(true, Ordering::Relaxed);
        std::future::poll_fn(|cx| {
            if let Poll::Ready(out) = conn.as_mut().poll(cx) {
                return Poll::Ready(Either::Left(out));
            }
            // Registered before the flag is taken: a signal that fires after the
            // swap below wakes this task again.
            self.gate.task.register(cx.waker());
            if self.gate.due.swap(false, Ordering::AcqRel)
                && let Poll::Ready(out) =
                    signal.as_mut().poll(&mut Context::from_waker(&self.waker))
            {
                return Poll::Ready(Either::Right(out));
            }
            Poll::Pending
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// A signal counts its polls; the connection is woken often.
    #[tokio::test]
    async fn signals_are_polled_when_they_wake_not_on_every_io_wakeup() {
        let polls = AtomicUsize::new(0);
        let notify = Arc::new(tokio::sync::Notify::new());
        let signal = async {
            polls.fetch_add(1, Ordering::Relaxed);
            let mut notified = std::pin::pin!(notify.notified());
            std::future::poll_fn(|cx| {
                polls.fetch_add(1, Ordering::Relaxed);
                notified.as_mut().poll(cx)
            })
            .await;
            "signal"
        };
        // A "connection" that wakes itself 100 times, then never ends.
        let mut left = 100;
        let mut conn = std::pin::pin!(std::future::poll_fn(|cx| {
            if left > 0 {
                left -= 1;
                cx.waker().wake_by_ref();
            } else if left == 0 {
                left = -1;
                notify.notify_one();
            }
            Poll::<()>::Pending
        }));
        let gated = Gated::new();
        let out = gated.first(conn.as_mut(), signal).await;
        assert!(matches!(out, Either::Right("signal")));
        // Polled when armed and once when notified: not 100 more times.
        assert!(polls.load(Ordering::Relaxed) <= 4, "{polls:?}");
    }

    #[tokio::test]
    async fn a_connection_that_ends_wins() {
        let gated = Gated::new();
        let conn = std::pin::pin!(async { 7 });
        let out = gated.first(conn, std::future::pending::<()>()).await;
        assert!(matches!(out, Either::Left(7)));
    }
}
