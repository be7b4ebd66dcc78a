//! An error in a worker's attribute is the only error: the worker still
//! implements `IntoWorker`, so `spawn_worker` shows nothing more.
use winddown::{Service, service, worker};

#[worker(evry = "5s")]
struct Sticky;

impl Sticky {
    async fn tick(&mut self) {}
}

#[service(name = "one-error")]
async fn main(svc: Service) {
    svc.spawn_worker(Sticky);
}
