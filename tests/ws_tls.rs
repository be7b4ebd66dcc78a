//! WebSockets and TLS through the tracked server, with real clients: open sockets
//! get a close frame 1001 at intake close and never hold the drain; HTTPS serves
//! HTTP/1.1 and HTTP/2 (ALPN), finishes a request in flight at SIGTERM, and a
//! client that never sends its ClientHello does not hold the shutdown.

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

const EXE: &str = env!("CARGO_BIN_EXE_winddown-ws-tls");

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn start(scenario: &str, env: &[(&str, &str)]) -> (Proc, SocketAddr) {
    let mut p = Proc::start_bin(EXE, scenario, env);
    let addr = p.wait_for("listening on ").trim().parse().unwrap();
    p.wait_ready();
    (p, addr)
}

async fn next_message<S>(ws: &mut S) -> Message
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    match tokio::time::timeout(PATIENCE, ws.next()).await {
        Ok(Some(Ok(msg))) => msg,
        other => panic!("no message from the server: {other:?}"),
    }
}

#[test]
fn open_websockets_get_1001_at_intake_close_and_never_hold_the_drain() {
    let drain = Duration::from_millis(1500);
    let (mut p, addr) = start("ws", &[("DRAIN_MS", "1500"), ("GRACE_MS", "30000")]);
    let url = format!("ws://{addr}/ws");
    let (since_signal, silent) = runtime().block_on(async {
        let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
        // A second client that never reads again: it never answers the close.
        let (silent, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
        ws.send(Message::text("hello")).await.unwrap();
        assert_eq!(next_message(&mut ws).await, Message::text("hello"));
        p.wait_for("ws open");

        let signalled = Instant::now();
        p.signal(SIGTERM);
        // From the trigger the handler hears it is going away...
        assert_eq!(next_message(&mut ws).await, Message::text("going away"));
        assert!(signalled.elapsed() < drain, "{:?}", signalled.elapsed());
        // ...and keeps serving through the drain delay...
        ws.send(Message::text("still there?")).await.unwrap();
        assert_eq!(next_message(&mut ws).await, Message::text("still there?"));
        // ...until intake close, when winddown sends 1001 "going away".
        match next_message(&mut ws).await {
            Message::Close(Some(frame)) => {
                assert_eq!(frame.code, CloseCode::Away);
                assert_eq!(frame.reason.as_str(), "going away");
            }
            other => panic!("expected a close frame 1001, got {other:?}"),
        }
        let closed_at = signalled.elapsed();
        assert!(
            closed_at >= drain - Duration::from_millis(100),
            "{closed_at:?}"
        );
        // tungstenite answers the close; then the server closes the connection.
        let end = tokio::time::timeout(PATIENCE, ws.next()).await.unwrap();
        assert!(
            matches!(end, None | Some(Err(_))),
            "socket still open: {end:?}"
        );
        let ended_at = signalled.elapsed();
        eprintln!("websocket: 1001 at {closed_at:?}, closed at {ended_at:?} after SIGTERM");
        // It no longer holds anything once closed: within moments of intake close.
        assert!(ended_at < drain + Duration::from_secs(3), "{ended_at:?}");
        // A new upgrade after intake close is refused, retryably.
        match tokio_tungstenite::connect_async(&url).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(rsp)) => {
                assert_eq!(rsp.status(), 503)
            }
            other => panic!("expected 503 after intake close, got {other:?}"),
        }
        (signalled, silent)
    });
    assert_eq!(p.exit_code(), 0, "stderr:\n{}", p.stderr());
    let took = since_signal.elapsed();
    drop(silent);
    eprintln!("websocket shutdown: exit {took:?} after SIGTERM (drain delay {drain:?})");
    // Drain delay, then at most the close timeout (1 s) for the silent client and
    // its lingering close: far from the 30 s grace.
    assert!(took < Duration::from_secs(15), "exit took {took:?}");
    assert!(
        p.has_event("ws close from client Some(1001)"),
        "{:?}",
        p.events
    );
    p.assert_log("WebSocket handler still running after the close frame");
}

#[test]
fn the_streams_example_says_goodbye_to_its_websocket_and_ends_its_event_stream() {
    let mut p = Proc::example(
        "streams",
        &[("APP_ADDR", "127.0.0.1:0"), ("PROBES_ADDR", "127.0.0.1:0")],
    );
    let app: SocketAddr = p.wait_for("listening on http://").trim().parse().unwrap();
    let probes: SocketAddr = p.wait_for("probes on http://").trim().parse().unwrap();
    assert_eq!(wait_ready_status(probes, 200).status, 200);
    let events = std::thread::spawn(move || raw(app, b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n"));
    let signalled = runtime().block_on(async {
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{app}/ws"))
            .await
            .unwrap();
        ws.send(Message::text("ping")).await.unwrap();
        assert_eq!(next_message(&mut ws).await, Message::text("ping"));
        let signalled = Instant::now();
        p.signal(SIGTERM);
        assert_eq!(
            next_message(&mut ws).await,
            Message::text("server restarting")
        );
        match next_message(&mut ws).await {
            Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Away),
            other => panic!("expected a close frame 1001, got {other:?}"),
        }
        signalled
    });
    // The event stream ended by itself (chunked, terminated), between two events.
    let events = events
        .join()
        .unwrap()
        .expect("the event stream ends cleanly");
    assert!(events.contains("data: tick 0"), "{events}");
    assert!(events.ends_with("0\r\n\r\n"), "{events}");
    assert_eq!(p.exit_code(), 0, "stderr:\n{}", p.stderr());
    // The 3 s drain delay, then nothing left to wait for.
    let took = signalled.elapsed();
    assert!(took < Duration::from_secs(8), "exit took {took:?}");
}

/// A self-signed certificate for `localhost`, written as PEM files for the fixture,
/// and a client configuration that trusts it.
struct Pki {
    dir: PathBuf,
    client: ClientConfig,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let dir = std::env::temp_dir().join(format!("winddown-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("cert.pem"), ck.cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), ck.signing_key.serialize_pem()).unwrap();
        let mut roots = RootCertStore::empty();
        roots.add(ck.cert.der().clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let client = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Pki { dir, client }
    }

    fn path(&self, file: &str) -> String {
        self.dir.join(file).to_str().unwrap().to_owned()
    }

    async fn connect(
        &self,
        addr: SocketAddr,
        alpn: &[u8],
    ) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
        let mut config = self.client.clone();
        config.alpn_protocols = vec![alpn.to_vec()];
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let tls = TlsConnector::from(Arc::new(config))
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(alpn));
        tls
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn http1(
    pki: &Pki,
    addr: SocketAddr,
) -> hyper::client::conn::http1::SendRequest<Empty<Bytes>> {
    let io = TokioIo::new(pki.connect(addr, b"http/1.1").await);
    let (send, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
    tokio::spawn(conn);
    send
}

async fn http2(
    pki: &Pki,
    addr: SocketAddr,
) -> hyper::client::conn::http2::SendRequest<Empty<Bytes>> {
    let io = TokioIo::new(pki.connect(addr, b"h2").await);
    let (send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
        .await
        .unwrap();
    tokio::spawn(conn);
    send
}

fn request(path: &str) -> hyper::Request<Empty<Bytes>> {
    hyper::Request::get(format!("https://localhost{path}"))
        .body(Empty::new())
        .unwrap()
}

async fn read(rsp: hyper::Response<hyper::body::Incoming>) -> (u16, String) {
    let status = rsp.status().as_u16();
    let body = rsp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[test]
fn https_serves_http1_and_h2_finishes_in_flight_and_silent_handshakes_never_hold_it() {
    let pki = Pki::new("tls");
    let (cert, key) = (pki.path("cert.pem"), pki.path("key.pem"));
    let (mut p, addr) = start(
        "tls",
        &[("CERT", &cert), ("KEY", &key), ("DRAIN_MS", "500")],
    );
    let (since_signal, silent) = runtime().block_on(async {
        let mut h1 = http1(&pki, addr).await;
        let rsp = h1.send_request(request("/version")).await.unwrap();
        assert_eq!(read(rsp).await, (200, "HTTP/1.1".to_owned()));
        let mut h2 = http2(&pki, addr).await;
        let rsp = h2.send_request(request("/version")).await.unwrap();
        assert_eq!(read(rsp).await, (200, "HTTP/2.0".to_owned()));

        // Clients that open TCP and never send a ClientHello (the handshake
        // timeout is 10 s): they must not hold the shutdown.
        let mut silent = Vec::new();
        for _ in 0..3 {
            silent.push(tokio::net::TcpStream::connect(addr).await.unwrap());
        }
        // A request in flight at SIGTERM, on HTTP/1.1 and on HTTP/2.
        let slow1 = tokio::spawn(h1.send_request(request("/work?ms=2000")));
        let slow2 = tokio::spawn(h2.send_request(request("/work?ms=2001")));
        p.wait_for("work started ms=2000");
        p.wait_for("work started ms=2001");
        let signalled = Instant::now();
        p.signal(SIGTERM);
        let rsp = slow1.await.unwrap().unwrap();
        assert_eq!(read(rsp).await, (200, "done".to_owned()));
        let rsp = slow2.await.unwrap().unwrap();
        assert_eq!(read(rsp).await, (200, "done".to_owned()));
        (signalled, silent)
    });
    assert_eq!(p.exit_code(), 0, "stderr:\n{}", p.stderr());
    let took = since_signal.elapsed();
    drop(silent);
    eprintln!("https shutdown: exit {took:?} after SIGTERM");
    // 2 s of work and a 0.5 s drain delay; a silent handshake held would show
    // as its 10 s timeout.
    assert!(took < Duration::from_secs(8), "exit took {took:?}");
}
