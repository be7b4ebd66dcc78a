//! Your subscriber, your runtime: `logging = false`, `flavor`, `worker_threads`.
//! The current-thread service runs (and checks its runtime); the multi-thread one is
//! only compiled, since one process runs one service.
use winddown::Service;

mod multi {
    #[winddown::service(name = "multi", flavor = "multi_thread", worker_threads = 4)]
    pub async fn main() {}
}

#[winddown::service(name = "current", logging = false, flavor = "current_thread")]
async fn main(svc: Service) {
    let flavor = tokio::runtime::Handle::current().runtime_flavor();
    assert_eq!(flavor, tokio::runtime::RuntimeFlavor::CurrentThread);
    let _compiled: fn() = multi::main;
    svc.shutdown().trigger();
}
