use winddown::service;

#[service(name = "svc")]
async fn main<T>() {}
