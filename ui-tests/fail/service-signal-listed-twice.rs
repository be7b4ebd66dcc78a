use winddown::service;

#[service(name = "svc", signals = ["SIGTERM", "TERM"])]
async fn main() {}
