use winddown::service;

#[service(name = "svc", signals = ["SIGKILL"])]
async fn main() {}
