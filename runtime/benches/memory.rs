//! Memory: bytes allocated per registered worker, and per call counted in flight,
//! measured with a counting allocator. `cargo bench -p winddown --bench memory`

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use winddown::{InFlight, Service, Worker};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

fn main() {
    const CALLS: usize = 10_000;
    let in_flight = InFlight::new();
    let before = live();
    let guards: Vec<_> = (0..CALLS).map(|_| in_flight.enter().unwrap()).collect();
    let per_call =
        (live() - before) as f64 / CALLS as f64 - std::mem::size_of_val(&guards[0]) as f64;
    println!(
        "tracked call in flight: {} bytes of guard on the caller's stack, {per_call:.1} bytes on the heap",
        std::mem::size_of_val(&guards[0])
    );
    drop(guards);

    const WORKERS: usize = 1_000;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        Service::builder::<()>("memory")
            .signals([])
            .run(|svc| async move {
                let before = live();
                for i in 0..WORKERS {
                    let w = Worker::every_fn(format!("w{i}"), Duration::from_secs(3600), || async {});
                    svc.spawn_worker(w);
                }
                tokio::task::yield_now().await;
                let used = (live() - before) as f64 / WORKERS as f64;
                println!("registered worker: {used:.0} bytes on the heap each (task, timer, name, quit token)");
                svc.shutdown().trigger();
                Ok::<_, std::io::Error>(())
            })
            .await
            .unwrap();
    });
}
