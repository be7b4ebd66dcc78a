use winddown::{on_shutdown, service};

#[on_shutdown(timeout = "5s", after = [close_db])]
async fn close_db() {}

#[service(name = "svc", on_shutdown = [close_db])]
async fn main() {}
