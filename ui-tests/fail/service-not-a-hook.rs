use winddown::service;

async fn close_db() {}

#[service(name = "svc", on_shutdown = [close_db])]
async fn main() {}
