//! What a hook, a tick, a check or a setup may return, and how a panic reads.

use std::any::Any;
use std::fmt::{Debug, Display};

/// The return types accepted from hooks, worker ticks and readiness checks:
/// `()` (always a success) or `Result<(), E>` where `E` is any
/// `Display + Debug + Send + Sync + 'static` error, `anyhow::Error` included.
///
/// An error is kept as its alternate `Display` (`{:#}`), which for `anyhow`
/// includes the whole chain of causes.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be returned by a hook, a worker or a readiness check",
    label = "this returns `{Self}`",
    note = "return `()` or `Result<(), E>` where `E: Display + Debug + Send + Sync + 'static` (e.g. `anyhow::Result<()>`)"
)]
pub trait IntoOutcome {
    /// `Ok(())` on success, or the error's message.
    fn into_outcome(self) -> Result<(), String>;
}

impl IntoOutcome for () {
    fn into_outcome(self) -> Result<(), String> {
        Ok(())
    }
}

impl<E> IntoOutcome for Result<(), E>
where
    E: Display + Debug + Send + Sync + 'static,
{
    fn into_outcome(self) -> Result<(), String> {
        self.map_err(|e| format!("{e:#}"))
    }
}

/// The message carried by a panic payload, for the report.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}
