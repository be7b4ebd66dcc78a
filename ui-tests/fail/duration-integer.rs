use winddown::service;

#[service(name = "svc", grace = 30)]
async fn main() {}
