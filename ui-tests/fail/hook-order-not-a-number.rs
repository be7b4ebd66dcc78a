use winddown::on_shutdown;

struct App;

#[on_shutdown(order = "first", timeout = "5s")]
async fn close_db(_app: &App) {}

fn main() {}
