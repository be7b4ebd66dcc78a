use winddown::worker;

#[worker(every = "1s", bound = "T Display")]
struct Poller<T> {
    label: T,
}

impl<T: std::fmt::Display + Send + 'static> Poller<T> {
    async fn tick(&mut self) {
        let _ = self.label.to_string();
    }
}

fn main() {}
