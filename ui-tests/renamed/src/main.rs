//! winddown under another name, `wd` (and re-exported as `facade::engine`): with
//! `crate = ".."` every attribute expands to paths that exist here. `::winddown`
//! does not resolve in this crate, so one missed path fails the build.

/// A re-export, as a company's service kit would do it.
mod facade {
    pub use wd as engine;
}

use wd::Service;

#[wd::worker(every = "20ms", stop_timeout = "1s", crate = "wd")]
struct Ticker;

impl Ticker {
    async fn tick(&mut self) {}
}

#[wd::on_shutdown(order = 1, timeout = "1s", crate = "::wd")]
async fn flush() {
    println!("hook flush ran");
}

#[wd::on_shutdown(timeout = "1s", after = [flush], crate = "crate::facade::engine")]
async fn close() {
    println!("hook close ran");
}

#[wd::handler(crate = "crate::facade::engine")]
async fn work() -> Result<u32, wd::ShuttingDown> {
    Ok(7)
}

#[wd::service(name = "renamed", grace = "5s", crate = "wd", on_shutdown = [flush, close])]
async fn main(svc: Service) {
    svc.spawn_worker(Ticker);
    println!("handler answered {:?}", work().await);
    svc.shutdown().trigger();
}
