//! What counting a call in flight costs: `InFlight::track` and `winddown::track`
//! (what `#[handler]` uses) against a bare async call and against tokio-util's
//! `TaskTracker::track_future`, in the same run; uncontended, and with two threads
//! contending on one tracker. Futures are polled by hand with a no-op waker, so the
//! figures are the tracking's own cost, not an executor's.
//!
//! After criterion's cases, an interleaved run: rounds alternating the baseline
//! (`TaskTracker::track_future`) and each winddown case, per-call time each, the
//! ratio per round (winddown / baseline, below 1 is faster), reported as the median
//! with its spread.
//!
//! `cargo bench -p winddown --bench track`

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
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

/// Nanoseconds per call of `call`, made `n` times on each of `threads` threads at
/// once.
fn per_call(threads: usize, n: u64, call: &(dyn Fn() -> u64 + Sync)) -> f64 {
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for _ in 0..n {
                    black_box(call());
                }
            });
        }
    });
    // Amortized over every call made, as the criterion cases above.
    start.elapsed().as_nanos() as f64 / (n as f64 * threads as f64)
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn spread(v: &[f64], digits: usize) -> String {
    let lo = v.iter().copied().fold(f64::MAX, f64::min);
    let hi = v.iter().copied().fold(f64::MIN, f64::max);
    format!("{lo:.digits$}..{hi:.digits$}")
}

/// Each winddown case against `TaskTracker::track_future` in alternating rounds.
fn interleaved() {
    const ROUNDS: usize = 21;
    const CALLS: u64 = 2_000_000;
    let in_flight = InFlight::new();
    let tracker = TaskTracker::new();
    let baseline = || poll_once(tracker.track_future(work(black_box(1))));
    let track = || poll_once(in_flight.track(work(black_box(1)))).unwrap();
    let handler = || poll_once(winddown::track(work(black_box(1)))).unwrap();
    let cases: [(&str, usize, &(dyn Fn() -> u64 + Sync)); 3] = [
        ("InFlight::track, 1 thread", 1, &track),
        (
            "winddown::track (#[handler], service running), 1 thread",
            1,
            &handler,
        ),
        ("InFlight::track, 2 threads contending", 2, &track),
    ];
    winddown::__private::set_current(Some(InFlight::new()));
    println!(
        "\ninterleaved, {ROUNDS} rounds of {CALLS} calls per thread, against TaskTracker::track_future:"
    );
    for (name, threads, case) in cases {
        let (mut ours, mut theirs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..ROUNDS {
            let (o, t) = if round % 2 == 0 {
                let o = per_call(threads, CALLS, case);
                (o, per_call(threads, CALLS, &baseline))
            } else {
                let t = per_call(threads, CALLS, &baseline);
                (per_call(threads, CALLS, case), t)
            };
            ours.push(o);
            theirs.push(t);
            ratios.push(o / t);
        }
        println!(
            "  {name}: {:.1} ns (spread {}) against {:.1} ns (spread {}); ratio median {:.3}, spread {}",
            median(&ours),
            spread(&ours, 1),
            median(&theirs),
            spread(&theirs, 1),
            median(&ratios),
            spread(&ratios, 3),
        );
    }
    winddown::__private::set_current(None);
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500));
    targets = uncontended, contended
}

fn main() {
    benches();
    interleaved();
    Criterion::default().configure_from_args().final_summary();
}
