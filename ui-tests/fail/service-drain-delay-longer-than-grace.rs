use winddown::service;

#[service(name = "svc", grace = "5s", drain_delay = "10s")]
async fn main() {}
