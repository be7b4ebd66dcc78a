use winddown::service;

#[service(name = "svc", grace = "0s")]
async fn main() {}
