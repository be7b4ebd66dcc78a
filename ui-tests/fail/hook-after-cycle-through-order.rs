use winddown::{on_shutdown, service};

// `order` is a chain: `flush_telemetry` (order 2) runs after `close_db` (order 1),
// which here also waits for `flush_telemetry`.
#[on_shutdown(order = 1, timeout = "5s", after = [flush_telemetry])]
async fn close_db() {}

#[on_shutdown(order = 2, timeout = "1s")]
async fn flush_telemetry() {}

#[service(name = "svc", on_shutdown = [close_db, flush_telemetry])]
async fn main() {}
