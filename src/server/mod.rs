//! The server: a listener, one thread per connection, keep-alive, limits,
//! timeouts and shutdown.
//!
//! ```text
//! accept loop ──TcpStream──▶ spawner ──▶ one thread per connection
//!   (only accepts)              │          read head ─▶ read body ─▶ handler
//!                               │              ▲                        │
//!                               │              └──── keep-alive ◀─ write response
//!                               └──▶ (at the limit) rejecter: 503, close
//! ```
//!
//! This file is the left half: accepting, limits, helper threads, shutdown.
//! What one connection's thread does with its requests — the keep-alive loop
//! — is `connection.rs`, whole; the limits are `config.rs`.
//!
//! # Why threads
//!
//! The thread that accepts a request owns the connection until it closes, so every
//! technique in this crate reads top to bottom as plain blocking code: a
//! long-poll is one `Condvar` wait, a stream is a loop of wait and write. The cost
//! is a thread per open connection: a stack ([`Config::stack_size`], 512 KiB
//! of address space by default, of which only the pages touched are ever
//! resident: 8 KiB for a held SSE stream), and a
//! bound ([`Config::max_connections`]) past which new clients get `503`.
//!
//! # The accept loop only accepts
//!
//! `std::net::TcpListener` listens with a backlog of 128 that std offers no way
//! to raise. If accepting also waited on anything slow (spawning a thread takes
//! tens of microseconds), a burst of connects would overflow the kernel's queue
//! and the dropped SYNs would come back a second later. So the accept loop hands
//! each stream to a spawner thread and goes straight back to `accept`; when
//! `accept` fails (out of file descriptors, say) it backs off briefly instead of
//! spinning.
//!
//! # Timeouts
//!
//! Every blocking read and write has one, so a dead or malicious peer never holds
//! a thread for ever (RFC 9112 §9.5 lets a server close idle connections):
//!
//! - [`Config::idle_timeout`]: waiting for the first byte of a request; on
//!   expiry the connection closes quietly.
//! - [`Config::header_timeout`]: from the first byte of a request to the end of
//!   its head — an absolute deadline, so a client dripping one byte at a time
//!   (slowloris) is cut off too; on expiry, `408` and close.
//! - [`Config::body_timeout`]: the same for the body.
//! - [`Config::write_timeout`]: each write; a peer that stops reading is dropped.
//!
//! Unix reports an expired socket timeout as `WouldBlock`, Windows as
//! `TimedOut`; both count ([`crate::net::is_timeout`]).
//!
//! # Shutdown
//!
//! [`ShutdownHandle::shutdown`] stops accepting, runs the `on_shutdown` hooks
//! and the handler's own ([`Handler::on_shutdown`]: a router holding
//! [`Endpoints`](crate::endpoints::Endpoints) closes their hub there, which
//! wakes every long-poll and stream at once), and ends the reads of every
//! connection (a WebSocket session then says 1001). Each connection thread then
//! finishes the response it is writing and closes; [`Server::serve`] waits for
//! them and their helper threads up to [`Config::shutdown_timeout`], cuts off
//! any still open, and returns what it cut ([`Stopped`]).
//!
//! # Examples
//!
//! ```
//! use realtime_web::http::{Request, Response};
//! use realtime_web::server::{Config, Server};
//! use std::io::{Read, Write};
//!
//! let server = Server::bind("127.0.0.1:0", Config::default()).unwrap();
//! let addr = server.local_addr();
//! let shutdown = server.shutdown_handle();
//! let running = std::thread::spawn(move || server.serve(|_: Request| Response::text("hi")));
//!
//! let mut client = std::net::TcpStream::connect(addr).unwrap();
//! client.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
//! let mut reply = String::new();
//! client.read_to_string(&mut reply).unwrap();
//! assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"));
//! assert!(reply.ends_with("\r\n\r\nhi"));
//!
//! shutdown.shutdown();
//! running.join().unwrap().unwrap();
//! ```

mod config;
mod connection;

pub use config::Config;

use crate::http::response::Framing;
use crate::http::{Handler, Response, Version};
use crate::net::{close_after_reading, Connection, Helpers, Socket, Stopping};
use crate::sync::lock;
use std::collections::HashMap;
use std::fmt;
use std::io::{self, Write};
use std::net::{
    IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs,
};
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Duration;
/// How many threads accept connections. `std` listens with a backlog of 128,
/// and a burst of connects overflows it (the kernel drops the SYNs, which come
/// back a second later) whenever no accepting thread gets the processor, which
/// thousands of new connection threads compete for. Measured with 5,000
/// long-pollers connecting at once (the shared harness's burst, on 2 cores):
/// one thread lost 514 SYNs and took 4.2 s; four lost 128–256 and took
/// 1.2–2.2 s; sixteen lost none and took 0.3 s in one run, 386 and 3.2 s in
/// the next. Each is one blocked thread while idle.
const ACCEPTORS: usize = 16;

/// How long shutdown's own connection to an accepting thread may take.
const WAKE_TIMEOUT: Duration = Duration::from_secs(1);

/// How long `serve` waits for the threads of connections it cut off to end.
const CUT_GRACE: Duration = Duration::from_secs(1);

/// How many refused connections may wait for their `503` at once; past it they
/// are closed without one.
const REJECT_QUEUE: usize = 64;
/// How long the rejecter spends on one refused connection, at most.
const REJECT_TIMEOUT: Duration = Duration::from_millis(200);

/// A bound listener, ready to [`serve`](Server::serve).
pub struct Server {
    listener: TcpListener,
    config: Arc<Config>,
    shared: Arc<Shared>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.shared.addr)
            .field("config", &self.config)
            .finish()
    }
}

/// What the accept loop, the spawner, the connection threads and the shutdown
/// handle share.
struct Shared {
    addr: SocketAddr,
    stopping: Stopping,
    on_shutdown: Mutex<Vec<Box<dyn FnOnce() + Send>>>,
    connections: Mutex<Connections>,
    /// Signalled when the last connection or helper thread ends.
    all_closed: Condvar,
}

/// The open connections, so that shutdown can reach the idle ones, and the
/// helper threads running for them.
#[derive(Default)]
struct Connections {
    open: HashMap<u64, Arc<TcpStream>>,
    next_id: u64,
    helpers: usize,
}

impl Connections {
    /// Connection threads and helper threads.
    fn threads(&self) -> usize {
        self.open.len() + self.helpers
    }
}

impl Shared {
    fn stopping(&self) -> bool {
        self.stopping.is_set()
    }
}

/// Stops a running server from any thread. Cloneable.
#[derive(Clone)]
pub struct ShutdownHandle {
    shared: Arc<Shared>,
}

impl fmt::Debug for ShutdownHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownHandle")
            .field("addr", &self.shared.addr)
            .field("stopping", &self.shared.stopping())
            .finish()
    }
}

impl ShutdownHandle {
    /// Starts shutdown (see the module docs) and returns at once; `serve`
    /// returns when it is done. Calling it again does nothing.
    pub fn shutdown(&self) {
        if self.shared.stopping.set() {
            return;
        }
        let hooks = std::mem::take(&mut *lock(&self.shared.on_shutdown));
        for hook in hooks {
            hook();
        }
        // std's accept cannot be interrupted; a connection of our own wakes
        // each accepting thread.
        for _ in 0..ACCEPTORS {
            let wake = wake_address(self.shared.addr);
            let _ = TcpStream::connect_timeout(&wake, WAKE_TIMEOUT);
        }
        // Idle connections are blocked in a read: end it. A thread in the middle
        // of a reply (a long-poll just woken by the hooks) still writes it.
        for stream in lock(&self.shared.connections).open.values() {
            let _ = stream.shutdown(Shutdown::Read);
        }
    }

    /// True once shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.shared.stopping()
    }

    /// How many connections are open now.
    pub fn open_connections(&self) -> usize {
        lock(&self.shared.connections).open.len()
    }

    /// How many threads the server runs for connections now: one per open
    /// connection, and helpers such as channel broadcasters.
    pub fn threads(&self) -> usize {
        lock(&self.shared.connections).threads()
    }
}

/// The address that reaches a listener bound to `addr` (the loopback address if
/// it listens on all interfaces).
fn wake_address(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

impl Server {
    /// Binds a listener to `addr` (port 0 picks a free port; see
    /// [`Server::local_addr`]).
    ///
    /// # Errors
    ///
    /// The error of `TcpListener::bind`, such as `AddrInUse`.
    pub fn bind(addr: impl ToSocketAddrs, config: Config) -> io::Result<Server> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        Ok(Server {
            listener,
            config: Arc::new(config),
            shared: Arc::new(Shared {
                addr,
                stopping: Stopping::new(),
                on_shutdown: Mutex::new(Vec::new()),
                connections: Mutex::new(Connections::default()),
                all_closed: Condvar::new(),
            }),
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// A handle that stops the server from another thread.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Runs `hook` when shutdown begins, before connections are ended: the place
    /// to close a [`crate::hub::Hub`] that no router closes (one served only
    /// through hand-mounted transports), so that its waiters answer at once.
    pub fn on_shutdown(&self, hook: impl FnOnce() + Send + 'static) {
        lock(&self.shared.on_shutdown).push(Box::new(hook));
    }

    /// Accepts connections and answers their requests with `handler` until
    /// shutdown. When shutdown begins, the handler's own shutdown hook runs
    /// ([`Handler::on_shutdown`]: a router built with
    /// [`Endpoints`](crate::endpoints::Endpoints) closes its hub there, so
    /// every waiting client is answered at once); then `serve` waits for
    /// every connection thread and helper thread to end, cuts off what is
    /// left at [`Config::shutdown_timeout`], and returns what it had to cut.
    ///
    /// # Errors
    ///
    /// Only if a helper thread cannot be started at all; errors of single
    /// connections never end the server.
    pub fn serve(self, handler: impl Handler) -> io::Result<Stopped> {
        let handler: Arc<dyn Handler> = Arc::new(handler);
        let closing = Arc::clone(&handler);
        self.on_shutdown(move || closing.on_shutdown());
        self.run(Protocol::Http(handler))
    }

    /// Like [`Server::serve`], for a protocol that is not HTTP: each connection
    /// is handed whole to `handler` on its own thread (as a [`Connection`],
    /// with nothing read yet), under the same limits, write timeout and shutdown. A
    /// connection past a limit is closed without a word, since there is no
    /// HTTP to say `503` in.
    ///
    /// # Errors
    ///
    /// As [`Server::serve`].
    pub fn serve_raw(
        self,
        handler: impl Fn(Connection) + Send + Sync + 'static,
    ) -> io::Result<Stopped> {
        self.run(Protocol::Raw(Arc::new(handler)))
    }

    /// Accepts connections and hands them to the spawner until shutdown.
    fn accept_loop(&self, accepted: mpsc::Sender<TcpStream>) {
        while !self.shared.stopping() {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if self.shared.stopping() || accepted.send(stream).is_err() {
                        break;
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                    ) => {}
                Err(_) => thread::sleep(self.config.accept_backoff),
            }
        }
    }

    fn run(self, protocol: Protocol) -> io::Result<Stopped> {
        let (reject_tx, reject_rx) = mpsc::sync_channel(REJECT_QUEUE);
        let rejecter = thread::Builder::new()
            .name("rtw-rejecter".into())
            .spawn(move || reject_loop(reject_rx))?;
        let (accepted_tx, accepted_rx) = mpsc::channel();
        let spawner = {
            let (shared, config) = (Arc::clone(&self.shared), Arc::clone(&self.config));
            thread::Builder::new()
                .name("rtw-spawner".into())
                .spawn(move || spawn_loop(accepted_rx, reject_tx, protocol, config, shared))?
        };

        // Several threads block in `accept` on the one listener: the kernel
        // hands each connection to one of them, so the queue drains while any
        // of them gets the processor (see ACCEPTORS).
        thread::scope(|scope| {
            for _ in 1..ACCEPTORS {
                let accepted = accepted_tx.clone();
                let _ = thread::Builder::new()
                    .name("rtw-acceptor".into())
                    .spawn_scoped(scope, || self.accept_loop(accepted));
            }
            self.accept_loop(accepted_tx);
        });
        drop(self.listener);
        let _ = spawner.join();
        let _ = rejecter.join();

        let shared = &self.shared;
        let connections = wait_for_threads(
            shared,
            lock(&shared.connections),
            self.config.shutdown_timeout,
        );
        // Past the deadline, cut off whoever is left: their reads and writes
        // fail, and their threads end.
        let cut = connections.open.len();
        for stream in connections.open.values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
        let connections = wait_for_threads(shared, connections, CUT_GRACE);
        Ok(Stopped {
            cut,
            threads_left: connections.threads(),
        })
    }
}

/// Waits until no connection thread or helper thread runs, for `limit` at
/// most.
fn wait_for_threads<'a>(
    shared: &Shared,
    connections: MutexGuard<'a, Connections>,
    limit: Duration,
) -> MutexGuard<'a, Connections> {
    shared
        .all_closed
        .wait_timeout_while(connections, limit, |c| c.threads() > 0)
        .unwrap_or_else(PoisonError::into_inner)
        .0
}

/// How a server's shutdown ended: what [`Server::serve`] returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stopped {
    /// Connections still open at [`Config::shutdown_timeout`], which the
    /// server then cut off.
    pub cut: usize,
    /// Threads of the server's still running when `serve` returned (0
    /// unless a thread outlived the grace after the cut, such as a handler
    /// that never reads or writes its socket).
    pub threads_left: usize,
}

/// What the server speaks on its connections.
#[derive(Clone)]
enum Protocol {
    /// HTTP/1.1 requests, answered by a handler.
    Http(Arc<dyn Handler>),
    /// Anything else: the connection is the handler's from its first byte.
    Raw(Arc<dyn Fn(Connection) + Send + Sync>),
}

/// Takes accepted streams from the accept loop and starts a thread for each, or
/// hands it to the rejecter at the connection limit.
fn spawn_loop(
    accepted: Receiver<TcpStream>,
    reject: SyncSender<TcpStream>,
    protocol: Protocol,
    config: Arc<Config>,
    shared: Arc<Shared>,
) {
    for stream in accepted {
        if shared.stopping() {
            continue; // dropped: closed
        }
        let stream = Arc::new(stream);
        let Some(id) = register(&shared, &stream, &config) else {
            if matches!(protocol, Protocol::Http(_)) {
                refuse(&reject, stream);
            }
            continue;
        };
        let thread = {
            let (stream, protocol, config, shared) = (
                Arc::clone(&stream),
                protocol.clone(),
                Arc::clone(&config),
                Arc::clone(&shared),
            );
            thread::Builder::new()
                .name(format!("rtw-conn-{id}"))
                .stack_size(config.stack_size)
                .spawn(move || {
                    let _registered = Registered {
                        id,
                        shared: &shared,
                    };
                    let helpers = helpers(&shared, &config, id, &stream);
                    let _ = stream.set_nodelay(true);
                    let socket: Arc<dyn Socket> = stream;
                    match protocol {
                        Protocol::Http(handler) => connection::serve(
                            handler.wrap_socket(socket),
                            &*handler,
                            &config,
                            &shared.stopping,
                            helpers,
                        ),
                        Protocol::Raw(handler) => {
                            let _ = socket.set_write_timeout(Some(config.write_timeout));
                            let connection = Connection {
                                socket,
                                leftover: Vec::new(),
                                helpers,
                                stopping: shared.stopping.clone(),
                            };
                            // The protocol's code is the embedder's: a panic in it
                            // ends this connection, never the server.
                            let _ = panic::catch_unwind(AssertUnwindSafe(|| handler(connection)));
                        }
                    }
                })
        };
        if thread.is_err() {
            // No thread to be had (the system's limit): refuse like at our own.
            forget_connection(&shared, id);
            if matches!(protocol, Protocol::Http(_)) {
                refuse(&reject, stream);
            }
        }
    }
}

/// Adds a connection to the registry unless that would pass a limit; returns
/// its id.
fn register(shared: &Shared, stream: &Arc<TcpStream>, config: &Config) -> Option<u64> {
    let mut connections = lock(&shared.connections);
    if connections.open.len() >= config.max_connections
        || connections.threads() >= config.max_threads
    {
        return None;
    }
    let id = connections.next_id;
    connections.next_id += 1;
    connections.open.insert(id, Arc::clone(stream));
    Some(id)
}

/// Queues a connection for the rejecter's `503`. When the queue is full the
/// stream is dropped, which closes it without a word: under a flood, answering
/// every refused client would itself be the flood's work.
fn refuse(reject: &SyncSender<TcpStream>, stream: Arc<TcpStream>) {
    // Unregistered (or its thread never started), so this is the only reference.
    if let Ok(stream) = Arc::try_unwrap(stream) {
        let _ = reject.try_send(stream);
    }
}

/// The [`Helpers`] of a connection: a thread counted against the limit, named
/// after the connection, with the connection threads' stack size. A helper that
/// panics is caught like a handler: the connection it serves is closed (its
/// state is unknown), its thread is uncounted, and nothing else is touched.
fn helpers(
    shared: &Arc<Shared>,
    config: &Arc<Config>,
    id: u64,
    stream: &Arc<TcpStream>,
) -> Helpers {
    let (shared, config, stream) = (Arc::clone(shared), Arc::clone(config), Arc::clone(stream));
    Helpers::new(Arc::new(move |job: Box<dyn FnOnce() + Send>| {
        {
            let mut connections = lock(&shared.connections);
            if connections.threads() >= config.max_threads {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    "thread limit reached",
                ));
            }
            connections.helpers += 1;
        }
        let (done, stream) = (Arc::clone(&shared), Arc::clone(&stream));
        let spawned = thread::Builder::new()
            .name(format!("rtw-help-{id}"))
            .stack_size(config.stack_size)
            .spawn(move || {
                let _counted = Helper(&done);
                if panic::catch_unwind(AssertUnwindSafe(job)).is_err() {
                    // Both ways: the connection's own thread, blocked in a read,
                    // sees the end and finishes too.
                    let _ = stream.shutdown(Shutdown::Both);
                }
            });
        if let Err(error) = spawned {
            forget_helper(&shared);
            return Err(error);
        }
        Ok(())
    }))
}

/// Uncounts a helper thread when it ends, however it ends.
struct Helper<'a>(&'a Shared);

impl Drop for Helper<'_> {
    fn drop(&mut self) {
        forget_helper(self.0);
    }
}

fn forget_helper(shared: &Shared) {
    let mut connections = lock(&shared.connections);
    connections.helpers -= 1;
    if connections.threads() == 0 {
        shared.all_closed.notify_all();
    }
}

/// Removes a connection from the registry when its thread ends, however it ends.
struct Registered<'a> {
    id: u64,
    shared: &'a Shared,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        forget_connection(self.shared, self.id);
    }
}

fn forget_connection(shared: &Shared, id: u64) {
    let mut connections = lock(&shared.connections);
    connections.open.remove(&id);
    if connections.threads() == 0 {
        shared.all_closed.notify_all();
    }
}

/// Answers connections past the limit with `503`. It reads what the client sent
/// before closing: closing a socket with unread input makes the kernel send a
/// reset, which can destroy the `503` before the client reads it.
fn reject_loop(streams: Receiver<TcpStream>) {
    for stream in streams {
        let _ = stream.set_write_timeout(Some(REJECT_TIMEOUT));
        let response = Response::error(503, "connection limit reached").close();
        let mut out = Vec::new();
        let body = response.body_bytes().unwrap_or_default();
        response.write_head(&mut out, Version::Http11, Framing::Length(body.len()), true);
        out.extend_from_slice(body);
        if (&stream).write_all(&out).is_ok() {
            close_after_reading(&stream, REJECT_TIMEOUT);
        }
    }
}
