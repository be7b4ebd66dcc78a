#[winddown::service(name = "api", startup_timeout = "0s")]
async fn main() {}
