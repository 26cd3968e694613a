//! One HTTP/1.1 connection, whole: read a request, write its response, keep
//! alive or close (RFC 9112 §9.3).
//!
//! ```text
//! read head ─▶ read body ─▶ handler ─▶ write response ─┐
//!     ▲                                                │ keep-alive
//!     └────────────────────────────────────────────────┘
//! ```
//!
//! Pipelined requests are answered in order because one thread reads and
//! answers them one by one: bytes read past a request stay in the buffer as
//! the start of the next. Every refusal (a request that breaks a rule, a
//! limit, a timeout) answers its status and closes, since after a request
//! that could not be read the next one cannot be found.
//!
//! The loop runs over any [`Socket`], so its tests use an in-memory pipe.

use super::Config;
use crate::codec::Parsed;
use crate::http::chunked::{self, Encoder};
use crate::http::request;
use crate::http::response::{
    status_has_body, BodyWriter, Framing, StreamConnection, StreamFn, UpgradeFn,
};
use crate::http::{Body, BodyKind, Error, Handler, Request, Response, Version};
use crate::net::{is_timeout, Connection, Helpers, Socket, Stopping};
use std::io::{self, Write};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How many bytes one `read` asks for at least, read straight into the
/// connection's buffer. Small, because a connection keeps that buffer while it
/// waits (an idle keep-alive, a long-poll in its handler): 1 KiB holds most
/// request heads, and glibc's malloc keeps a freed block this small in the
/// thread's cache anyway. A buffer grown past it (a large head or body) is
/// read into whole, so big requests still take few `read`s.
const READ_CHUNK: usize = 1024;

/// What the first `read` of a connection asks for: a buffer never grown
/// stays this small for the connection's life. Most API clients' heads fit
/// (a long-poll's is about 110 bytes), and a browser's (500–800 bytes) may
/// take one more `read` on its first request, which grows the buffer past
/// [`READ_CHUNK`] for every request after it.
const FIRST_READ: usize = 512;

/// The line ends a head may hold besides its request line and fields: the
/// request line's CRLF, the blank line's, and the empty lines a client may
/// send first (RFC 9112 §2.2; two are skipped).
const HEAD_LINE_ENDS: usize = 2 + 2 + 2 * 2;

/// Why a connection stops reading requests.
enum Stop {
    /// Answer with this error, then close (RFC 9112: after a request that could
    /// not be read, the next one cannot be found).
    Refuse(Error),
    /// Close without a word: the peer left, went idle, or the server is stopping.
    Quietly,
}

/// One connection's state between requests: its socket and the bytes read but
/// not yet used (the start of the next pipelined request).
struct KeepAlive<'a> {
    socket: Arc<dyn Socket>,
    buf: Vec<u8>,
    /// The read timeout set on the socket now, to set it again only when it
    /// is far off the time left (a `setsockopt` per request costs a third of
    /// a keep-alive request's system calls).
    read_timeout: Option<Duration>,
    helpers: Helpers,
    config: &'a Config,
    stopping: &'a Stopping,
}

/// Serves HTTP requests on `socket` with `handler` until either side closes,
/// a request is refused, or `stopping` is set while the connection is idle;
/// then runs the new protocol if the last response switched to one.
/// The socket's write timeout is set here; the caller has set `TCP_NODELAY`.
pub(super) fn serve(
    socket: Arc<dyn Socket>,
    handler: &dyn Handler,
    config: &Config,
    stopping: &Stopping,
    helpers: Helpers,
) {
    // The upgraded protocol runs here, after `serve_requests` has returned:
    // run from inside it, a WebSocket session waited under that loop's frame,
    // the router's and the handler's, 9,472 bytes deep, in a third stack
    // page (measured with 5,000 held WebSocket subscribers; with this and
    // the handshake's cuts, 8,160 bytes: two pages, 4 KiB less each).
    if let Some(upgraded) = serve_requests(socket, handler, config, stopping, helpers) {
        upgraded.run();
    }
}

/// A `101` written, the new protocol still to run on the connection. Boxed
/// where it is passed up, so that it takes 8 bytes, not 100, in the frames of
/// [`serve_requests`] and [`serve`], which every connection's stack holds.
struct Upgraded {
    upgrade: UpgradeFn,
    connection: Connection,
    /// The `101`, its body taken, kept until the new protocol ends: what it
    /// holds (its route hook's guard) lasts as long as the connection's
    /// protocol, as when that ran inside `write_response`. The route's tag on
    /// the socket is not cleared: it lasts until the connection closes.
    /// (Clearing it here, with the socket kept in this frame, pushed
    /// WebSocket sessions, whose deepest path is just under two stack pages,
    /// into a third: 8.2 KiB resident a thread instead of 8.0, measured with
    /// `examples/stack_cost.rs`.)
    response: Response,
}

impl Upgraded {
    /// Never inlined: in [`serve`], its unwinding guard took room in a frame
    /// under every handler (serve's grew from 0 to 200 bytes).
    #[inline(never)]
    // Boxed, so that [`serve`] does not unbox it into its own frame.
    #[allow(clippy::boxed_local)]
    fn run(self: Box<Self>) {
        let Upgraded {
            upgrade,
            connection,
            response,
        } = *self;
        // The new protocol's code is the embedder's: a panic in it ends this
        // connection, never the server.
        let _ = panic::catch_unwind(AssertUnwindSafe(|| upgrade(connection)));
        drop(response);
    }
}

/// What a connection does after a response.
enum Next {
    KeepAlive,
    Close,
    Upgrade(Box<Upgraded>),
}

/// The keep-alive loop of [`serve`]; returns the upgrade a response asked for.
#[inline(never)]
fn serve_requests(
    socket: Arc<dyn Socket>,
    handler: &dyn Handler,
    config: &Config,
    stopping: &Stopping,
    helpers: Helpers,
) -> Option<Box<Upgraded>> {
    let _ = socket.set_write_timeout(Some(config.write_timeout));
    let mut conn = KeepAlive {
        socket,
        buf: Vec::new(),
        read_timeout: None,
        helpers,
        config,
        stopping,
    };
    loop {
        let request = match conn.read_request(handler) {
            Ok(request) => request,
            Err(Stop::Refuse(error)) => {
                let _ = conn.write_response(refusal(error), Version::Http11, false, true);
                return None;
            }
            Err(Stop::Quietly) => return None,
        };
        let version = request.version();
        let head_only = request.method() == "HEAD";
        let keep_alive = request.keep_alive();
        let response = panic::catch_unwind(AssertUnwindSafe(|| handler.handle_boxed(request)))
            .unwrap_or_else(|_| internal_error());
        let close = !keep_alive || response.closes() || stopping.is_set();
        let next = conn.write_response(response, version, head_only, close);
        // The response is done, and so is its route's tag (`Socket::tag`);
        // an upgraded connection's lasts until it closes.
        match next {
            Ok(Next::KeepAlive) => conn.socket.tag(None),
            Ok(Next::Upgrade(upgraded)) => return Some(upgraded),
            Ok(Next::Close) | Err(_) => {
                conn.socket.tag(None);
                return None;
            }
        }
    }
}

/// The reply to a request that could not be read. Apart, with
/// [`internal_error`], so that building these rare responses takes no room
/// in [`serve`]'s frame, which stays on the stack while a handler waits.
#[cold]
#[inline(never)]
fn refusal(error: Error) -> Response {
    Response::refusal(error)
}

/// The reply when a handler panicked.
#[cold]
#[inline(never)]
fn internal_error() -> Response {
    Response::error(500, "internal error").close()
}

impl KeepAlive<'_> {
    /// Reads one request, head and body; the body only if it is within what
    /// `handler` accepts for that head.
    ///
    /// Never inlined, like [`write_response`](Self::write_response): inlined,
    /// their locals (the parser's results, the response head) would sit in
    /// [`serve`]'s frame, which stays on the stack while a handler waits
    /// (a long-poll, a stream). Each of a waiting thread's stack pages is
    /// 4 KiB resident per connection; see `Config::stack_size`.
    ///
    /// Boxed, and handed on boxed ([`Handler::handle_boxed`]), so that
    /// [`serve_requests`]' frame, under every handler, holds no copy of the
    /// 200-byte request, where it would hold up to three (this result, the
    /// local, the handler's argument), for one small allocation per request.
    #[inline(never)]
    fn read_request(&mut self, handler: &dyn Handler) -> Result<Box<Request>, Stop> {
        let mut request = self.read_head()?;
        let max_body = handler
            .max_body_for(&request)
            .map_or(self.config.limits.max_body, |max| {
                max.min(self.config.limits.max_body)
            });
        let body = self.read_body(&request, max_body)?;
        request.set_body(body);
        request.set_socket(Arc::clone(&self.socket));
        Ok(Box::new(request))
    }

    /// Reads until a whole head has arrived, and parses it.
    fn read_head(&mut self) -> Result<Request, Stop> {
        let limits = &self.config.limits;
        // Past this many bytes a head is over a limit for sure, wherever its lines
        // end; the parser then says which.
        let max_head = limits.max_request_line + limits.max_header_bytes + HEAD_LINE_ENDS;
        let idle_deadline = Instant::now() + self.config.idle_timeout;
        let mut head_deadline = None;
        // Parse only when a line may have ended: a client dripping a byte at a
        // time must not make the server re-read its head on every byte.
        let mut may_be_complete = !self.buf.is_empty();
        loop {
            if !self.buf.is_empty() {
                head_deadline.get_or_insert_with(|| Instant::now() + self.config.header_timeout);
                if may_be_complete {
                    match request::parse(&self.buf, limits) {
                        Ok(Parsed::Complete { value, consumed }) => {
                            self.buf.drain(..consumed);
                            return Ok(value);
                        }
                        Ok(Parsed::NeedMore) if self.buf.len() > max_head => {
                            return Err(Stop::Refuse(Error::HeadersTooLarge))
                        }
                        Ok(Parsed::NeedMore) => {}
                        Err(error) => return Err(Stop::Refuse(error)),
                    }
                }
            } else if self.stopping.is_set() {
                return Err(Stop::Quietly);
            }
            let start = self.buf.len();
            match self.fill(head_deadline.unwrap_or(idle_deadline)) {
                Ok(0) => return Err(Stop::Quietly),
                Ok(_) => {
                    may_be_complete =
                        self.buf[start..].contains(&b'\n') || self.buf.len() > max_head;
                }
                Err(e) if is_timeout(&e) && head_deadline.is_some() => {
                    return Err(Stop::Refuse(Error::HeaderTimeout))
                }
                Err(_) => return Err(Stop::Quietly),
            }
        }
    }

    /// Reads the body as the head frames it (RFC 9112 §6.3), after answering
    /// `Expect: 100-continue` if the client waits for it. A `Content-Length`
    /// over `max_body` is refused before anything is read or invited: RFC 9110
    /// §10.1.1 has a server that will refuse the content answer with the final
    /// status at once, and the connection then closes, since the unread body
    /// stands where the next request would start.
    fn read_body(&mut self, request: &Request, max_body: usize) -> Result<Vec<u8>, Stop> {
        let kind = request.body_kind();
        match kind {
            BodyKind::None => return Ok(Vec::new()),
            BodyKind::Length(length) if length > max_body as u64 => {
                return Err(Stop::Refuse(Error::BodyTooLarge))
            }
            BodyKind::Length(_) | BodyKind::Chunked => {}
        }
        // RFC 9110 §10.1.1: a server that has not yet received any of the body
        // sends 100 (Continue) before reading it.
        if request.expects_continue() && self.buf.is_empty() {
            (&*self.socket)
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .map_err(|_| Stop::Quietly)?;
        }
        let deadline = Instant::now() + self.config.body_timeout;
        match kind {
            BodyKind::None => Ok(Vec::new()),
            BodyKind::Length(length) => {
                // At most `max_body` by the check above, so this fits.
                let length = length as usize;
                while self.buf.len() < length {
                    self.fill_body(deadline)?;
                }
                let rest = self.buf.split_off(length);
                Ok(std::mem::replace(&mut self.buf, rest))
            }
            BodyKind::Chunked => {
                let mut decoder =
                    chunked::Decoder::new(max_body, self.config.limits.max_header_bytes);
                let mut body = Vec::new();
                loop {
                    let (used, done) =
                        decoder.decode(&self.buf, &mut body).map_err(Stop::Refuse)?;
                    self.buf.drain(..used);
                    if done {
                        return Ok(body);
                    }
                    self.fill_body(deadline)?;
                }
            }
        }
    }

    fn fill_body(&mut self, deadline: Instant) -> Result<(), Stop> {
        match self.fill(deadline) {
            Ok(0) => Err(Stop::Quietly),
            Ok(_) => Ok(()),
            Err(e) if is_timeout(&e) => Err(Stop::Refuse(Error::BodyTimeout)),
            Err(_) => Err(Stop::Quietly),
        }
    }

    /// Reads once into `buf`, waiting no later than `deadline`. Returns the
    /// number of bytes read, 0 at end of stream.
    fn fill(&mut self, deadline: Instant) -> io::Result<usize> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            // A timeout between half and 9/8 of the time left will do: one
            // that ends early is read again (this loop), one that ends late
            // overshoots the deadline by an eighth at most.
            let near = self
                .read_timeout
                .is_some_and(|t| t >= left / 2 && t <= left + left / 8);
            if !near {
                self.socket.set_read_timeout(Some(left))?;
                self.read_timeout = Some(left);
            }
            match self.read_once() {
                Err(e) if is_timeout(&e) => {} // early: look at the deadline again
                result => return result,
            }
        }
    }

    /// One read into `buf`; the number of bytes read, 0 at end of stream.
    ///
    /// Into `buf`'s own room, not through an array on the stack: a 4 KiB
    /// array made every connection thread touch a third stack page, 4 KiB of
    /// resident memory per connection for as long as it lives (measured with
    /// 5,000 held SSE streams: 12 KiB of stack each, 8 KiB without it and
    /// the other cuts of that change; see `Config::stack_size`).
    fn read_once(&mut self) -> io::Result<usize> {
        let start = self.buf.len();
        let room = match self.buf.capacity() - start {
            0 if start == 0 => FIRST_READ,
            free if free >= FIRST_READ => free,
            _ => READ_CHUNK,
        };
        self.buf.resize(start + room, 0);
        let read = self.socket.read(&mut self.buf[start..]);
        self.buf.truncate(start + read.as_ref().map_or(0, |n| *n));
        read
    }

    /// Writes a response; returns whether the connection may carry another
    /// request, or the protocol it switched to. Never inlined, for the reason
    /// given at [`read_request`](Self::read_request).
    #[inline(never)]
    fn write_response(
        &mut self,
        mut response: Response,
        version: Version,
        head_only: bool,
        mut close: bool,
    ) -> io::Result<Next> {
        let has_body = status_has_body(response.status());
        let mut out = Vec::new();
        let mut socket = &*self.socket;
        match response.take_body() {
            Body::Bytes(mut body) => {
                let framing = if has_body {
                    Framing::Length(body.len())
                } else {
                    Framing::None
                };
                if !has_body || head_only {
                    body.clear();
                }
                // The head is written into the body's own buffer, after the
                // body, and turned to the front: one buffer per reply. A
                // handler that left `HEAD_ROOM` past its body (long-poll's
                // JSON does) makes no other; otherwise the buffer grows once,
                // exactly to the head's bound, not a few bytes at a time,
                // which would leave each smaller buffer it outgrew in the
                // thread's malloc cache (glibc's tcache).
                let body_len = body.len();
                body.reserve_exact(response.head_capacity());
                response.write_head(&mut body, version, framing, close);
                let head_len = body.len() - body_len;
                body.rotate_right(head_len);
                socket.write_all(&body)?;
            }
            Body::Stream(write_body) => {
                // HTTP/1.0 has no chunked coding: the body ends with the connection.
                close |= version == Version::Http10;
                let framing = if version == Version::Http11 {
                    Framing::Chunked
                } else {
                    Framing::None
                };
                out.reserve_exact(response.head_capacity());
                response.write_head(&mut out, version, framing, close);
                socket.write_all(&out)?;
                if !head_only {
                    self.stream_body(version, write_body)?;
                }
            }
            Body::Upgrade(upgrade) => {
                out.reserve_exact(response.head_capacity());
                response.write_head(&mut out, version, Framing::None, false);
                socket.write_all(&out)?;
                let connection = Connection {
                    socket: Arc::clone(&self.socket),
                    leftover: std::mem::take(&mut self.buf),
                    helpers: self.helpers.clone(),
                    stopping: self.stopping.clone(),
                };
                return Ok(Next::Upgrade(Box::new(Upgraded {
                    upgrade,
                    connection,
                    response,
                })));
            }
        }
        Ok(if close { Next::Close } else { Next::KeepAlive })
    }

    /// Runs a streamed body's closure on this thread, over the chunked coding
    /// in HTTP/1.1 and over the bare socket in HTTP/1.0.
    fn stream_body(&mut self, version: Version, write_body: StreamFn) -> io::Result<()> {
        let connection = StreamConnection {
            socket: Arc::clone(&self.socket),
            chunked: version == Version::Http11,
            helpers: self.helpers.clone(),
            write_timeout: self.config.write_timeout,
        };
        let socket = &*self.socket;
        let result = match version {
            Version::Http11 => {
                let mut encoder = Encoder::new(socket);
                panic::catch_unwind(AssertUnwindSafe(|| {
                    write_body(&mut BodyWriter::on_connection(&mut encoder, connection))
                        .and_then(|()| encoder.finish().map(drop))
                }))
            }
            Version::Http10 => {
                let mut writer = socket;
                panic::catch_unwind(AssertUnwindSafe(|| {
                    write_body(&mut BodyWriter::on_connection(&mut writer, connection))
                }))
            }
        };
        result.unwrap_or_else(|_| Err(io::Error::other("stream handler panicked")))
    }
}

#[cfg(test)]
mod tests {
    //! The keep-alive loop over an in-memory pipe: no ports, no sleeps. The
    //! only waits are the server's own timeouts, set short, and a generous
    //! bound on every read so that a bug fails instead of hanging.
    use super::*;
    use crate::http::Router;
    use crate::net::{pipe, PipeEnd};
    use std::io::Read;
    use std::thread::{self, JoinHandle};

    const LIVENESS: Duration = Duration::from_secs(10);

    /// A connection served by `handler` on its own thread; the client's end.
    fn serve_pipe(handler: impl Handler, config: Config) -> (PipeEnd, JoinHandle<()>) {
        let (client, server) = pipe(64 * 1024);
        client.set_read_timeout(Some(LIVENESS)).unwrap();
        let served = thread::spawn(move || {
            let stopping = Stopping::new();
            serve(
                Arc::new(server),
                &handler,
                &config,
                &stopping,
                Helpers::unlimited(),
            );
        });
        (client, served)
    }

    fn echo_router() -> Router {
        Router::new()
            .get("/{name}", |r: Request| {
                Response::text(format!("got {}", r.param("name").unwrap_or("")))
            })
            .post("/body", |r: Request| {
                Response::text(format!("{} bytes", r.body().len()))
            })
            .post("/small", |_: Request| Response::text("small"))
            .max_body(4)
    }

    /// Everything the server writes until it closes.
    fn read_to_close(client: &PipeEnd) -> String {
        let mut out = Vec::new();
        (&mut &*client).read_to_end(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// Reads until `text` has arrived; returns all read so far.
    fn read_until(client: &PipeEnd, text: &str) -> String {
        let mut out = String::new();
        let mut buf = [0u8; 1024];
        while !out.contains(text) {
            let n = client.read(&mut buf).unwrap();
            assert!(n > 0, "closed before {text:?}; got {out:?}");
            out.push_str(std::str::from_utf8(&buf[..n]).unwrap());
        }
        out
    }

    #[test]
    fn pipelined_requests_are_answered_in_order() {
        let (client, served) = serve_pipe(echo_router(), Config::default());
        client
            .write(b"GET /one HTTP/1.1\r\nHost: a\r\n\r\nGET /two HTTP/1.1\r\nHost: a\r\n\r\nGET /three HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            .unwrap();
        let replies = read_to_close(&client);
        served.join().unwrap();
        assert_eq!(
            replies.matches("HTTP/1.1 200 OK\r\n").count(),
            3,
            "{replies}"
        );
        let at = |body: &str| {
            replies
                .find(body)
                .unwrap_or_else(|| panic!("{body}: {replies}"))
        };
        assert!(at("got one") < at("got two") && at("got two") < at("got three"));
        assert!(replies.ends_with("got three"));
    }

    #[test]
    fn a_body_after_100_continue_is_read() {
        let (client, served) = serve_pipe(echo_router(), Config::default());
        client
            .write(b"POST /body HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n")
            .unwrap();
        // The client waits for the invitation before it sends the body.
        assert_eq!(
            read_until(&client, "\r\n\r\n"),
            "HTTP/1.1 100 Continue\r\n\r\n"
        );
        client.write(b"hello").unwrap();
        let reply = read_to_close(&client);
        served.join().unwrap();
        assert!(
            reply.starts_with("HTTP/1.1 200 OK\r\n") && reply.ends_with("5 bytes"),
            "{reply}"
        );
    }

    #[test]
    fn a_body_the_route_refuses_gets_413_without_100_continue() {
        let (client, served) = serve_pipe(echo_router(), Config::default());
        client
            .write(b"POST /small HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
            .unwrap();
        let reply = read_to_close(&client);
        served.join().unwrap();
        assert!(reply.starts_with("HTTP/1.1 413 "), "{reply}");
        assert!(!reply.contains("100 Continue"), "{reply}");
        assert!(reply.contains("Connection: close\r\n"), "{reply}");
    }

    #[test]
    fn a_peer_that_half_closes_gets_its_answer_then_the_connection_ends() {
        let (client, served) = serve_pipe(echo_router(), Config::default());
        client
            .write(b"GET /last HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        let reply = read_to_close(&client);
        served.join().unwrap();
        assert!(
            reply.starts_with("HTTP/1.1 200 OK\r\n") && reply.ends_with("got last"),
            "{reply}"
        );
    }

    #[test]
    fn a_head_that_stops_halfway_gets_408_and_an_idle_connection_closes_quietly() {
        let config = Config {
            header_timeout: Duration::from_millis(50),
            idle_timeout: Duration::from_millis(50),
            ..Config::default()
        };
        let (client, served) = serve_pipe(echo_router(), config.clone());
        client.write(b"GET /slow HTTP/1.1\r\nHost").unwrap();
        let reply = read_to_close(&client);
        served.join().unwrap();
        assert!(reply.starts_with("HTTP/1.1 408 "), "{reply}");

        let (client, served) = serve_pipe(echo_router(), config);
        assert_eq!(
            read_to_close(&client),
            "",
            "an idle connection gets no reply"
        );
        served.join().unwrap();
    }

    #[test]
    fn a_malformed_request_is_refused_and_the_rest_never_read() {
        let (client, served) = serve_pipe(echo_router(), Config::default());
        client
            .write(b"GET /a HTTP/1.1\r\nHost: a\nX: y\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        let reply = read_to_close(&client);
        served.join().unwrap();
        assert!(reply.starts_with("HTTP/1.1 400 "), "{reply}");
        assert_eq!(reply.matches("HTTP/1.1").count(), 1, "{reply}");
    }

    #[test]
    fn a_body_with_room_for_the_head_is_sent_as_one_without_it() {
        use crate::http::response::HEAD_ROOM;
        let handler = |request: Request| {
            let room = if request.path() == "/room" {
                HEAD_ROOM
            } else {
                0
            };
            let mut body = String::with_capacity(2 + room);
            body.push_str("{}");
            Response::json(200, body).header("Cache-Control", "no-store")
        };
        let (client, served) = serve_pipe(handler, Config::default());
        client
            .write(b"GET /room HTTP/1.1\r\nHost: a\r\n\r\nGET /none HTTP/1.1\r\nHost: a\r\n\r\nHEAD /room HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            .unwrap();
        let replies = read_to_close(&client);
        served.join().unwrap();
        let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nCache-Control: no-store\r\nDate: ";
        let parts: Vec<&str> = replies.split(head).collect();
        assert_eq!(parts.len(), 4, "{replies:?}");
        let after_date = |part: &str| part.split_once(" GMT\r\n").map(|(_, rest)| rest.to_owned());
        let get = "Content-Length: 2\r\n\r\n{}";
        assert_eq!(after_date(parts[1]).as_deref(), Some(get), "{replies:?}");
        assert_eq!(after_date(parts[2]).as_deref(), Some(get), "{replies:?}");
        assert_eq!(
            after_date(parts[3]).as_deref(),
            Some("Content-Length: 2\r\nConnection: close\r\n\r\n"),
            "{replies:?}"
        );
    }

    #[test]
    fn a_streamed_body_is_chunked_and_ends_with_the_last_chunk() {
        let handler = |_: Request| {
            Response::stream("text/plain", |out: &mut BodyWriter<'_>| {
                out.write_all(b"first")?;
                out.flush()?;
                out.write_all(b"second")?;
                out.flush()
            })
            .close()
        };
        let (client, served) = serve_pipe(handler, Config::default());
        client.write(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        let reply = read_to_close(&client);
        served.join().unwrap();
        assert!(reply.contains("Transfer-Encoding: chunked\r\n"), "{reply}");
        assert!(
            reply.ends_with("\r\n\r\n5\r\nfirst\r\n6\r\nsecond\r\n0\r\n\r\n"),
            "{reply:?}"
        );
    }
}
