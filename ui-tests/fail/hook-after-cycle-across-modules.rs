mod db {
    use winddown::on_shutdown;

    #[on_shutdown(timeout = "5s", after = [crate::cache::flush])]
    pub async fn close() {}
}

mod cache {
    use winddown::on_shutdown;

    #[on_shutdown(timeout = "1s", after = [super::db::close])]
    pub async fn flush() {}
}

#[winddown::service(name = "svc", on_shutdown = [db::close, cache::flush])]
async fn main() {}
