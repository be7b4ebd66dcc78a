use winddown::service;

#[service(name = "svc", grace = "30s1m")]
async fn main() {}
