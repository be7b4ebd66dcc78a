use winddown::worker;

#[worker(every = "0ms")]
struct Cleanup;

impl Cleanup {
    async fn tick(&mut self) {}
}

fn main() {}
