use winddown::{on_shutdown, service};

#[on_shutdown(order = 1, timeout = "20s", at = "start")]
async fn leave_discovery() {}

#[on_shutdown(order = 2, timeout = "15s")]
async fn close_db() {}

#[service(name = "svc", grace = "30s", on_shutdown = [leave_discovery, close_db])]
async fn main() {}
