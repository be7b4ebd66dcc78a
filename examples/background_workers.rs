//! The seed's "Background Workers": a worker that does one unit of work every five
//! seconds and stops when told, within a timeout.
//!
//! The Go version needs a quit channel, a done channel, a ticker, a select loop, and
//! a Stop method that can be called twice and panic. Here a periodic worker is a
//! struct with a `tick`; a worker that owns its loop gets a `Quit` it cannot misuse.
//! A tick in progress finishes; an idle worker stops at once; one past its
//! `stop_timeout` is aborted and reported. `cargo run --example background_workers`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use winddown::{Quit, Service, service, worker};

/// The seed's worker: `doWork` every 5 seconds.
#[worker(every = "5s", stop_timeout = "5s")]
struct Cleanup {
    runs: u64,
}

impl Cleanup {
    async fn tick(&mut self) -> anyhow::Result<()> {
        self.runs += 1;
        tracing::info!(runs = self.runs, "cleanup: one unit of work");
        Ok(())
    }
}

/// A worker that owns its loop: drains a queue until told to quit.
#[worker(name = "queue", stop_timeout = "2s")]
struct QueueConsumer {
    handled: Arc<AtomicU64>,
}

impl QueueConsumer {
    async fn run(&mut self, quit: Quit) {
        let mut next = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                _ = quit.cancelled() => break,
                _ = next.tick() => {
                    self.handled.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        let handled = self.handled.load(Ordering::Relaxed);
        tracing::info!(handled, "queue consumer stopping");
    }
}

#[service(name = "background_workers", probes = winddown::listen_addr("probes", "127.0.0.1:8081"))]
async fn main(svc: Service) {
    svc.spawn_worker(Cleanup { runs: 0 });
    svc.spawn_worker(QueueConsumer {
        handled: Arc::default(),
    });
    if let Some(probes) = svc.probes_addr() {
        println!("probes on http://{probes}");
    }
}
