//! Deploy-time settings: the environment variables an operator sets without a
//! rebuild, read in one place.
//!
//! | variable | what | default |
//! |---|---|---|
//! | `WINDDOWN_GRACE` | overrides `grace` (`45s`, `1m30s`) | the compiled value |
//! | `WINDDOWN_DRAIN_DELAY` | overrides `drain_delay` | the compiled value |
//! | `WINDDOWN_TERMINATION_LOG` | where the termination message goes; `off` or empty: nowhere | `/dev/termination-log` if it exists and is writable |
//! | `WINDDOWN_LOG_FORMAT` | `json` for one JSON object per line, `text` for the default | `text` (or `LOG_FORMAT`) |

use std::fmt;
use std::time::Duration;

/// `grace`, from the environment.
pub(crate) const GRACE: &str = "WINDDOWN_GRACE";
/// `drain_delay`, from the environment.
pub(crate) const DRAIN_DELAY: &str = "WINDDOWN_DRAIN_DELAY";
/// The termination message's file, or `off`.
pub(crate) const TERMINATION_LOG: &str = "WINDDOWN_TERMINATION_LOG";
/// Where Kubernetes reads the termination message from by default.
pub(crate) const DEFAULT_TERMINATION_LOG: &str = "/dev/termination-log";
/// Kubernetes keeps at most this many bytes of it.
const TERMINATION_LOG_MAX: usize = 4096;
/// `json` or `text`.
#[cfg(feature = "logging")]
pub(crate) const LOG_FORMAT: &str = "WINDDOWN_LOG_FORMAT";
/// The generic switch some platforms set, read when `WINDDOWN_LOG_FORMAT` is unset.
#[cfg(feature = "logging")]
pub(crate) const LOG_FORMAT_FALLBACK: &str = "LOG_FORMAT";

/// Where a setting's value came from, as the start log line says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum Source {
    /// Nobody set it.
    #[default]
    Default,
    /// The attribute or the builder call.
    Compiled,
    /// An environment variable.
    Env(&'static str),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::Compiled => f.write_str("compiled"),
            Source::Env(var) => f.write_str(var),
        }
    }
}

impl Source {
    /// `` `grace` `` or `` `grace` (from WINDDOWN_GRACE) ``, for error messages.
    pub(crate) fn what(self, setting: &str) -> String {
        match self {
            Source::Env(var) => format!("`{setting}` (from {var})"),
            _ => format!("`{setting}`"),
        }
    }
}

/// A variable's value: `None` when unset, the text otherwise (an error when it is
/// not UTF-8).
pub(crate) fn var(name: &str) -> Option<Result<String, String>> {
    match std::env::var(name) {
        Ok(v) => Some(Ok(v)),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(raw)) => Some(Err(format!(
            "{} is not UTF-8: write a duration such as \"45s\"",
            raw.to_string_lossy()
        ))),
    }
}

// The one grammar, shared with the attributes: the macros crate's parser, compiled
// into this crate too (a proc-macro crate can export nothing else), so a value in an
// environment variable and one in an attribute are read, and refused, alike.
#[path = "../../macros/src/duration.rs"]
mod grammar;

/// Parses the duration grammar of the attributes (`45s`, `1m30s`, `250ms`; units
/// `h`, `m`, `s`, `ms`, largest first, no spaces), or says what is wrong and what
/// to write, as the attributes do.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    grammar::parse_ms(text).map(Duration::from_millis)
}

/// Reads the duration in `name`: `None` when unset, the reason when it does not
/// parse.
pub(crate) fn duration(name: &'static str) -> Option<Result<Duration, String>> {
    var(name).map(|v| v.and_then(|text| parse_duration(text.trim())))
}

/// Whether the deployment asks for JSON logs: `WINDDOWN_LOG_FORMAT`, else
/// `LOG_FORMAT`, equal to `json` (any case).
#[cfg(feature = "logging")]
pub(crate) fn json_logs() -> bool {
    let format = var(LOG_FORMAT).or_else(|| var(LOG_FORMAT_FALLBACK));
    matches!(format, Some(Ok(f)) if f.trim().eq_ignore_ascii_case("json"))
}

/// Writes `message` where the termination message goes: `WINDDOWN_TERMINATION_LOG`
/// (a path; `off` or empty: nowhere), else `/dev/termination-log` when it exists
/// and is writable. A failure is a warning, never a failed shutdown.
pub(crate) fn write_termination_log(service: &str, message: &str) {
    use std::io::Write;
    let (path, explicit) = match var(TERMINATION_LOG) {
        Some(Ok(v)) if v.trim().is_empty() || v.trim().eq_ignore_ascii_case("off") => return,
        Some(Ok(v)) => (std::path::PathBuf::from(v), true),
        Some(Err(e)) => {
            tracing::warn!(%service, phase = "finish", error = %e, "{TERMINATION_LOG} ignored: the termination message is not written");
            return;
        }
        None => (std::path::PathBuf::from(DEFAULT_TERMINATION_LOG), false),
    };
    // Only an explicit path is created; the default one exists in a pod, or not at all.
    if !explicit && !path.exists() {
        return;
    }
    let mut end = message.len().min(TERMINATION_LOG_MAX);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    let written = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .create(explicit)
        .open(&path)
        .and_then(|mut f| f.write_all(&message.as_bytes()[..end]));
    match written {
        Ok(()) => {
            tracing::debug!(%service, phase = "finish", path = %path.display(), "termination message written")
        }
        Err(e) => tracing::warn!(%service, phase = "finish", path = %path.display(), error = %e,
            "cannot write the termination message; the shutdown goes on"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grammar_of_the_attributes() {
        let ms = |t: &str| parse_duration(t).map(|d| d.as_millis() as u64);
        assert_eq!(ms("250ms"), Ok(250));
        assert_eq!(ms("45s"), Ok(45_000));
        assert_eq!(ms("1m30s"), Ok(90_000));
        assert_eq!(ms("2h1m1s1ms"), Ok(7_261_001));
        for (bad, why) in [
            ("", "it is empty"),
            ("45", "`45` has no unit"),
            ("1.5s", "decimals are not allowed"),
            ("5 s", "it contains a space"),
            ("5d", "`d` is not a unit"),
            ("30s1m", "`m` comes after a unit that is not larger"),
            ("-5s", "it is negative"),
            ("99999999999999999999ms", "it is too large"),
        ] {
            let err = parse_duration(bad).unwrap_err();
            assert!(
                err.starts_with(&format!("invalid duration \"{bad}\": {why}")),
                "{err}"
            );
            assert!(err.ends_with("e.g. \"1m30s\" or \"250ms\""), "{err}");
        }
    }

    #[test]
    fn sources_read_as_the_log_writes_them() {
        assert_eq!(Source::Env(GRACE).to_string(), "WINDDOWN_GRACE");
        assert_eq!(Source::Compiled.to_string(), "compiled");
        assert_eq!(
            Source::Env(GRACE).what("grace"),
            "`grace` (from WINDDOWN_GRACE)"
        );
    }
}
