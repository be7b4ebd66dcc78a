use winddown::{on_shutdown, service};

#[on_shutdown(order = 1, timeout = "2s")]
async fn close_db() {}

#[on_shutdown(order = 2, timeout = "2s")]
async fn flush_telemetry() {}

#[service(name = "svc", on_shutdown = [close_db])]
async fn main() {}
