//! `startup_timeout`: a start-up deadline; the configuration carries it (checked
//! at compile time here: the closure is never run).
use std::time::Duration;

#[winddown::service(name = "api", startup_timeout = "1m30s")]
async fn main() {}

const _: fn() = || {
    let config = service_config().unwrap();
    assert_eq!(config.startup_timeout(), Some(Duration::from_secs(90)));
};
