//! The default tracing subscriber: `RUST_LOG` or `info`, to stderr, human-readable
//! or (`WINDDOWN_LOG_FORMAT=json`) one JSON object per line.

#[cfg(feature = "logging")]
use tracing_subscriber::EnvFilter;

/// Installs a formatting subscriber writing to stderr unless one is already set
/// (a user's own subscriber is never replaced). The filter comes from `RUST_LOG`,
/// or is `info` when it is unset or invalid; the format is JSON when the
/// deployment asks for it (see `settings::json_logs`).
#[cfg(feature = "logging")]
pub(crate) fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false);
    let _ = if crate::settings::json_logs() {
        // Each step's span (`shutdown` → `step`) rides along as `span`/`spans`.
        fmt.json()
            .with_current_span(true)
            .with_span_list(true)
            .try_init()
    } else {
        fmt.try_init()
    };
}

/// Without the `logging` feature nothing is installed: the events go to whatever
/// subscriber the program sets (none: nowhere).
#[cfg(not(feature = "logging"))]
pub(crate) fn init() {}
