use winddown::service;

#[service(name = "svc")]
async fn main(svc: winddown::Service, extra: u32) {}
