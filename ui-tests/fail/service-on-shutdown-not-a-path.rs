use winddown::service;

#[service(name = "svc", on_shutdown = ["close_db"])]
async fn main() {}
