use winddown::service;

#[service(name = "svc", signals = "SIGTERM")]
async fn main() {}
