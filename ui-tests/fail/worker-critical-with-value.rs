use winddown::worker;

#[worker(every = "5s", critical = true)]
struct Cleanup;

impl Cleanup {
    async fn tick(&mut self) {}
}

fn main() {}
