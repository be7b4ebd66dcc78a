use winddown::worker;

#[worker(every = "5s", name = "")]
struct Cleanup;

impl Cleanup {
    async fn tick(&mut self) {}
}

fn main() {}
