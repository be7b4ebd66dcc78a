use winddown::service;

#[service]
async fn main() {}
