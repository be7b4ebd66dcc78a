use winddown::service;

#[service(name = "svc", drain_delay = "")]
async fn main() {}
