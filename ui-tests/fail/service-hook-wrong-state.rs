use winddown::{on_shutdown, service};

struct App;
struct Other;

#[on_shutdown(order = 1, timeout = "1s")]
async fn close_db(_other: &Other) {}

#[service(name = "svc", on_shutdown = [close_db])]
async fn main() -> App {
    App
}
