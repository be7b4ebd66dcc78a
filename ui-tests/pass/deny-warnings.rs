//! The expansions raise no warning under `#![deny(warnings)]`, hooks keep their
//! visibility across modules, and handlers work as methods.
#![deny(warnings, missing_docs, unused, nonstandard_style)]

use winddown::{Quit, Service, handler, service, worker};

/// Application state.
pub struct App;

/// Errors of the app.
#[derive(Debug)]
pub enum AppError {
    /// Refused during shutdown.
    ShuttingDown,
}

impl From<winddown::ShuttingDown> for AppError {
    fn from(_: winddown::ShuttingDown) -> Self {
        AppError::ShuttingDown
    }
}

/// Hooks, in their own module.
pub mod hooks {
    /// Closes the database.
    #[winddown::on_shutdown(order = 10, timeout = "5s")]
    pub async fn close_db(_app: &super::App) -> anyhow::Result<()> {
        Ok(())
    }

    /// Crate-visible hook.
    #[winddown::on_shutdown(order = 20, timeout = "1s")]
    pub(crate) async fn flush() {}
}

/// A periodic worker with generics.
#[worker(every = "1s")]
pub struct Poller<T: Send + 'static> {
    /// Its state.
    pub state: T,
}

impl<T: Send + 'static> Poller<T> {
    async fn tick(&mut self) -> Result<(), std::io::Error> {
        Ok(())
    }
}

/// A loop-owning worker.
#[worker(name = "listener", stop_timeout = "1s")]
pub struct Listener;

impl Listener {
    async fn run(&mut self, quit: Quit) -> anyhow::Result<()> {
        quit.cancelled().await;
        Ok(())
    }
}

/// Handlers on a type.
pub struct Api;

impl Api {
    /// A handler taking `&self`, using `?` inside.
    #[handler]
    pub async fn get(&self, id: &str) -> Result<u32, AppError> {
        let n: u32 = id.parse().map_err(|_| AppError::ShuttingDown)?;
        Ok(n)
    }
}

#[service(name = "strict", grace = "10s", on_shutdown = [hooks::close_db, hooks::flush])]
async fn main(svc: Service) -> anyhow::Result<App> {
    svc.spawn_worker(Poller { state: 1u8 });
    svc.spawn_worker(Listener);
    assert_eq!(Api.get("5").await.ok(), Some(5));
    svc.shutdown().trigger();
    Ok(App)
}
