//! `stall` on both kinds of worker, `Quit::heartbeat`, and every restart setting.
use winddown::{Quit, worker};

#[worker(every = "5s", stall = "1m")]
struct Poller;

impl Poller {
    async fn tick(&mut self) {}
}

#[worker(critical, stall = "30s", restart = "on-failure", backoff = "500ms",
         max_backoff = "30s", max_restarts = 5, restart_window = "10m")]
struct Consumer;

impl Consumer {
    async fn run(&mut self, quit: Quit) -> Result<(), std::io::Error> {
        loop {
            tokio::select! {
                _ = quit.cancelled() => return Ok(()),
                _ = tokio::time::sleep(std::time::Duration::from_millis(10)) => quit.heartbeat(),
            }
        }
    }
}

#[worker(restart = "never")]
struct Once;

impl Once {
    async fn run(&mut self, quit: Quit) {
        quit.cancelled().await;
    }
}

fn main() {
    let _ = (Poller, Consumer, Once);
}
