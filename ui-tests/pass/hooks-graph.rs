//! `after` places hooks in a graph; `order` is a chain; hooks in different modules
//! may share their last name. Grace 30s is less than the 41s the timeouts sum to:
//! it fits because the critical path is drain 2s + 10s + 15s + 2s (+ the margin).
use winddown::{on_shutdown, service};

mod producer {
    #[winddown::on_shutdown(timeout = "10s")]
    pub async fn close() {}
}

mod cache {
    #[winddown::on_shutdown(timeout = "10s")]
    pub async fn close() {}
}

#[on_shutdown(timeout = "15s", after = [producer::close, cache::close])]
async fn close_db() {}

#[on_shutdown(timeout = "2s", after = [close_db])]
async fn flush_telemetry() {}

#[on_shutdown(order = 1, timeout = "1s", at = "start")]
async fn leave_discovery() {}

#[on_shutdown(order = 2, timeout = "1s", at = "start")]
async fn announce() {}

#[service(name = "svc", grace = "30s", drain_delay = "1s",
          on_shutdown = [producer::close, cache::close, close_db, flush_telemetry, leave_discovery, announce])]
async fn main() {}
