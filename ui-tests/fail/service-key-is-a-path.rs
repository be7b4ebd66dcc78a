use winddown::service;

#[service(name = "svc", probes::addr = "0.0.0.0:1")]
async fn main() {}
