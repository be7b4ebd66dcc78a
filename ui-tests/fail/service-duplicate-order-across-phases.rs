use winddown::{on_shutdown, service};

#[on_shutdown(order = 1, timeout = "1s", at = "start")]
async fn leave_discovery() {}

#[on_shutdown(order = 1, timeout = "1s")]
async fn close_db() {}

#[service(name = "svc", on_shutdown = [leave_discovery, close_db])]
async fn main() {}
