//! `basic`, written with the builder instead of the attributes: the same program,
//! for code that prefers no macros. `cargo run --example basic_builder`.

mod shared;

use std::time::Duration;

use winddown::Service;

async fn cleanup() -> anyhow::Result<()> {
    tracing::info!("service stopping, running cleanup");
    Ok(())
}

fn main() {
    Service::builder("myservice")
        .probes(shared::probes_addr())
        .on_shutdown("cleanup", 1, Duration::from_secs(5), cleanup)
        .run_and_exit(|svc| async move {
            shared::serve_hello(&svc).await?;
            anyhow::Ok(())
        })
}
