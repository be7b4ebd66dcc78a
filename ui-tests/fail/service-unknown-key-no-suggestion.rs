use winddown::service;

#[service(name = "svc", replicas = 3)]
async fn main() {}
