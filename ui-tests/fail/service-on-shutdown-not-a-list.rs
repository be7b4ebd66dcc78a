use winddown::{on_shutdown, service};

#[on_shutdown(order = 1, timeout = "1s")]
async fn close_db() {}

#[service(name = "svc", on_shutdown = close_db)]
async fn main() {}
