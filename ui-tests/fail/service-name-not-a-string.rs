use winddown::service;

#[service(name = myservice)]
async fn main() {}
