//! `startup_timeout`: a start-up deadline; the configuration carries it.
use std::time::Duration;

use winddown::Service;

#[winddown::service(name = "api", startup_timeout = "1m30s")]
async fn main(svc: Service) {
    let config = service_config().unwrap();
    assert_eq!(config.startup_timeout(), Some(Duration::from_secs(90)));
    svc.shutdown().trigger();
}
