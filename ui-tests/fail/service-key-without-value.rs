use winddown::service;

#[service(name)]
async fn main() {}
