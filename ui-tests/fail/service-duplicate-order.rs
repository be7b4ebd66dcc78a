use winddown::{on_shutdown, service};

mod db {
    #[winddown::on_shutdown(order = 2, timeout = "5s")]
    pub async fn close_db() {}
}

#[on_shutdown(order = 2, timeout = "1s")]
async fn flush_telemetry() {}

#[service(name = "svc", on_shutdown = [db::close_db, flush_telemetry])]
async fn main() {}
