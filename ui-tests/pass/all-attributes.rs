//! Every attribute in its usual form; the hooks live in another module.
use winddown::{Quit, Service, ShuttingDown, handler, on_shutdown, service, worker};

#[derive(Clone)]
struct Db;

impl Db {
    async fn close(&self) -> anyhow::Result<()> {
        Ok(())
    }
}

struct App {
    db: Db,
}

#[worker(every = "5s", stop_timeout = "2s")]
struct Cleanup {
    db: Db,
}

impl Cleanup {
    async fn tick(&mut self) -> anyhow::Result<()> {
        let _ = &self.db;
        Ok(())
    }
}

#[worker(critical, name = "consumer")]
struct Consumer;

impl Consumer {
    async fn run(&mut self, quit: Quit) {
        quit.cancelled().await;
    }
}

mod db {
    use super::App;

    #[winddown::on_shutdown(order = 1, timeout = "25s")]
    pub async fn close_db(app: &App) -> anyhow::Result<()> {
        app.db.close().await
    }
}

#[on_shutdown(order = 2, timeout = "2s")]
async fn flush_telemetry() {}

#[on_shutdown(order = 0, timeout = "1s", at = "start")]
async fn leave_discovery(_app: &App) {}

#[handler]
async fn get_user(id: u32) -> Result<u32, ShuttingDown> {
    Ok(id)
}

#[service(
    name = "myservice",
    grace = "40s",
    drain_delay = "0s",
    probes = "127.0.0.1:0",
    signals = ["SIGTERM", "SIGINT"],
    on_shutdown = [db::close_db, flush_telemetry, leave_discovery]
)]
async fn main(svc: Service) -> anyhow::Result<App> {
    let db = Db;
    svc.spawn_worker(Cleanup { db: db.clone() });
    svc.spawn_worker(Consumer);
    assert_eq!(get_user(7).await?, 7);
    // The hook stays callable as written.
    let _ = flush_telemetry;
    svc.shutdown().trigger();
    Ok(App { db })
}
