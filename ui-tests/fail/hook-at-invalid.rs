use winddown::on_shutdown;

#[on_shutdown(order = 1, timeout = "5s", at = "middle")]
async fn leave_discovery() {}

fn main() {}
