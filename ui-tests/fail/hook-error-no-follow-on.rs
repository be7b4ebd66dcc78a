use winddown::{on_shutdown, service};

// Only the unknown key is reported: the service's list still finds the hook.
#[on_shutdown(order = 1, timout = "2s")]
async fn close_db() {}

#[service(name = "svc", on_shutdown = [close_db])]
async fn main() {}
