use winddown::{on_shutdown, service};

#[on_shutdown(timeout = "1s", at = "start")]
async fn leave_discovery() {}

#[on_shutdown(timeout = "5s", after = [leave_discovery])]
async fn close_db() {}

#[service(name = "svc", on_shutdown = [leave_discovery, close_db])]
async fn main() {}
