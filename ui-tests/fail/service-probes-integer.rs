use winddown::service;

#[service(name = "svc", probes = 8080)]
async fn main() {}
