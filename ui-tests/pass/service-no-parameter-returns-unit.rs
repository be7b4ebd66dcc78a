//! `async fn main()` with no parameter and no return value; keys left to defaults.
use winddown::{on_shutdown, service};

#[on_shutdown(order = 0, timeout = "250ms")]
async fn flush() {}

#[service(name = "minimal", on_shutdown = [flush])]
async fn main() {
    // Nothing to set up: the service waits for a signal. Here we stop it at once.
    send_sigterm_to_self();
}

fn send_sigterm_to_self() {
    std::thread::spawn(|| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        // SIGTERM to ourselves, as Kubernetes would send it.
        // SAFETY: kill(2) on our own pid with a valid signal number.
        assert_eq!(unsafe { libc::kill(libc::getpid(), libc::SIGTERM) }, 0);
    });
}
