use winddown::service;

#[service(name = "svc")]
fn main() {}
