//! Closing a TCP listener without resetting the connections in its queue.
//!
//! When a listening socket closes, the kernel resets every connection still in its
//! accept queue, and those clients may already have sent their request. Before the
//! tracked server closes a listener it bound itself, it attaches a socket filter
//! that drops incoming SYNs (Linux: classic BPF, `SO_ATTACH_FILTER`): handshakes
//! already under way still complete, new ones are not started (the client's SYN
//! goes unanswered and, once the process is gone, is refused). The server then
//! accepts and answers what is queued until the queue stays empty, and closes.
//! Other systems keep the kernel's behaviour: the queue is reset at close.

use std::io;

/// Stops the kernel from completing new handshakes on `listener`.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn stop_handshakes(listener: &tokio::net::TcpListener) -> io::Result<()> {
    use socket2::{SockFilter, SockRef};
    // Classic BPF over the TCP header (a socket filter sees the segment from the
    // transport header on): drop segments whose flags have SYN set and ACK clear.
    const LD_B_ABS: u16 = 0x30; // BPF_LD | BPF_B | BPF_ABS
    const AND_K: u16 = 0x54; // BPF_ALU | BPF_AND | BPF_K
    const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const RET_K: u16 = 0x06; // BPF_RET | BPF_K
    const TCP_FLAGS: u32 = 13;
    const SYN: u32 = 0x02;
    const ACK: u32 = 0x10;
    let program = [
        SockFilter::new(LD_B_ABS, 0, 0, TCP_FLAGS),
        SockFilter::new(AND_K, 0, 0, SYN | ACK),
        SockFilter::new(JEQ_K, 0, 1, SYN),
        SockFilter::new(RET_K, 0, 0, 0),
        SockFilter::new(RET_K, 0, 0, u32::MAX),
    ];
    SockRef::from(listener).attach_filter(&program)
}

/// Other systems: nothing to do (the queue is reset at close, as without winddown).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn stop_handshakes(listener: &tokio::net::TcpListener) -> io::Result<()> {
    let _ = listener;
    Ok(())
}

#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod tests {
    use std::time::Duration;

    use tokio::net::{TcpListener, TcpStream};

    #[tokio::test]
    async fn queued_connections_stay_and_new_handshakes_are_not_completed() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let queued = TcpStream::connect(addr).await.unwrap();
        super::stop_handshakes(&listener).unwrap();
        // The SYN is dropped: the connect neither succeeds nor is refused.
        let late = tokio::time::timeout(Duration::from_millis(300), TcpStream::connect(addr)).await;
        assert!(
            late.is_err(),
            "a handshake completed after stop_handshakes: {late:?}"
        );
        // What was queued before is still there to be answered.
        let (accepted, peer) = listener.accept().await.unwrap();
        assert_eq!(peer, queued.local_addr().unwrap());
        drop(accepted);
    }
}
