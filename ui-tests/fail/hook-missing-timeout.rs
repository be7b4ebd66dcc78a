use winddown::on_shutdown;

struct App;

#[on_shutdown(order = 3)]
async fn close_db(_app: &App) {}

fn main() {}
