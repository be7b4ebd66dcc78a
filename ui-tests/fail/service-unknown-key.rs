use winddown::service;

#[service(name = "svc", gracee = "5s")]
async fn main() {}
