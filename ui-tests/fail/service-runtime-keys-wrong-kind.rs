#[winddown::service(name = "svc", logging = "off", flavor = current_thread, worker_threads = "4")]
async fn main() {}
