use winddown::on_shutdown;

struct App;

#[on_shutdown(order = 1, timeout = "5s")]
async fn close<S>(_state: &S) {}

fn main() {}
