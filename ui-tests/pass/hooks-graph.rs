//! `after` places hooks in a graph; `order` is a chain; hooks in different modules
//! may share their last name. Grace 31s is less than the 40s the drain and the timeouts sum to:
//! it fits because the critical path is start 1s + 1s, drain 1s, then 10s + 15s + 2s
//! (+ the 100ms margin) = 30.1s.
use winddown::{Service, on_shutdown, service};

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

#[service(name = "svc", grace = "31s", drain_delay = "1s",
          on_shutdown = [producer::close, cache::close, close_db, flush_telemetry, leave_discovery, announce])]
async fn main(svc: Service) {
    svc.shutdown().trigger();
}
