use winddown::{on_shutdown, service};

#[on_shutdown(timeout = "10s")]
async fn close_producer() {}

#[on_shutdown(timeout = "3s")]
async fn stop_cache() {}

#[on_shutdown(timeout = "25s", after = [close_producer, stop_cache])]
async fn close_db() {}

#[service(name = "svc", grace = "40s", drain_delay = "10s",
          on_shutdown = [close_producer, stop_cache, close_db])]
async fn main() {}
