use winddown::service;

#[service(name = "svc", grace = "5 s")]
async fn main() {}
