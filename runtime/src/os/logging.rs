//! The default tracing subscriber: `RUST_LOG` or `info`, to stderr.

use tracing_subscriber::EnvFilter;

/// Installs a formatting subscriber writing to stderr unless one is already set.
/// The filter comes from `RUST_LOG`, or is `info` when it is unset or invalid.
pub(crate) fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}
