#[winddown::service(name = "svc", worker_threads = 0)]
async fn main() {}
