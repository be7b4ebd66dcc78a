use winddown::on_shutdown;

struct App;

#[on_shutdown(order = 1, timeout = "5s", timout = "6s")]
async fn close_db(_app: &App) {}

fn main() {}
