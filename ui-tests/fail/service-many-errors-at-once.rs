use winddown::service;

#[service(gracee = "5s", drain_delay = "1.5s", probes = "8080", signals = ["SIGKILL"])]
fn main(a: u32, b: u32) {}
