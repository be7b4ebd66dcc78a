use winddown::on_shutdown;

struct App;

impl App {
    #[on_shutdown(timeout = "5s")]
    async fn close(app: &Self) {
        let _ = app;
    }
}

fn main() {}
