use winddown::worker;

#[worker(evry = "5s")]
struct Cleanup;

impl Cleanup {
    async fn tick(&mut self) {}
}

fn main() {}
