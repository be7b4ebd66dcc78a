//! TLS for the tracked server (feature `rustls`): [`TlsListener`] wraps any
//! [`Listener`] and hands the server connections whose handshake has finished.
//!
//! Handshakes run concurrently, each in its own task and bounded by a timeout, so
//! a client that connects and never speaks cannot stall the accept loop; a failed
//! handshake is logged at debug and the listener goes on. ALPN offers `h2` and
//! `http/1.1`, so HTTP/2 over TLS works with the same port and certificate.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use winddown::http::tls::{TlsListener, server_config_from_pem_files};
//!
//! let config = server_config_from_pem_files("cert.pem", "key.pem")?;
//! let tcp = tokio::net::TcpListener::bind("0.0.0.0:8443").await?;
//! let listener = TlsListener::new(tcp, config);
//! // svc.serve(listener, router);
//! # let _ = listener;
//! # Ok(()) }
//! ```

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tracing::debug;

use super::Listener;

pub use tokio_rustls::rustls;
pub use tokio_rustls::rustls::ServerConfig;
pub use tokio_rustls::server::TlsStream;

/// How long a client gets to finish its TLS handshake unless told otherwise.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The ALPN protocols offered when the server config names none.
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

type Handshake<L> = (
    Result<io::Result<TlsStream<<L as Listener>::Io>>, tokio::time::error::Elapsed>,
    <L as Listener>::Addr,
);

/// A [`Listener`] that speaks TLS over another one (TCP, a Unix socket, ...).
///
/// `accept` returns connections whose handshake has finished. While it waits it
/// keeps accepting from the inner listener, so handshakes proceed side by side;
/// each is bounded by [`handshake_timeout`](Self::handshake_timeout) (10 s by
/// default), and one that fails or times out is logged at debug and dropped. When
/// the listener is dropped, handshakes still in progress are abandoned.
///
/// If the [`ServerConfig`] names no ALPN protocols, `h2` and `http/1.1` are offered.
pub struct TlsListener<L: Listener> {
    inner: L,
    acceptor: TlsAcceptor,
    timeout: Duration,
    handshakes: JoinSet<Handshake<L>>,
}

impl<L: Listener> TlsListener<L> {
    /// TLS with `config` over `inner`.
    pub fn new(inner: L, config: Arc<ServerConfig>) -> Self {
        let config = if config.alpn_protocols.is_empty() {
            let mut config = (*config).clone();
            config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
            Arc::new(config)
        } else {
            config
        };
        TlsListener {
            inner,
            acceptor: TlsAcceptor::from(config),
            timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            handshakes: JoinSet::new(),
        }
    }

    /// How long a client gets to finish its handshake, from the moment its
    /// connection is accepted (10 s by default).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The listener underneath.
    pub fn get_ref(&self) -> &L {
        &self.inner
    }

    /// How many handshakes are in progress.
    pub fn handshakes_in_progress(&self) -> usize {
        self.handshakes.len()
    }
}

impl<L: Listener> Listener for TlsListener<L> {
    type Io = TlsStream<L::Io>;
    type Addr = L::Addr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // Cancel-safe: handshakes live in `self.handshakes`, so a dropped `accept`
        // loses none of them, and a finished one is returned in the poll that sees it.
        loop {
            tokio::select! {
                biased;
                Some(done) = self.handshakes.join_next() => match done {
                    Ok((Ok(Ok(stream)), addr)) => return (stream, addr),
                    Ok((Ok(Err(error)), addr)) => {
                        debug!(peer = ?addr, %error, "TLS handshake failed");
                    }
                    Ok((Err(_), addr)) => {
                        debug!(peer = ?addr, timeout_ms = self.timeout.as_millis() as u64,
                            "TLS handshake timed out: connection closed");
                    }
                    Err(error) => debug!(%error, "TLS handshake task ended"),
                },
                (io, addr) = self.inner.accept() => {
                    let handshake = self.acceptor.accept(io);
                    let timeout = self.timeout;
                    self.handshakes.spawn(async move {
                        (tokio::time::timeout(timeout, handshake).await, addr)
                    });
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }

    fn stop_handshakes(&mut self) -> io::Result<()> {
        self.inner.stop_handshakes()
    }

    fn is_inherited(&self) -> bool {
        self.inner.is_inherited()
    }
}

impl<L: Listener + fmt::Debug> fmt::Debug for TlsListener<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsListener")
            .field("inner", &self.inner)
            .field("handshake_timeout", &self.timeout)
            .field("handshakes_in_progress", &self.handshakes.len())
            .finish_non_exhaustive()
    }
}

/// Why a TLS server configuration could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsConfigError {
    /// A PEM file could not be read.
    #[error("cannot read the TLS {what} file `{}`: {source}", path.display())]
    Read {
        /// `certificate` or `private key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The PEM text is malformed.
    #[error("the TLS {what} PEM is malformed: {source}")]
    Pem {
        /// `certificate` or `private key`.
        what: &'static str,
        /// What the PEM parser said.
        #[source]
        source: pem::Error,
    },
    /// The certificate PEM holds no certificate.
    #[error(
        "no certificate in the TLS certificate PEM: expected a `-----BEGIN CERTIFICATE-----` section (the server's certificate first, then its chain)"
    )]
    NoCertificate,
    /// The key PEM holds no private key.
    #[error(
        "no private key in the TLS key PEM: expected a `-----BEGIN PRIVATE KEY-----` (PKCS#8), `RSA PRIVATE KEY` or `EC PRIVATE KEY` section"
    )]
    NoPrivateKey,
    /// rustls refused the certificate or the key (for instance, they do not match).
    #[error(
        "the TLS certificate and key were refused: {0}; check that the key belongs to the certificate"
    )]
    Rustls(#[from] rustls::Error),
}

/// A [`ServerConfig`] from a PEM certificate chain (the server's certificate first)
/// and a PEM private key, with the ring crypto provider, TLS 1.2 and 1.3, no client
/// authentication, and ALPN `h2` and `http/1.1`.
///
/// ```
/// # fn demo(cert_pem: &[u8], key_pem: &[u8]) {
/// match winddown::http::tls::server_config_from_pem(cert_pem, key_pem) {
///     Ok(config) => { let _ = config; }
///     Err(e) => eprintln!("{e}"), // says which part is missing or wrong
/// }
/// # }
/// ```
pub fn server_config_from_pem(
    cert_chain_pem: &[u8],
    key_pem: &[u8],
) -> Result<Arc<ServerConfig>, TlsConfigError> {
    let certs = CertificateDer::pem_slice_iter(cert_chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsConfigError::Pem {
            what: "certificate",
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsConfigError::NoCertificate);
    }
    let key = match PrivateKeyDer::from_pem_slice(key_pem) {
        Ok(key) => key,
        Err(pem::Error::NoItemsFound) => return Err(TlsConfigError::NoPrivateKey),
        Err(source) => {
            return Err(TlsConfigError::Pem {
                what: "private key",
                source,
            });
        }
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// [`server_config_from_pem`] with the PEM read from two files.
pub fn server_config_from_pem_files(
    cert_chain: impl AsRef<Path>,
    key: impl AsRef<Path>,
) -> Result<Arc<ServerConfig>, TlsConfigError> {
    let read = |what, path: &Path| {
        std::fs::read(path).map_err(|source| TlsConfigError::Read {
            what,
            path: path.to_owned(),
            source,
        })
    };
    let cert_chain = read("certificate", cert_chain.as_ref())?;
    let key = read("private key", key.as_ref())?;
    server_config_from_pem(&cert_chain, &key)
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::net::SocketAddr;

    use rustls_pki_types::ServerName;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio_rustls::TlsConnector;
    use tokio_rustls::rustls::{ClientConfig, RootCertStore};

    /// Generous: the machine is loaded while tests run.
    const PATIENCE: Duration = Duration::from_secs(20);

    struct Pki {
        cert_pem: String,
        key_pem: String,
        client: Arc<ClientConfig>,
    }

    fn pki() -> Pki {
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let mut roots = RootCertStore::empty();
        roots.add(ck.cert.der().clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let client = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Pki {
            cert_pem: ck.cert.pem(),
            key_pem: ck.signing_key.serialize_pem(),
            client: Arc::new(client),
        }
    }

    async fn listener(pki: &Pki, timeout: Duration) -> (TlsListener<TcpListener>, SocketAddr) {
        let config = server_config_from_pem(pki.cert_pem.as_bytes(), pki.key_pem.as_bytes())
            .expect("a valid config");
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        (
            TlsListener::new(tcp, config).handshake_timeout(timeout),
            addr,
        )
    }

    async fn connect(
        pki: &Pki,
        addr: SocketAddr,
        alpn: &[&[u8]],
    ) -> io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let mut config = (*pki.client).clone();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        let tcp = TcpStream::connect(addr).await?;
        let name = ServerName::try_from("localhost").unwrap();
        TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
    }

    /// Accepts in a task until the test ends, echoing one line per connection and
    /// reporting each connection's peer address and negotiated ALPN.
    fn serve(
        mut listener: TlsListener<TcpListener>,
    ) -> tokio::sync::mpsc::UnboundedReceiver<(SocketAddr, Option<Vec<u8>>)> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                let (mut stream, addr) = listener.accept().await;
                let alpn = stream.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
                let _ = tx.send((addr, alpn));
                tokio::spawn(async move {
                    let mut buf = [0u8; 64];
                    if let Ok(n) = stream.read(&mut buf).await {
                        let _ = stream.write_all(&buf[..n]).await;
                        let _ = stream.flush().await;
                    }
                });
            }
        });
        rx
    }

    async fn echo(stream: &mut tokio_rustls::client::TlsStream<TcpStream>) -> Vec<u8> {
        stream.write_all(b"ping").await.unwrap();
        stream.flush().await.unwrap();
        let mut buf = vec![0u8; 4];
        stream.read_exact(&mut buf).await.unwrap();
        buf
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn alpn_negotiates_h2_when_offered_and_http1_otherwise() {
        let pki = pki();
        let (listener, addr) = listener(&pki, DEFAULT_HANDSHAKE_TIMEOUT).await;
        let mut accepted = serve(listener);

        let mut h2 = connect(&pki, addr, &[b"h2", b"http/1.1"]).await.unwrap();
        assert_eq!(h2.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        let (_, server_alpn) = accepted.recv().await.unwrap();
        assert_eq!(server_alpn.as_deref(), Some(&b"h2"[..]));
        assert_eq!(echo(&mut h2).await, b"ping");

        let mut h1 = connect(&pki, addr, &[b"http/1.1"]).await.unwrap();
        assert_eq!(h1.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
        assert_eq!(echo(&mut h1).await, b"ping");

        // A client offering no ALPN still gets TLS.
        let mut none = connect(&pki, addr, &[]).await.unwrap();
        assert_eq!(none.get_ref().1.alpn_protocol(), None);
        assert_eq!(echo(&mut none).await, b"ping");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_client_that_never_sends_a_hello_does_not_block_the_next() {
        let pki = pki();
        // A long timeout: only concurrency can let the second client through in time.
        let (listener, addr) = listener(&pki, Duration::from_secs(600)).await;
        let mut accepted = serve(listener);

        let mut silent = Vec::new();
        for _ in 0..3 {
            silent.push(TcpStream::connect(addr).await.unwrap());
        }
        // Give the listener time to take the silent ones in.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut client = tokio::time::timeout(PATIENCE, connect(&pki, addr, &[b"h2"]))
            .await
            .expect("the handshake was stalled by the silent clients")
            .unwrap();
        let local = client.get_ref().0.local_addr().unwrap();
        let (peer, _) = tokio::time::timeout(PATIENCE, accepted.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            peer, local,
            "the first connection accepted is the one that spoke"
        );
        assert_eq!(echo(&mut client).await, b"ping");
        drop(silent);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_handshake_past_its_timeout_is_closed_and_the_listener_goes_on() {
        let pki = pki();
        let (listener, addr) = listener(&pki, Duration::from_millis(300)).await;
        let mut accepted = serve(listener);

        let mut silent = TcpStream::connect(addr).await.unwrap();
        let mut buf = [0u8; 16];
        let read = tokio::time::timeout(PATIENCE, silent.read(&mut buf))
            .await
            .expect("the server closed the silent connection");
        assert!(matches!(read, Ok(0) | Err(_)), "got {read:?}");

        let mut client = connect(&pki, addr, &[b"http/1.1"]).await.unwrap();
        assert_eq!(echo(&mut client).await, b"ping");
        let (peer, _) = accepted.recv().await.unwrap();
        assert_eq!(peer, client.get_ref().0.local_addr().unwrap());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_handshake_never_ends_the_listener() {
        let pki = pki();
        let (listener, addr) = listener(&pki, DEFAULT_HANDSHAKE_TIMEOUT).await;
        let mut accepted = serve(listener);

        // Plain HTTP at a TLS port, then a client that trusts another certificate.
        let mut plain = TcpStream::connect(addr).await.unwrap();
        plain
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut sink = Vec::new();
        let _ = tokio::time::timeout(PATIENCE, plain.read_to_end(&mut sink)).await;
        let stranger = pki_with_client_of(&pki, &self::pki());
        assert!(connect(&stranger, addr, &[b"h2"]).await.is_err());

        let mut client = connect(&pki, addr, &[b"h2"]).await.unwrap();
        assert_eq!(echo(&mut client).await, b"ping");
        let (peer, _) = accepted.recv().await.unwrap();
        assert_eq!(peer, client.get_ref().0.local_addr().unwrap());
    }

    /// `server`'s certificate with `client`'s trust store.
    fn pki_with_client_of(server: &Pki, client: &Pki) -> Pki {
        Pki {
            cert_pem: server.cert_pem.clone(),
            key_pem: server.key_pem.clone(),
            client: client.client.clone(),
        }
    }

    #[test]
    fn config_errors_say_what_is_wrong() {
        let a = pki();
        let b = pki();
        let (cert, key) = (a.cert_pem.as_bytes(), a.key_pem.as_bytes());
        assert!(server_config_from_pem(cert, key).is_ok());

        let err = server_config_from_pem(b"", key).unwrap_err();
        assert!(matches!(err, TlsConfigError::NoCertificate), "{err:?}");
        // A key where the certificate should be: no certificate in it.
        let err = server_config_from_pem(key, key).unwrap_err();
        assert!(matches!(err, TlsConfigError::NoCertificate), "{err:?}");
        let err = server_config_from_pem(cert, cert).unwrap_err();
        assert!(matches!(err, TlsConfigError::NoPrivateKey), "{err:?}");
        assert!(err.to_string().contains("BEGIN PRIVATE KEY"), "{err}");

        let truncated = &cert[..cert.len() / 2];
        let err = server_config_from_pem(truncated, key).unwrap_err();
        assert!(
            matches!(
                err,
                TlsConfigError::Pem {
                    what: "certificate",
                    ..
                }
            ),
            "{err:?}"
        );

        let err = server_config_from_pem(cert, b.key_pem.as_bytes()).unwrap_err();
        assert!(matches!(err, TlsConfigError::Rustls(_)), "{err:?}");
        assert!(err.to_string().contains("key belongs"), "{err}");

        let err = server_config_from_pem_files("/nonexistent/cert.pem", "/nonexistent/key.pem")
            .unwrap_err();
        assert!(
            matches!(
                err,
                TlsConfigError::Read {
                    what: "certificate",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("/nonexistent/cert.pem"), "{err}");
    }

    #[test]
    fn alpn_offers_h2_and_http1_unless_the_config_names_its_own() {
        let a = pki();
        let config = server_config_from_pem(a.cert_pem.as_bytes(), a.key_pem.as_bytes()).unwrap();
        assert_eq!(
            config.alpn_protocols,
            [b"h2".to_vec(), b"http/1.1".to_vec()]
        );

        let mut own = (*config).clone();
        own.alpn_protocols = vec![b"http/1.1".to_vec()];
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = tcp.local_addr().unwrap();
            let mut listener = TlsListener::new(tcp, Arc::new(own));
            let server = tokio::spawn(async move { listener.accept().await.0 });
            let client = connect(&a, addr, &[b"h2", b"http/1.1"]).await.unwrap();
            assert_eq!(client.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
            let _ = server.await;
        });
    }
}
