//! What lies under HTTP: a connection's socket, as a small trait, and the
//! handle a protocol gets when a connection is handed to it whole.
//!
//! - [`Socket`]: a duplex byte stream read and written through `&self` (so a
//!   reader thread and a writer thread can share one), with shutdown and
//!   timeouts. `TcpStream` is one; [`pipe()`] makes an in-memory pair, so that
//!   the keep-alive loop and the WebSocket session can be tested without the
//!   network, and a wrapper can count or log what passes (the showcase counts
//!   its `/stats` this way).
//! - [`Connection`]: a socket handed to a protocol's code — after `101
//!   Switching Protocols` (WebSocket), or from its first byte (the TCP line
//!   protocol) — with the bytes already read and its [`Helpers`].
//! - [`Helpers`]: the threads a connection may start, counted against the
//!   server's limit.
//! - The few I/O rules every layer above shares: what a timeout looks like
//!   ([`is_timeout`]), a write bounded in time ([`write_all_before`],
//!   [`write_now`]), and a close that does not destroy its last words
//!   ([`close_after_reading`]).

pub mod pipe;

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use pipe::{pipe, PipeEnd};

/// A connection's byte stream, both ways, usable from several threads at once.
///
/// The methods are `std::net::TcpStream`'s, taking `&self` as `&TcpStream`
/// does, so that one thread can block reading while another writes. A timeout
/// that expires is an error for which [`is_timeout`] is true; end of input is a
/// read of 0 bytes.
pub trait Socket: Send + Sync + fmt::Debug {
    /// Reads some bytes into `buf`; 0 at end of input.
    ///
    /// # Errors
    ///
    /// A failed socket, or the read timeout expired ([`is_timeout`]).
    fn read(&self, buf: &mut [u8]) -> io::Result<usize>;

    /// Writes some of `buf` (at least one byte unless `buf` is empty).
    ///
    /// # Errors
    ///
    /// A failed socket, or the write timeout expired ([`is_timeout`]) before
    /// any byte was taken.
    fn write(&self, buf: &[u8]) -> io::Result<usize>;

    /// Shuts down reading, writing or both. Shutting reading ends a read
    /// blocked in another thread; shutting writing sends end of input to the
    /// peer (a TCP FIN).
    ///
    /// # Errors
    ///
    /// As the socket reports them; callers closing anyway ignore them.
    fn shutdown(&self, how: Shutdown) -> io::Result<()>;

    /// How long a read may block; `None` for ever.
    ///
    /// # Errors
    ///
    /// As the socket reports them.
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;

    /// How long a write may block; `None` for ever.
    ///
    /// # Errors
    ///
    /// As the socket reports them.
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;

    /// The write timeout set now.
    ///
    /// # Errors
    ///
    /// As the socket reports them.
    fn write_timeout(&self) -> io::Result<Option<Duration>>;

    /// This end's address.
    ///
    /// # Errors
    ///
    /// As the socket reports them; an in-memory pipe has none.
    fn local_addr(&self) -> io::Result<SocketAddr>;

    /// The peer's address.
    ///
    /// # Errors
    ///
    /// As the socket reports them; an in-memory pipe has none.
    fn peer_addr(&self) -> io::Result<SocketAddr>;

    /// Says what the connection carries: `Some(label)` when a request took a
    /// labelled route (the bytes of that request, already read, and all
    /// bytes until the next tag belong to it), `None` when a request took no
    /// labelled route (both told by the router) and when a response is done
    /// (told by the server; an upgraded connection keeps its tag until it
    /// closes). For a wrapper that counts or logs by route (the showcase's
    /// `/stats`); nothing by default.
    fn tag(&self, label: Option<&'static str>) {
        let _ = label;
    }
}

impl Socket for TcpStream {
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        Read::read(&mut &*self, buf)
    }

    fn write(&self, buf: &[u8]) -> io::Result<usize> {
        Write::write(&mut &*self, buf)
    }

    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        TcpStream::shutdown(self, how)
    }

    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_write_timeout(self, timeout)
    }

    fn write_timeout(&self) -> io::Result<Option<Duration>> {
        TcpStream::write_timeout(self)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        TcpStream::local_addr(self)
    }

    fn peer_addr(&self) -> io::Result<SocketAddr> {
        TcpStream::peer_addr(self)
    }
}

/// `&dyn Socket` reads like `&TcpStream`, so `read_exact`, `write_all` and the
/// rest of `std::io` work on a shared socket.
impl Read for &dyn Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Socket::read(*self, buf)
    }
}

impl Write for &dyn Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Socket::write(*self, buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(()) // a socket holds nothing back
    }
}

/// True for the two ways a socket timeout surfaces: `WouldBlock` on Unix
/// (`EAGAIN` from `SO_RCVTIMEO`/`SO_SNDTIMEO`) and `TimedOut` on Windows.
pub fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Writes all of `bytes` to `out`, retrying a write that timed out until
/// `deadline`: for a socket whose own write timeout is shorter than the
/// caller's patience (a subscription's socket, whose timeout bounds the
/// broadcaster's writes to a few milliseconds).
///
/// # Errors
///
/// The first error that is not a timeout, a timeout past `deadline`, or
/// `WriteZero`.
pub fn write_all_before(
    out: &mut impl Write,
    mut bytes: &[u8],
    deadline: Instant,
) -> io::Result<()> {
    while !bytes.is_empty() {
        match out.write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if is_timeout(&e) && Instant::now() < deadline => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// One write of `bytes` to `out`, however much of them it takes: a write that
/// timed out (or was interrupted) took none. For a socket whose write timeout
/// bounds how long the caller may block (a broadcaster's bounded write).
///
/// # Errors
///
/// Any error of `out` but a timeout or an interruption.
pub fn write_now(out: &mut impl Write, bytes: &[u8]) -> io::Result<usize> {
    match out.write(bytes) {
        Ok(written) => Ok(written),
        Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => Ok(0),
        Err(e) => Err(e),
    }
}

/// Closes a connection after its last words were written: sends end of input
/// (FIN), then reads and drops what the peer still sends, for up to `linger`
/// or until the peer closes too, and only then shuts the socket.
///
/// Closing a socket that has unread input makes the kernel answer with a
/// reset, and a reset can destroy the last response (a `503`, a WebSocket
/// close frame) before the peer has read it (RFC 9112 §9.6 describes this
/// "staged" close; RFC 6455 §7.1.1 has the server close TCP first for the same
/// reason).
pub fn close_after_reading(socket: &dyn Socket, linger: Duration) {
    let _ = socket.shutdown(Shutdown::Write);
    let deadline = Instant::now() + linger;
    // Small: this runs on a connection's own thread as it closes (a WebSocket
    // session's end), and a 4 KiB array here made each such thread touch one
    // more stack page (4 KiB resident) than it ever needs while it is open.
    // What a closing peer still sends is little, so more reads cost nothing.
    let mut sink = [0u8; 512];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if left.is_zero() || socket.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match socket.read(&mut sink) {
            Ok(1..) => {}
            _ => break,
        }
    }
    let _ = socket.shutdown(Shutdown::Both);
}

/// Whether the server serving a connection has begun to shut down: set once,
/// never cleared, read from any thread.
#[derive(Clone, Debug, Default)]
pub struct Stopping(Arc<AtomicBool>);

impl Stopping {
    /// A signal not set yet.
    pub fn new() -> Stopping {
        Stopping::default()
    }

    /// Sets it; returns whether it was set already.
    pub fn set(&self) -> bool {
        self.0.swap(true, Ordering::SeqCst)
    }

    /// True once shutdown has begun.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// A connection handed whole to a protocol's code: after `101 Switching
/// Protocols` ([`crate::http::Response::upgrade`]), or from its first byte
/// ([`crate::server::Server::serve_raw`]).
#[derive(Debug)]
pub struct Connection {
    /// The socket, shared so that a reader and a writer thread can use it at
    /// once without a second file descriptor.
    pub socket: Arc<dyn Socket>,
    /// Bytes the peer sent that the server already read (after an upgrade,
    /// the first bytes of the new protocol).
    pub leftover: Vec<u8>,
    /// Starts helper threads for this connection, within the server's limit.
    pub helpers: Helpers,
    /// Set when the server begins to shut down. The server then ends the
    /// connection's reads (a read returns end of input), so a protocol that
    /// sees its input end can look here to tell shutdown from a peer that
    /// left, and say goodbye (a WebSocket sends close 1001).
    pub stopping: Stopping,
}

/// The function behind [`Helpers`]: runs a job on a new thread, or refuses.
pub type HelperFn = dyn Fn(Box<dyn FnOnce() + Send>) -> io::Result<()> + Send + Sync;

/// Starts helper threads for a connection (a channel's broadcaster, a
/// subscriber's catch-up, an embedder's worker), within the limit the server
/// sets: every thread counts, because each costs memory mappings that a
/// process has only so many of.
#[derive(Clone)]
pub struct Helpers(Arc<HelperFn>);

impl Helpers {
    /// Wraps the server's spawning function.
    pub fn new(spawn: Arc<HelperFn>) -> Helpers {
        Helpers(spawn)
    }

    /// Helpers that start plain threads, with no limit: for a connection that
    /// no server counts (a test's, a client's).
    pub fn unlimited() -> Helpers {
        Helpers(Arc::new(|job: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new().spawn(job).map(drop)
        }))
    }

    /// Runs `job` on a new thread.
    ///
    /// # Errors
    ///
    /// `WouldBlock` at the server's thread limit, or the error of the thread's
    /// creation; the job is then not run.
    pub fn spawn(&self, job: impl FnOnce() + Send + 'static) -> io::Result<()> {
        (self.0)(Box::new(job))
    }

    /// The spawning function itself, as a channel subscription takes it
    /// ([`crate::hub::broadcast::Spawn`]).
    pub fn spawner(&self) -> Arc<HelperFn> {
        Arc::clone(&self.0)
    }

    /// These helpers, with `hook` run on the helper's thread when a job
    /// panics, before the server closes the connection: the place for a last
    /// word to the peer (a WebSocket sends close 1011 there). A helper's panic
    /// never reaches another connection: the server catches it, closes this
    /// connection's socket, and counts the thread as ended.
    pub fn on_panic(self, hook: impl Fn() + Send + Sync + 'static) -> Helpers {
        let hook = Arc::new(hook);
        let spawn = self.0;
        Helpers(Arc::new(move |job: Box<dyn FnOnce() + Send>| {
            let hook = Arc::clone(&hook);
            spawn(Box::new(move || {
                if let Err(panic) = panic::catch_unwind(AssertUnwindSafe(job)) {
                    hook();
                    panic::resume_unwind(panic);
                }
            }))
        }))
    }
}

impl fmt::Debug for Helpers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Helpers")
    }
}
