use winddown::worker;

#[worker(every = "1s", stop_timeout = "0s")]
struct Cleanup;

impl Cleanup {
    async fn tick(&mut self) {}
}

fn main() {}
