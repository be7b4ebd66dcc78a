//! Generic workers: each type parameter is bounded `Send + 'static` for you, and
//! what `tick`/`run`'s impl block needs beyond that goes in `bound = ".."`.
use std::fmt::Display;

use winddown::{Quit, worker};

#[worker(every = "1s", bound = "T: Display")]
struct Poller<T> {
    label: T,
}

impl<T: Display + Send + 'static> Poller<T> {
    async fn tick(&mut self) -> Result<(), std::io::Error> {
        let _ = self.label.to_string();
        Ok(())
    }
}

#[worker(bound = "Q: Iterator<Item = u32>")]
struct Consumer<Q> {
    queue: Q,
}

impl<Q: Iterator<Item = u32> + Send + 'static> Consumer<Q> {
    async fn run(&mut self, quit: Quit) {
        let _ = self.queue.next();
        quit.cancelled().await;
    }
}

fn main() {
    let _ = Poller { label: 1u8 };
    let _ = Consumer { queue: std::iter::empty::<u32>() };
}
