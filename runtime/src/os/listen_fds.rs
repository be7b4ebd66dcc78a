//! Listeners the service manager passes (systemd socket activation: `LISTEN_FDS`,
//! `LISTEN_PID`, `LISTEN_FDNAMES`), read once through the `sd-notify` crate, and a
//! bind of `<NAME>_ADDR` or a default when none is passed.
//!
//! The sockets passed are remembered (descriptor and inode), so the tracked server
//! knows a listener outlives the process and leaves its queue to the successor.

use std::io;
use std::sync::{Mutex, OnceLock};

use tokio::net::TcpListener;
use tracing::{debug, info};

/// Why [`listener`](crate::listener) could not give a listener.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ListenError {
    /// `LISTEN_FDS`, `LISTEN_PID` or `LISTEN_FDNAMES` do not parse, or disagree.
    #[error(
        "the sockets passed by the service manager cannot be read: {0} (LISTEN_FDS, LISTEN_PID, \
         LISTEN_FDNAMES)"
    )]
    Environment(#[source] io::Error),
    /// A descriptor passed under this name is not a listening TCP socket.
    #[error(
        "the socket `{name}` passed by the service manager (fd {fd}) is {found}, not a listening \
         TCP socket: give it with ListenStream= (and Accept=no) in the .socket unit"
    )]
    NotAListener {
        /// The name asked for.
        name: String,
        /// The descriptor.
        fd: i32,
        /// What it is instead.
        found: String,
    },
    /// No socket was passed and the address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The name asked for.
        name: String,
        /// The address (`<NAME>_ADDR` or the default).
        addr: String,
        /// The operating system's error.
        source: io::Error,
    },
}

/// The address `name` binds when no socket is passed: the environment variable
/// `<NAME>_ADDR` (the name uppercased, `-` as `_`: `APP_ADDR` for `"app"`), or
/// `default`.
///
/// ```
/// // With APP_ADDR unset:
/// # unsafe { std::env::remove_var("APP_ADDR") };
/// assert_eq!(winddown::listen_addr("app", "127.0.0.1:8080"), "127.0.0.1:8080");
/// ```
pub fn listen_addr(name: &str, default: &str) -> String {
    std::env::var(env_key(name)).unwrap_or_else(|_| default.to_owned())
}

fn env_key(name: &str) -> String {
    let mut key: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    key.push_str("_ADDR");
    key
}

/// The listener named `name`: the socket the service manager passed under that
/// name (systemd's `FileDescriptorName=`), or, when none is, a fresh bind of
/// [`listen_addr`]`(name, default)`.
///
/// Passed sockets are read once per process (the first call, or the start of
/// [`Config::run_and_exit`](crate::Config::run_and_exit), which also removes
/// `LISTEN_FDS`, `LISTEN_PID` and `LISTEN_FDNAMES` from the environment so children
/// do not inherit them); `LISTEN_PID` must be this process. Without names (no
/// `LISTEN_FDNAMES`), each call takes the next passed socket in order. A passed
/// socket is made non-blocking and close-on-exec, and must be a listening TCP
/// socket, or the call fails with [`ListenError::NotAListener`].
///
/// An inherited listener outlives the process: at intake close the tracked server
/// stops accepting and leaves the queued connections to the next process (systemd
/// keeps the socket open across a restart), instead of answering them 503.
///
/// The probes server takes the socket named `probes` when there is one.
///
/// ```no_run
/// # async fn demo(svc: winddown::Service) -> Result<(), winddown::ListenError> {
/// let listener = winddown::listener("app", "127.0.0.1:8080").await?;
/// # let _ = (svc, listener);
/// # Ok(()) }
/// ```
pub async fn listener(name: &str, default: &str) -> Result<TcpListener, ListenError> {
    if let Some(listener) = take(name, true)? {
        return Ok(listener);
    }
    let addr = listen_addr(name, default);
    TcpListener::bind(&addr)
        .await
        .map_err(|source| ListenError::Bind {
            name: name.to_owned(),
            addr,
            source,
        })
}

/// The sockets passed to this process and not yet taken.
struct Passed {
    /// `(fd, name)`, in the order they were passed.
    left: Vec<(i32, String)>,
    /// Whether `LISTEN_FDNAMES` named them.
    named: bool,
}

static PASSED: OnceLock<Result<Mutex<Passed>, String>> = OnceLock::new();
/// `(fd, device, inode)` of every passed socket handed out as a listener.
static INHERITED: Mutex<Vec<(i32, u64, u64)>> = Mutex::new(Vec::new());

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Reads the passed sockets and removes the variables from the environment. Called
/// before the runtime starts its threads, where removing them is sound.
pub(crate) fn capture_before_threads() {
    PASSED.get_or_init(|| {
        // SAFETY: called from `run_and_exit` before the tokio runtime (or any thread
        // of ours) exists, so nothing reads the environment concurrently.
        #[cfg(feature = "systemd")]
        return read(|| {
            unsafe { sd_notify::listen_fds_with_names_and_unset_env() }.map(Vec::from_iter)
        });
        // Without the `systemd` feature no socket is inherited.
        #[cfg(not(feature = "systemd"))]
        read(|| Ok(Vec::new()))
    });
}

fn passed() -> &'static Result<Mutex<Passed>, String> {
    // Threads may run here: read without touching the environment (LISTEN_PID names
    // this process, so a child ignores what it inherits).
    PASSED.get_or_init(|| {
        #[cfg(feature = "systemd")]
        return read(|| sd_notify::listen_fds_with_names().map(Vec::from_iter));
        #[cfg(not(feature = "systemd"))]
        read(|| Ok(Vec::new()))
    })
}

fn read(
    fds: impl FnOnce() -> io::Result<Vec<(std::os::fd::RawFd, String)>>,
) -> Result<Mutex<Passed>, String> {
    let named = std::env::var_os("LISTEN_FDNAMES").is_some();
    match fds() {
        Ok(left) => {
            if !left.is_empty() {
                let names: Vec<&str> = left.iter().map(|(_, n)| n.as_str()).collect();
                debug!(
                    count = left.len(),
                    ?names,
                    "sockets passed by the service manager"
                );
            }
            Ok(Mutex::new(Passed { left, named }))
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Takes the passed socket named `name` (or, unnamed and `by_position`, the next
/// one) as a listener, if there is one.
pub(crate) fn take(name: &str, by_position: bool) -> Result<Option<TcpListener>, ListenError> {
    let passed = match passed() {
        Ok(p) => p,
        Err(e) => return Err(ListenError::Environment(io::Error::other(e.clone()))),
    };
    let fd = {
        let mut passed = lock(passed);
        let at = if passed.named {
            passed.left.iter().position(|(_, n)| n == name)
        } else if by_position && !passed.left.is_empty() {
            Some(0)
        } else {
            None
        };
        match at {
            Some(i) => passed.left.remove(i).0,
            None => return Ok(None),
        }
    };
    let listener = adopt(name, fd)?;
    info!(name, fd, addr = ?listener.local_addr().ok(), "listener inherited from the service manager");
    Ok(Some(listener))
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn adopt(name: &str, fd: i32) -> Result<TcpListener, ListenError> {
    use std::os::fd::{BorrowedFd, FromRawFd};

    use socket2::{Domain, SockRef, Type};

    let not = |found: String| ListenError::NotAListener {
        name: name.to_owned(),
        fd,
        found,
    };
    // SAFETY: `fd` was passed to this process (sd-notify checked LISTEN_PID and set
    // it close-on-exec) and is taken out of the registry once, so nothing else owns
    // it; it stays open while borrowed here.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let sock = SockRef::from(&borrowed);
    let kind = sock
        .r#type()
        .map_err(|e| not(format!("not a socket ({e})")))?;
    if kind != Type::STREAM {
        return Err(not(match kind {
            Type::DGRAM => "a datagram socket".into(),
            Type::SEQPACKET => "a seqpacket socket".into(),
            other => format!("a socket of type {other:?}"),
        }));
    }
    let domain = sock
        .domain()
        .map_err(|e| not(format!("unreadable ({e})")))?;
    if domain != Domain::IPV4 && domain != Domain::IPV6 {
        return Err(not(format!("a {domain:?} stream socket")));
    }
    if !sock.is_listener().unwrap_or(false) {
        return Err(not("a TCP socket that is not listening".into()));
    }
    sock.set_nonblocking(true)
        .and_then(|()| sock.set_cloexec(true))
        .map_err(|e| not(format!("unusable ({e})")))?;
    if let Some(id) = identity(fd) {
        lock(&INHERITED).push(id);
    }
    // SAFETY: checked above to be an open listening TCP socket, owned by no one else.
    let std = unsafe { std::net::TcpListener::from_raw_fd(fd) };
    TcpListener::from_std(std).map_err(|e| not(format!("unusable ({e})")))
}

/// Other systems: a passed descriptor is not checked (no `SO_ACCEPTCONN` there).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn adopt(name: &str, fd: i32) -> Result<TcpListener, ListenError> {
    use std::os::fd::FromRawFd;
    if let Some(id) = identity(fd) {
        lock(&INHERITED).push(id);
    }
    // SAFETY: passed to this process and taken out of the registry once.
    let std = unsafe { std::net::TcpListener::from_raw_fd(fd) };
    std.set_nonblocking(true)
        .and_then(|()| TcpListener::from_std(std))
        .map_err(|e| ListenError::NotAListener {
            name: name.to_owned(),
            fd,
            found: format!("unusable ({e})"),
        })
}

/// The socket's `(fd, device, inode)`: a descriptor number alone could be reused.
fn identity(fd: i32) -> Option<(i32, u64, u64)> {
    use std::os::fd::BorrowedFd;
    use std::os::unix::fs::MetadataExt;
    // SAFETY: the descriptor is open for the duration of the call (the caller holds
    // it); a duplicate is made, inspected and closed.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let file = std::fs::File::from(borrowed.try_clone_to_owned().ok()?);
    let meta = file.metadata().ok()?;
    Some((fd, meta.dev(), meta.ino()))
}

/// Whether `listener` is a socket the service manager passed to this process.
pub(crate) fn is_inherited(listener: &TcpListener) -> bool {
    use std::os::fd::AsRawFd;
    let fd = listener.as_raw_fd();
    let inherited = lock(&INHERITED);
    if inherited.is_empty() {
        return false;
    }
    identity(fd).is_some_and(|id| inherited.contains(&id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_keys_are_uppercased_names() {
        assert_eq!(env_key("app"), "APP_ADDR");
        assert_eq!(env_key("probes"), "PROBES_ADDR");
        assert_eq!(env_key("admin-api"), "ADMIN_API_ADDR");
    }

    #[tokio::test]
    async fn a_bound_listener_is_not_inherited() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        assert!(!is_inherited(&l));
    }
}
