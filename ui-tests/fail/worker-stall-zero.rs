use winddown::worker;

#[worker(every = "1s", stall = "0s")]
struct Poller;

impl Poller {
    async fn tick(&mut self) {}
}

fn main() {}
