use winddown::service;

#[service(name = "svc", grace = "1.5s")]
async fn main() {}
