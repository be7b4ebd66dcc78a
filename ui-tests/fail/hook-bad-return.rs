use winddown::on_shutdown;

struct App;

#[on_shutdown(order = 1, timeout = "5s", listed_elsewhere)]
async fn close_db(_app: &App) -> u32 {
    0
}

fn main() {}
