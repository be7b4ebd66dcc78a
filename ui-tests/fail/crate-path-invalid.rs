//! `crate = ".."` takes a path.
use winddown::{on_shutdown, service};

#[on_shutdown(order = 1, timeout = "1s", crate = "not a path")]
async fn flush() {}

#[service(name = "bad-crate", crate = "::winddown", on_shutdown = [flush])]
async fn main() {}
