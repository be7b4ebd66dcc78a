use axum::{Router, routing::get};
use winddown::{Service, on_shutdown, service};

struct App {
    greeting: &'static str,
}

#[on_shutdown(timeout = "5s")]
async fn say_goodbye(app: &App) {
    tracing::info!("{} is closing", app.greeting);
}

#[service(name = "hello", grace = "10s", drain_delay = "1s",
          probes = winddown::listen_addr("probes", "127.0.0.1:8081"), on_shutdown = [say_goodbye])]
async fn main(svc: Service) -> anyhow::Result<App> {
    // systemd's socket `app` when passed, else APP_ADDR, else the default.
    let listener = winddown::listener("app", "127.0.0.1:8080").await?;
    let router = Router::new().route("/", get(|| async { "hello\n" }));
    svc.serve(listener, router); // spawned: every connection counted, drained at shutdown
    Ok(App { greeting: "hello" })
}
