use winddown::{on_shutdown, service};

#[on_shutdown(timeout = "5s", after = [flush_cache])]
async fn close_db() {}

#[on_shutdown(timeout = "1s", after = [close_db])]
async fn flush_cache() {}

#[on_shutdown(timeout = "1s")]
async fn flush_telemetry() {}

#[service(name = "svc", on_shutdown = [flush_telemetry, close_db, flush_cache])]
async fn main() {}
