use winddown::{on_shutdown, service};

#[on_shutdown(timeout = "1s")]
async fn stop_cache() {}

#[on_shutdown(timeout = "5s", after = [stop_cache, stop_cache])]
async fn close_db() {}

#[service(name = "svc", on_shutdown = [stop_cache, close_db])]
async fn main() {}
