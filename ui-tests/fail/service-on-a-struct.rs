use winddown::service;

#[service(name = "svc")]
struct NotAFunction;

fn main() {}
