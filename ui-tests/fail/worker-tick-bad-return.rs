use winddown::worker;

#[worker(every = "5s")]
struct Cleanup;

impl Cleanup {
    async fn tick(&mut self) -> u32 {
        0
    }
}

fn main() {}
