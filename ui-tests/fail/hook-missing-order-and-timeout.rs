use winddown::on_shutdown;

struct App;

#[on_shutdown]
async fn close_db(_app: &App) {}

fn main() {}
