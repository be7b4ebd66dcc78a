use winddown::service;

#[service(name = "svc", grace = "5s", grace = "6s")]
async fn main() {}
