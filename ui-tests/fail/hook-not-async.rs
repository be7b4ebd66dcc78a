use winddown::on_shutdown;

struct App;

#[on_shutdown(order = 1, timeout = "5s")]
fn close_db(_app: &App) {}

fn main() {}
