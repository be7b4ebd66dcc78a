use winddown::on_shutdown;

struct App;

impl App {
    #[on_shutdown(order = 1, timeout = "5s")]
    async fn close(&self) {}
}

fn main() {}
