//! Anything that accepts connections: TCP, Unix sockets, a TLS acceptor. The shape
//! is axum 0.8's `axum::serve::Listener`, so a listener written for one fits the
//! other with a few lines.

use std::future::Future;
use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tracing::{debug, error};

/// A source of connections for the tracked server and the probes.
///
/// `accept` never fails: like `axum::serve`, an implementation retries per-connection
/// errors at once and backs off on resource exhaustion (see [`handle_accept_error`]),
/// so a server loop built on it never spins.
///
/// ```no_run
/// # async fn demo(svc: winddown::Service) -> std::io::Result<()> {
/// // TCP and Unix sockets implement it already:
/// let tcp = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// # let _ = tcp;
/// # Ok(()) }
/// ```
pub trait Listener: Send + 'static {
    /// The connection's stream.
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// The peer's address, as `ConnectInfo` gives it to handlers.
    type Addr: Clone + Send + Sync + std::fmt::Debug + 'static;

    /// Accepts the next connection.
    fn accept(&mut self) -> impl Future<Output = (Self::Io, Self::Addr)> + Send;

    /// The address this listener is bound to.
    fn local_addr(&self) -> io::Result<Self::Addr>;

    /// Called once, when the server is about to close the listener for good: stop
    /// the operating system from completing new handshakes, so that the connections
    /// already queued can be accepted and answered before the listener closes and
    /// none is reset. The default does nothing (the queue is reset at close, as
    /// without winddown).
    fn stop_handshakes(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// Whether the socket outlives this process (passed by systemd, say): then the
    /// server stops accepting at intake close and leaves the queue to the next
    /// process instead of answering it 503. The default is `false`.
    fn is_inherited(&self) -> bool {
        false
    }
}

impl Listener for tokio::net::TcpListener {
    type Io = tokio::net::TcpStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match tokio::net::TcpListener::accept(self).await {
                Ok(conn) => return conn,
                Err(e) => handle_accept_error(e).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        tokio::net::TcpListener::local_addr(self)
    }

    fn stop_handshakes(&mut self) -> io::Result<()> {
        super::listen_queue::stop_handshakes(self)
    }

    /// Whether the service manager passed this socket ([`crate::listener`]).
    fn is_inherited(&self) -> bool {
        crate::os::listen_fds::is_inherited(self)
    }
}

#[cfg(unix)]
impl Listener for tokio::net::UnixListener {
    type Io = tokio::net::UnixStream;
    type Addr = tokio::net::unix::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match tokio::net::UnixListener::accept(self).await {
                Ok(conn) => return conn,
                Err(e) => handle_accept_error(e).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        tokio::net::UnixListener::local_addr(self)
    }
}

/// What an accept loop does with an error: nothing for errors of one connection
/// (the peer reset before we accepted it), a one-second back-off for the rest
/// (out of file descriptors, out of memory), so a loop never spins a core.
pub async fn handle_accept_error(e: io::Error) {
    if is_connection_error(&e) {
        debug!(error = %e, "accept: connection error, retrying");
        return;
    }
    error!(error = %e, "accept failed: backing off for 1s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
