use winddown::worker;

#[worker(stop_timeout = "1s")]
struct Consumer;

fn main() {}
