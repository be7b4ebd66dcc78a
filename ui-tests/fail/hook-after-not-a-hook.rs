use winddown::{on_shutdown, service};

async fn stop_producer() {}

#[on_shutdown(timeout = "5s", after = [stop_producer])]
async fn close_db() {}

#[service(name = "svc", on_shutdown = [close_db])]
async fn main() {}
