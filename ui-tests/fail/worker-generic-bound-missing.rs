use std::fmt::Display;

use winddown::worker;

// `tick` needs `T: Display`, which only the impl block says: the generated impl
// cannot know it, so the compiler names the bound; `bound = "T: Display"` fixes it.
#[worker(every = "1s")]
struct Poller<T> {
    label: T,
}

impl<T: Display + Send + 'static> Poller<T> {
    async fn tick(&mut self) {
        let _ = self.label.to_string();
    }
}

fn main() {}
