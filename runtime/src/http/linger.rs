//! Closing a connection without a reset: on drop, send FIN and keep reading (for
//! up to a second) what the client still sends, so the kernel never answers unread
//! bytes with a reset. The lingering close is tracked, so the process waits for it
//! before exiting.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio_util::task::TaskTracker;

use super::tracked::ConnState;

/// How long a closing socket keeps reading what the client still sends.
pub(crate) const LINGER: Duration = Duration::from_secs(1);

/// A connection's stream that closes politely and, while it lives, may hold the
/// connection counted in flight (through an upgrade too).
pub(crate) struct Lingering<Io: AsyncRead + AsyncWrite + Unpin + Send + 'static> {
    io: Option<Io>,
    /// Its connection, released from the in-flight count on drop, once every
    /// response byte has been handed to the kernel.
    conn: Option<Arc<ConnState>>,
    closing: TaskTracker,
}

impl<Io: AsyncRead + AsyncWrite + Unpin + Send + 'static> Lingering<Io> {
    pub(crate) fn new(io: Io, conn: Option<Arc<ConnState>>, closing: TaskTracker) -> Self {
        Lingering {
            io: Some(io),
            conn,
            closing,
        }
    }

    fn get(&mut self) -> &mut Io {
        self.io.as_mut().expect("stream present until drop")
    }
}

impl<Io: AsyncRead + AsyncWrite + Unpin + Send + 'static> Drop for Lingering<Io> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            conn.release();
        }
        let Some(mut io) = self.io.take() else {
            return;
        };
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        self.closing.spawn(async move {
            let _ = io.shutdown().await;
            let mut sink = [0u8; 1024];
            let drain = async {
                while let Ok(n) = io.read(&mut sink).await {
                    if n == 0 {
                        break;
                    }
                }
            };
            let _ = tokio::time::timeout(LINGER, drain).await;
        });
    }
}

impl<Io: AsyncRead + AsyncWrite + Unpin + Send + 'static> AsyncRead for Lingering<Io> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(self.get()).poll_read(cx, buf)
    }
}

impl<Io: AsyncRead + AsyncWrite + Unpin + Send + 'static> AsyncWrite for Lingering<Io> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(self.get()).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.get()).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.get()).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(self.get()).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.as_ref().is_some_and(|io| io.is_write_vectored())
    }
}
