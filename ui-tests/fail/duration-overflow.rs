use winddown::service;

#[service(name = "svc", grace = "18446744073709551615s")]
async fn main() {}
