use winddown::worker;

#[worker(every = "5s")]
enum Jobs {
    Cleanup,
}

fn main() {}
