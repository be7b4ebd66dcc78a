//! What counting a call in flight costs: `InFlight::track` and `winddown::track`
//! (what `#[handler]` uses) against a bare async call and against tokio-util's
//! `TaskTracker::track_future`, in the same run; uncontended, and with two threads
//! contending on one tracker. Futures are polled by hand with a no-op waker, so the
//! figures are the tracking's own cost, not an executor's.
//!
//! `cargo bench -p winddown --bench track`

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use tokio_util::task::TaskTracker;
use winddown::InFlight;

fn poll_once<F: Future>(fut: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(fut).poll(&mut cx) {
        Poll::Ready(out) => out,
        Poll::Pending => unreachable!("the benchmarked futures are ready at once"),
    }
}

async fn work(x: u64) -> u64 {
    black_box(x) + 1
}

fn uncontended(c: &mut Criterion) {
    let mut g = c.benchmark_group("track/1 thread");
    let in_flight = InFlight::new();
    let tracker = TaskTracker::new();
    g.bench_function("bare async call", |b| {
        b.iter(|| poll_once(work(black_box(1))))
    });
    g.bench_function("TaskTracker::track_future", |b| {
        b.iter(|| poll_once(tracker.track_future(work(black_box(1)))))
    });
    g.bench_function("InFlight::track", |b| {
        b.iter(|| poll_once(in_flight.track(work(black_box(1)))).unwrap())
    });
    g.bench_function("InFlight::enter, guard dropped", |b| {
        b.iter(|| drop(black_box(in_flight.enter().unwrap())))
    });
    g.bench_function("winddown::track (no service)", |b| {
        b.iter(|| poll_once(winddown::track(work(black_box(1)))).unwrap())
    });
    winddown::__private::set_current(Some(InFlight::new()));
    g.bench_function("winddown::track (#[handler], service running)", |b| {
        b.iter(|| poll_once(winddown::track(work(black_box(1)))).unwrap())
    });
    winddown::__private::set_current(None);
    g.finish();
}

/// Two threads, each making `iters` calls on one shared tracker; time per call.
fn contended_run(iters: u64, call: impl Fn() -> u64 + Sync) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..iters {
                    black_box(call());
                }
            });
        }
    });
    start.elapsed() / 2
}

fn contended(c: &mut Criterion) {
    let mut g = c.benchmark_group("track/2 threads");
    let in_flight = InFlight::new();
    let tracker = TaskTracker::new();
    g.bench_function("bare async call", |b| {
        b.iter_custom(|n| contended_run(n, || poll_once(work(1))))
    });
    g.bench_function("TaskTracker::track_future", |b| {
        b.iter_custom(|n| contended_run(n, || poll_once(tracker.track_future(work(1)))))
    });
    g.bench_function("InFlight::track", |b| {
        b.iter_custom(|n| contended_run(n, || poll_once(in_flight.track(work(1))).unwrap()))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500));
    targets = uncontended, contended
}
criterion_main!(benches);
