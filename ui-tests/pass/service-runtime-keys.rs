//! Your subscriber, your runtime: `logging = false`, `flavor`, `worker_threads`.
mod current {
    #[winddown::service(name = "svc", logging = false, flavor = "current_thread")]
    pub async fn main() {}
}

#[winddown::service(name = "svc", flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    current::main();
}
