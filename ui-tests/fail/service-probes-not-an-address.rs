use winddown::service;

#[service(name = "svc", probes = "localhost")]
async fn main() {}
