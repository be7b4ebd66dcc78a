use winddown::{on_shutdown, service};

// Only the typo is reported: the hooks stay listed by the service in error, so
// neither says "not listed by any #[service]".
#[on_shutdown(order = 1, timeout = "2s")]
async fn close_db() {}

mod cache {
    #[winddown::on_shutdown(timeout = "1s")]
    pub async fn flush() {}
}

#[service(name = "svc", gracee = "5s", on_shutdown = [close_db, cache::flush])]
async fn main() {}
