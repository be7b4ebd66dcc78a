#[winddown::service(name = "svc", flavor = "single_thread")]
async fn main() {}
