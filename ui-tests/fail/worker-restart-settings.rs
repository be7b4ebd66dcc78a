use winddown::{Quit, worker};

// `restart` on a ticking worker, settings without `restart`, an unknown policy,
// a zero limit and a first backoff above its cap: each at its token, all at once.
#[worker(every = "1s", restart = "on-failure")]
struct Ticker;

impl Ticker {
    async fn tick(&mut self) {}
}

#[worker(max_restarts = 3, backoff = "1s")]
struct NoPolicy;

impl NoPolicy {
    async fn run(&mut self, quit: Quit) {
        quit.cancelled().await;
    }
}

#[worker(restart = "always")]
struct Unknown;

impl Unknown {
    async fn run(&mut self, quit: Quit) {
        quit.cancelled().await;
    }
}

#[worker(restart = "on-failure", max_restarts = 0, backoff = "2m")]
struct Inverted;

impl Inverted {
    async fn run(&mut self, quit: Quit) {
        quit.cancelled().await;
    }
}

fn main() {}
