//! HTTP: the tracked server ([`Service::serve`](crate::Service::serve),
//! [`Service::serve_hyper`](crate::Service::serve_hyper)), the response body that
//! keeps a request counted until it is sent, and the tower layer for routers served
//! some other way.

#[cfg(feature = "axum")]
mod axum;
#[cfg(feature = "http")]
mod gate;
#[cfg(feature = "http")]
mod linger;
mod listen_queue;
mod listener;
#[cfg(feature = "http")]
mod serve;
#[cfg(feature = "http")]
mod tracked;

#[cfg(feature = "axum")]
pub use self::axum::{InFlightLayer, InFlightService};
pub use listener::{Listener, handle_accept_error};
#[cfg(feature = "tonic")]
pub(crate) use serve::spawn_server;
#[cfg(feature = "http")]
pub use tracked::{BoxError, TrackedBody, shutting_down_response};

#[cfg(feature = "rustls")]
pub mod tls;
#[cfg(feature = "ws")]
pub mod ws;
