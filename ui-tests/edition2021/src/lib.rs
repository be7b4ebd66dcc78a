//! The four attributes in an edition 2021 crate: this crate compiles under
//! `#![deny(warnings)]`, and CI runs clippy on it with `-D warnings`, so an
//! expansion that warned or tripped a lint would fail the build.
#![deny(warnings, missing_docs, clippy::all)]

use winddown::{handler, on_shutdown, service, worker, Quit, Service};

/// The state.
pub struct App {
    /// A counter.
    pub n: u32,
}

/// Closes things.
#[on_shutdown(order = 1, timeout = "2s")]
pub async fn close(app: &App) -> anyhow::Result<()> {
    anyhow::ensure!(app.n < 10, "too many");
    Ok(())
}

/// Flushes things.
#[on_shutdown(order = 2, timeout = "500ms")]
pub async fn flush() {}

/// Ticks.
#[worker(every = "100ms", stop_timeout = "1s")]
pub struct Ticker;

impl Ticker {
    async fn tick(&mut self) {}
}

/// Loops.
#[worker(critical)]
pub struct Looper;

impl Looper {
    async fn run(&mut self, quit: Quit) {
        quit.cancelled().await;
    }
}

/// Handles.
#[handler]
pub async fn double(n: u32) -> anyhow::Result<u32> {
    Ok(n * 2)
}

/// The entry point, under another name than `main`: `run()` blocks and exits.
#[service(name = "edition2021", grace = "5s", probes = "127.0.0.1:0", on_shutdown = [close, flush])]
pub async fn run(svc: Service) -> anyhow::Result<App> {
    svc.spawn_worker(Ticker);
    svc.spawn_worker(Looper);
    let n = double(2).await?;
    Ok(App { n })
}
