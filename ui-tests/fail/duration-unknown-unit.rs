use winddown::service;

#[service(name = "svc", grace = "5d")]
async fn main() {}
