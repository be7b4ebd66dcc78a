use winddown::worker;

#[worker(every = "5s")]
struct Cleanup;

fn main() {}
