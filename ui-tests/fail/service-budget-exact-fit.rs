use winddown::{on_shutdown, service};

// drain delay 1s + hook 2s = grace 3s: no time left to log the report.
#[on_shutdown(order = 1, timeout = "2s")]
async fn close_db() {}

#[service(name = "svc", grace = "3s", drain_delay = "1s", on_shutdown = [close_db])]
async fn main() {}
