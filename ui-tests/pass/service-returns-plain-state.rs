//! Setup returning the state itself (no `Result`); hooks borrow it.
use winddown::{Service, on_shutdown, service};

struct App {
    name: String,
}

#[on_shutdown(order = 1, timeout = "1s")]
async fn bye(app: &App) {
    assert_eq!(app.name, "plain");
}

#[service(name = "plain", grace = "2s", on_shutdown = [bye])]
async fn main(svc: Service) -> App {
    svc.shutdown().trigger();
    App {
        name: "plain".into(),
    }
}
