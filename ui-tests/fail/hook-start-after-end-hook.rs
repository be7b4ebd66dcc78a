use winddown::{on_shutdown, service};

#[on_shutdown(timeout = "5s")]
async fn close_db() {}

#[on_shutdown(timeout = "1s", at = "start", after = [close_db])]
async fn leave_discovery() {}

#[service(name = "svc", on_shutdown = [leave_discovery, close_db])]
async fn main() {}
