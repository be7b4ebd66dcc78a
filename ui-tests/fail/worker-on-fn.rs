use winddown::worker;

#[worker(every = "5s")]
fn cleanup() {}

fn main() {}
