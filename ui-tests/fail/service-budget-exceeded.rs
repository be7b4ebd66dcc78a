use winddown::{on_shutdown, service};

#[on_shutdown(order = 1, timeout = "25s")]
async fn close_db() {}

#[on_shutdown(order = 2, timeout = "2s")]
async fn flush_telemetry() {}

#[service(name = "svc", grace = "30s", drain_delay = "10s", on_shutdown = [close_db, flush_telemetry])]
async fn main() {}
