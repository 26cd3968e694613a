//! Responses, and how their heads are written (RFC 9112 §4, §6).
//!
//! A [`Response`] is a status, header fields and a [`Body`]. The body decides the
//! framing the server writes:
//!
//! - [`Body::Bytes`]: `Content-Length` (RFC 9112 §6.2); the head and body go out
//!   in one `write`.
//! - [`Body::Stream`]: a closure run on the connection's thread that writes the
//!   body piece by piece — the long-lived responses of SSE, XHR streaming and the
//!   forever frame. On HTTP/1.1 it is framed with `Transfer-Encoding: chunked`
//!   (RFC 9112 §7.1), each `flush` one chunk; an HTTP/1.0 client has no chunked
//!   coding, so there the body ends when the connection closes (§6.3 rule 8).
//! - [`Body::Upgrade`]: `101 Switching Protocols` (RFC 9110 §15.2.2) and then the
//!   connection's socket handed to a closure, which speaks another protocol on
//!   it (WebSocket).
//!
//! The server adds `Date` (RFC 9110 §6.6.1) and the framing fields; handlers add
//! the rest.

use super::request::Version;
use super::Error;
use crate::codec::json;
use crate::net::{Connection, Helpers, Socket};
use std::borrow::Cow;
use std::fmt;
use std::io::{self, Write};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The room a handler may leave in a body's buffer, past its end, for the
/// response head: the server writes a [`Body::Bytes`] reply's head into its
/// body's buffer and turns it to the front, so a body with this much spare
/// capacity is sent without another buffer. It holds the head's bound
/// ([`Response::head_capacity`]) of a JSON reply with a field or two: a
/// long-poll answer's bound is 206 bytes (its head 134).
pub const HEAD_ROOM: usize = 256;

/// The least a [`reply_buffer`] holds: past the largest block (1,032 bytes)
/// that glibc's malloc keeps in the cache of the thread that frees it.
const MIN_REPLY_BUFFER: usize = 1040;

/// An empty buffer for a reply body of about `len` bytes, with [`HEAD_ROOM`]
/// to spare for the head, and of at least 1,040 bytes: for a body whose size
/// changes from one reply to the next, such as a batch of messages.
///
/// glibc's malloc keeps every block of up to 1,032 bytes that a thread frees
/// in that thread's own cache (tcache, up to 7 a size), where only that
/// thread can use it again. A connection's thread that answered with bodies
/// of many sizes so kept a buffer of each size for as long as it lived,
/// which for a long-poller is its client's whole session. A larger block goes
/// back to the arena that every thread allocates from. With 9,000
/// long-pollers taking 20 messages, the server's peak RSS fell from 126–128 MB
/// to 103 MB.
pub fn reply_buffer(len: usize) -> String {
    String::with_capacity((len + HEAD_ROOM).max(MIN_REPLY_BUFFER))
}

/// A closure that writes a streamed body. The writer it gets sends each
/// `flush` to the client at once; the closure returns when the stream ends.
pub type StreamFn = Box<dyn FnOnce(&mut BodyWriter<'_>) -> io::Result<()> + Send>;

/// What a streamed body writes to: a [`Write`] whose every `flush` sends what
/// was written since to the client (as one chunk, in HTTP/1.1), and, when the
/// body is written straight to a socket, that [`StreamConnection`], so that a
/// subscription can hand its writing to a channel's broadcaster
/// ([`crate::hub::broadcast`]).
pub struct BodyWriter<'a> {
    out: &'a mut dyn Write,
    connection: Option<StreamConnection>,
}

/// The connection under a streamed body.
#[derive(Clone, Debug)]
pub struct StreamConnection {
    /// The socket, after the response head.
    pub socket: Arc<dyn Socket>,
    /// Whether the body is in the chunked coding (HTTP/1.1); otherwise it ends
    /// with the connection (HTTP/1.0).
    pub chunked: bool,
    /// Starts helper threads for the connection, within the server's limit.
    pub helpers: Helpers,
    /// The server's bound on one blocked write to this connection.
    pub write_timeout: Duration,
}

impl<'a> BodyWriter<'a> {
    /// A body writer over `out` alone: no connection to hand on (a body
    /// written into memory, as tests do).
    pub fn new(out: &'a mut dyn Write) -> BodyWriter<'a> {
        BodyWriter {
            out,
            connection: None,
        }
    }

    /// A body writer over `out`, which writes to `connection`'s socket.
    pub fn on_connection(out: &'a mut dyn Write, connection: StreamConnection) -> BodyWriter<'a> {
        BodyWriter {
            out,
            connection: Some(connection),
        }
    }

    /// The connection under the body, if it is written to one.
    pub fn connection(&self) -> Option<&StreamConnection> {
        self.connection.as_ref()
    }
}

impl Write for BodyWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.out.write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl fmt::Debug for BodyWriter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyWriter")
            .field("connection", &self.connection)
            .finish()
    }
}

/// A closure that takes over the connection after `101 Switching Protocols`.
pub type UpgradeFn = Box<dyn FnOnce(Connection) + Send>;

/// What follows a response's head.
pub enum Body {
    /// A body known in full.
    Bytes(Vec<u8>),
    /// A body written over time by a closure (see the module docs).
    Stream(StreamFn),
    /// A protocol switch (see the module docs).
    Upgrade(UpgradeFn),
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Body::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            Body::Stream(_) => f.write_str("Stream"),
            Body::Upgrade(_) => f.write_str("Upgrade"),
        }
    }
}

/// An HTTP response.
///
/// # Examples
///
/// ```
/// use realtime_web::http::Response;
///
/// let ok = Response::json(200, r#"{"id":1}"#.to_owned());
/// assert_eq!(ok.status(), 200);
/// assert_eq!(ok.header_value("content-type"), Some("application/json"));
///
/// let refused = Response::error(404, "not found");
/// assert_eq!(refused.body_bytes(), Some(&br#"{"error":"not found"}"#[..]));
/// ```
#[derive(Debug)]
pub struct Response {
    status: u16,
    /// Each field's name and value; a fixed value (`application/json`,
    /// `no-store`) is borrowed, not copied into a `String` of its own.
    headers: Vec<(&'static str, Cow<'static, str>)>,
    body: Body,
    close: bool,
    held: Held,
}

/// What a response keeps until it has been written whole; see
/// [`Response::hold`]. One box, not a `Vec` of them: a long-poll answer holds
/// one value, and a `Vec` was a second allocation (64 bytes) per round.
#[derive(Default)]
struct Held(Option<Box<dyn Send>>);

impl fmt::Debug for Held {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "held"
        } else {
            "none held"
        })
    }
}

impl Response {
    /// A response with this status and an empty body.
    pub fn new(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Body::Bytes(Vec::new()),
            close: false,
            held: Held::default(),
        }
    }

    /// `status` with a JSON body.
    pub fn json(status: u16, body: String) -> Response {
        Response::new(status)
            .header("Content-Type", "application/json")
            .body(body.into_bytes())
    }

    /// `status` with the contract's error body `{"error":"…"}`. The message
    /// should be a fixed text: never put request bytes in it.
    pub fn error(status: u16, message: &str) -> Response {
        Response::json(status, json::error_object(message))
    }

    /// The reply to a request refused before it reached a handler: the
    /// error's status, the contract's JSON body and `Connection: close`.
    pub fn refusal(error: Error) -> Response {
        Response::error(error.status(), error.message()).close()
    }

    /// `200` with a `text/plain` body.
    pub fn text(body: impl Into<String>) -> Response {
        Response::new(200)
            .header("Content-Type", "text/plain; charset=utf-8")
            .body(body.into().into_bytes())
    }

    /// `200` with a `text/html` body.
    pub fn html(body: impl Into<String>) -> Response {
        Response::new(200)
            .header("Content-Type", "text/html; charset=utf-8")
            .body(body.into().into_bytes())
    }

    /// `200` with a body that `write` streams; see [`Body::Stream`].
    pub fn stream(
        content_type: impl Into<Cow<'static, str>>,
        write: impl FnOnce(&mut BodyWriter<'_>) -> io::Result<()> + Send + 'static,
    ) -> Response {
        let mut response = Response::new(200).header("Content-Type", content_type);
        response.body = Body::Stream(Box::new(write));
        response
    }

    /// `101 Switching Protocols`, then `upgrade` owns the connection; see
    /// [`Body::Upgrade`]. Add the `Upgrade` and protocol fields with
    /// [`Response::header`].
    pub fn upgrade(upgrade: impl FnOnce(Connection) + Send + 'static) -> Response {
        let mut response = Response::new(101).header("Connection", "Upgrade");
        response.body = Body::Upgrade(Box::new(upgrade));
        response
    }

    /// Adds a header field. The value is a `&'static str`, kept as it is,
    /// or a `String`.
    ///
    /// A value holding CR, LF or NUL would end the field early and inject another
    /// (response splitting, RFC 9110 §5.5), so such characters are dropped. Values
    /// should come from the server's own text or checked input anyway.
    pub fn header(mut self, name: &'static str, value: impl Into<Cow<'static, str>>) -> Response {
        self.push_header(name, value);
        self
    }

    /// Adds a header field to a response already built; see [`Response::header`].
    pub fn push_header(&mut self, name: &'static str, value: impl Into<Cow<'static, str>>) {
        let mut value = value.into();
        let splits = |c| matches!(c, '\r' | '\n' | '\0');
        if value.contains(splits) {
            value.to_mut().retain(|c| !splits(c));
        }
        self.headers.push((name, value));
    }

    /// Replaces the body with these bytes.
    pub fn body(mut self, bytes: Vec<u8>) -> Response {
        self.body = Body::Bytes(bytes);
        self
    }

    /// Asks the server to close the connection after this response.
    pub fn close(mut self) -> Response {
        self.close = true;
        self
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The value of the first header field called `name` (case-insensitive).
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }

    /// Keeps `value` until the response has been written whole — a stream to
    /// its end, an upgraded connection until it closes — and then drops it:
    /// for a count of responses in progress (see [`Router::on_route`]).
    ///
    /// [`Router::on_route`]: super::Router::on_route
    pub fn hold(self, value: impl Send + 'static) -> Response {
        self.hold_boxed(Box::new(value))
    }

    /// [`Response::hold`] for a value already boxed (a route hook's), kept
    /// in its own box rather than boxed again.
    pub(crate) fn hold_boxed(mut self, value: Box<dyn Send>) -> Response {
        // A second value is boxed with the first; a tuple drops its fields
        // in order, so the first held is still the first dropped.
        self.held.0 = Some(match self.held.0.take() {
            None => value,
            Some(first) => Box::new((first, value)),
        });
        self
    }

    /// Whether the server will close the connection after this response.
    pub fn closes(&self) -> bool {
        self.close
    }

    /// The body, when it is [`Body::Bytes`].
    pub fn body_bytes(&self) -> Option<&[u8]> {
        match &self.body {
            Body::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// Takes the body out, leaving an empty one.
    pub fn take_body(&mut self) -> Body {
        std::mem::replace(&mut self.body, Body::Bytes(Vec::new()))
    }

    /// How many bytes [`write_head`](Response::write_head) writes at most: a
    /// buffer reserved this large never grows while the head is written.
    pub fn head_capacity(&self) -> usize {
        /// `HTTP/1.1 511 Network Authentication Required\r\n`, the longest
        /// status line.
        const STATUS_LINE: usize = 48;
        /// `Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n`.
        const DATE: usize = 37;
        /// `Content-Length: ` with 20 digits, or `Transfer-Encoding: chunked`.
        const FRAMING: usize = 38;
        /// `Connection: keep-alive\r\n` and the empty line.
        const END: usize = 24 + 2;
        let fields: usize = self
            .headers
            .iter()
            .map(|(name, value)| name.len() + 2 + value.len() + 2)
            .sum();
        STATUS_LINE + DATE + FRAMING + END + fields
    }

    /// Writes the status line and header fields, the framing fields for `framing`,
    /// `Date`, `Connection` as `close` and the version require, and the blank line
    /// (RFC 9112 §4, §6): at most [`head_capacity`](Response::head_capacity)
    /// bytes.
    pub fn write_head(&self, out: &mut Vec<u8>, version: Version, framing: Framing, close: bool) {
        let _ = write!(
            out,
            "{} {} {}\r\n",
            version.as_str(),
            self.status,
            reason(self.status)
        );
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"Date: ");
        write_http_date(out, SystemTime::now());
        out.extend_from_slice(b"\r\n");
        match framing {
            Framing::Length(n) => {
                let _ = write!(out, "Content-Length: {n}\r\n");
            }
            Framing::Chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
            Framing::None => {}
        }
        if close {
            out.extend_from_slice(b"Connection: close\r\n");
        } else if version == Version::Http10 && self.status != 101 {
            out.extend_from_slice(b"Connection: keep-alive\r\n");
        }
        out.extend_from_slice(b"\r\n");
    }
}

/// The framing fields of a response (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length: n`.
    Length(usize),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Neither: no body (1xx, 204, 304), or one that ends when the connection
    /// closes.
    None,
}

/// The reason phrase for a status code: every one RFC 9110 §15 defines, and
/// 429 (RFC 6585 §4). Clients ignore it, but a reader of a capture should not
/// have to look the number up. An unknown code gets an empty phrase, which
/// the status-line grammar allows (RFC 9112 §4).
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// Whether a response with this status may carry a body (RFC 9110 §6.4.1: no
/// body for 1xx, 204 and 304).
pub fn status_has_body(status: u16) -> bool {
    !(100..200).contains(&status) && status != 204 && status != 304
}

/// Formats a time as an IMF-fixdate (RFC 9110 §5.6.7), the one date format a
/// sender may generate: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(time: SystemTime) -> String {
    let mut out = Vec::with_capacity(IMF_FIXDATE_LEN);
    write_http_date(&mut out, time);
    String::from_utf8(out).expect("bug: an IMF-fixdate is ASCII")
}

/// The length of an IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
const IMF_FIXDATE_LEN: usize = 29;

/// Appends [`http_date`]'s text to `out`, without a `String` of its own: a
/// response head is written into a buffer that already has the room.
fn write_http_date(out: &mut Vec<u8>, time: SystemTime) {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = secs / 86_400;
    let (year, month, day) = civil_from_days(days);
    let rem = secs % 86_400;
    let _ = write!(
        out,
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize], // 1970-01-01 was a Thursday.
        day,
        MONTHS[(month - 1) as usize],
        year,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
}

/// The proleptic Gregorian (year, month, day) of a day count since 1970-01-01:
/// Howard Hinnant's `civil_from_days`, for days ≥ 0.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468; // days since 0000-03-01
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153; // March = 0
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_head_fits_its_capacity() {
        for status in 100..600 {
            let response = Response::new(status).header("Cache-Control", "no-store");
            for framing in [Framing::Length(usize::MAX), Framing::Chunked, Framing::None] {
                for (version, close) in [(Version::Http10, false), (Version::Http11, true)] {
                    let mut out = Vec::new();
                    response.write_head(&mut out, version, framing, close);
                    assert!(out.len() <= response.head_capacity(), "{status}");
                }
            }
        }
    }

    fn at(secs: u64) -> String {
        http_date(UNIX_EPOCH + Duration::from_secs(secs))
    }

    #[test]
    fn imf_fixdate_rfc9110_example() {
        // RFC 9110 §5.6.7: "Sun, 06 Nov 1994 08:49:37 GMT".
        assert_eq!(at(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
    }

    #[test]
    fn imf_fixdate_edges() {
        assert_eq!(at(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(at(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(at(1_709_164_799), "Wed, 28 Feb 2024 23:59:59 GMT");
        assert_eq!(at(1_709_251_199), "Thu, 29 Feb 2024 23:59:59 GMT");
        assert_eq!(at(4_102_444_800), "Fri, 01 Jan 2100 00:00:00 GMT");
    }

    #[test]
    fn head_for_a_fixed_body() {
        let response = Response::json(200, "{}".into()).header("X-A", "b");
        let mut out = Vec::new();
        response.write_head(&mut out, Version::Http11, Framing::Length(2), false);
        let head = String::from_utf8(out).unwrap();
        assert!(head
            .starts_with("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-A: b\r\nDate: "));
        assert!(
            head.ends_with(" GMT\r\nContent-Length: 2\r\n\r\n"),
            "{head}"
        );
        assert!(!head.contains("Connection"));
    }

    #[test]
    fn head_for_http_1_0_and_close() {
        let response = Response::new(204);
        let mut out = Vec::new();
        response.write_head(&mut out, Version::Http10, Framing::None, false);
        assert!(String::from_utf8_lossy(&out).contains("\r\nConnection: keep-alive\r\n"));
        let mut out = Vec::new();
        response.write_head(&mut out, Version::Http11, Framing::Chunked, true);
        let head = String::from_utf8(out).unwrap();
        assert!(head.starts_with("HTTP/1.1 204 No Content\r\n"));
        assert!(head.contains("\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"));
    }

    #[test]
    fn header_values_cannot_split_the_response() {
        let response = Response::new(200).header("X", "a\r\nSet-Cookie: x\0");
        assert_eq!(response.header_value("x"), Some("aSet-Cookie: x"));
    }

    #[test]
    fn bodiless_statuses() {
        assert!(!status_has_body(101));
        assert!(!status_has_body(204));
        assert!(!status_has_body(304));
        assert!(status_has_body(200));
        assert!(status_has_body(404));
    }
}
