//! Request heads, parsed strictly per RFC 9112.
//!
//! [`parse`] is a pure function over the bytes received so far. It answers
//! [`Parsed::NeedMore`] until the blank line that ends the header section has
//! arrived, then [`Parsed::Complete`] with the [`Request`] and how many bytes its
//! head took, or an [`Error`] as soon as the bytes seen break a rule or a limit.
//! The body is not part of the head: [`Request::body_kind`] says how it is
//! framed, and the server reads it (with [`crate::http::chunked`] for chunked
//! bodies).
//!
//! ```text
//! HTTP-message   = start-line CRLF *( field-line CRLF ) CRLF [ message-body ]
//! request-line   = method SP request-target SP HTTP-version      ; RFC 9112 §3
//! field-line     = field-name ":" OWS field-value OWS            ; RFC 9112 §5
//! ```
//!
//! Strict where the RFCs say MUST, and where leniency has let two parsers on one
//! path disagree about where a request ends (request smuggling): lines end with
//! CRLF only, no obs-fold, no whitespace before the colon, no control characters
//! in values, one `Host`, one `Content-Length` value, never both `Content-Length`
//! and `Transfer-Encoding`.
//!
//! # Examples
//!
//! ```
//! use realtime_web::http::request::{parse, Limits, Parsed};
//!
//! let bytes = b"GET /channels/news/poll?since=3 HTTP/1.1\r\nHost: example.com\r\n\r\n";
//! let Ok(Parsed::Complete { value: req, consumed }) = parse(bytes, &Limits::default()) else {
//!     panic!("a valid request");
//! };
//! assert_eq!(consumed, bytes.len());
//! assert_eq!(req.method(), "GET");
//! assert_eq!(req.path(), "/channels/news/poll");
//! assert_eq!(req.query("since").as_deref(), Some("3"));
//! assert_eq!(req.header("host"), Some("example.com"));
//!
//! // Half a request: ask for more bytes.
//! assert!(matches!(parse(b"GET / HTTP/1.1\r\nHo", &Limits::default()), Ok(Parsed::NeedMore)));
//! ```

use super::router::Pattern;
use super::{list_has_token, Error};
use crate::codec::number::{decimal, hex_digit};
use crate::net::Socket;
use std::borrow::Cow;
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;

/// Size limits for a request. Every one is checked on the bytes as they arrive,
/// before anything is allocated for them.
#[derive(Clone, Debug)]
pub struct Limits {
    /// The longest request-line, CRLF excluded. Default 8 KiB; past it, `414`.
    pub max_request_line: usize,
    /// The largest header section (every field line with its CRLF, and the final
    /// CRLF). Default 16 KiB; past it, `431`. Also bounds a chunked body's
    /// trailer section.
    pub max_header_bytes: usize,
    /// The most field lines. Default 100; past it, `431`.
    pub max_headers: usize,
    /// The largest request body, after chunked decoding. Default 1 MiB; past it,
    /// `413`.
    pub max_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_line: 8 * 1024,
            max_header_bytes: 16 * 1024,
            max_headers: 100,
            max_body: 1024 * 1024,
        }
    }
}

pub use crate::codec::Parsed;

/// The HTTP versions this server speaks (RFC 9112 §2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.0: closes after each response unless `Connection: keep-alive`.
    Http10,
    /// HTTP/1.1: persistent unless `Connection: close`.
    Http11,
}

impl Version {
    /// The version as written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }
    }
}

/// How a request's body is delimited (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// No body: neither `Content-Length` nor `Transfer-Encoding` (rule 6).
    None,
    /// Exactly this many bytes (rule 5).
    Length(u64),
    /// The chunked transfer coding (rule 4).
    Chunked,
}

/// How many empty lines before the request-line are skipped. RFC 9112 §2.2 asks a
/// server to ignore "at least one"; any more is not a request.
const MAX_LEADING_EMPTY_LINES: usize = 2;

/// A parsed request. The head is kept as received, and the accessors slice it.
#[derive(Clone, Debug)]
pub struct Request {
    head: Box<[u8]>,
    method: Range<usize>,
    target: Range<usize>,
    path: Range<usize>,
    query: Option<Range<usize>>,
    version: Version,
    /// Where the field lines start in `head`. They are read again from the
    /// head at each lookup ([`Request::fields`]), not listed when parsed: a
    /// list was a block per request, of a size for each number of fields,
    /// that glibc kept in the thread's cache while a long-poll waited.
    fields_start: usize,
    body_kind: BodyKind,
    keep_alive: bool,
    expects_continue: bool,
    body: Vec<u8>,
    /// The pattern of the route the router matched (shared with the route),
    /// which names the path's parameters.
    route: Option<Arc<Pattern>>,
    /// The connection's socket, so that the router can tag it with the
    /// route's label (see [`Socket::tag`]); `None` for a request parsed
    /// without a connection.
    socket: Option<Arc<dyn Socket>>,
}

impl Request {
    /// The method, a token such as `GET` (case-sensitive, RFC 9110 §9.1).
    pub fn method(&self) -> &str {
        self.text(&self.method)
    }

    /// The request-target exactly as received.
    pub fn target(&self) -> &str {
        self.text(&self.target)
    }

    /// The path of the target, still percent-encoded: `/` for an absolute-form
    /// target without a path, `*` for the asterisk-form.
    pub fn path(&self) -> &str {
        match self.text(&self.path) {
            "" => "/",
            path => path,
        }
    }

    /// The query of the target (after `?`), still percent-encoded.
    pub fn query_string(&self) -> Option<&str> {
        self.query.as_ref().map(|q| self.text(q))
    }

    /// The first query parameter called `name`, decoded as
    /// `application/x-www-form-urlencoded` (`+` is a space, `%XX` a byte).
    /// Byte sequences that are not UTF-8 become U+FFFD.
    pub fn query(&self, name: &str) -> Option<String> {
        self.query_value(name).map(Cow::into_owned)
    }

    /// [`query`](Request::query) borrowed from the request when decoding
    /// changes nothing, as for a cursor (`?since=17`): no allocation.
    pub fn query_value(&self, name: &str) -> Option<Cow<'_, str>> {
        self.query_string()?.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(key) == name).then(|| decode(value))
        })
    }

    /// The protocol version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The value of the first field called `name` (case-insensitive), if it is
    /// UTF-8. Values are ASCII in practice; see [`Request::header_bytes`] for the
    /// raw bytes.
    pub fn header(&self, name: &str) -> Option<&str> {
        std::str::from_utf8(self.header_bytes(name)?).ok()
    }

    /// The raw value of the first field called `name` (case-insensitive).
    pub fn header_bytes(&self, name: &str) -> Option<&[u8]> {
        self.fields()
            .find(|(n, _)| self.head[n.clone()].eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| &self.head[v])
    }

    /// Every value of the fields called `name`, in order.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.fields()
            .filter(move |(n, _)| self.head[n.clone()].eq_ignore_ascii_case(name.as_bytes()))
            .map(move |(_, v)| &self.head[v])
    }

    /// Every field as (name, raw value), in the order received.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.fields()
            .map(move |(n, v)| (self.text(&n), &self.head[v]))
    }

    /// Where each field line's name and value lie in the head, the value
    /// without the OWS around it (`field-line`, RFC 9112 §5): the lines
    /// [`parse`] checked, split again.
    /// A lookup reads the header section through (a browser's is under a
    /// kilobyte), which costs less than a list made for every request.
    fn fields(&self) -> impl Iterator<Item = (Range<usize>, Range<usize>)> + '_ {
        // The head ends with the empty line's CRLF.
        let section_end = self.head.len() - 2;
        let mut pos = self.fields_start;
        std::iter::from_fn(move || {
            if pos >= section_end {
                return None;
            }
            let line_end = find_line_end(&self.head, pos)
                .ok()
                .flatten()
                .expect("bug: parse checked the line ends");
            let field = parse_field_line(&self.head, pos..line_end)
                .expect("bug: parse checked the field lines");
            pos = line_end + 2;
            Some(field)
        })
    }

    /// Whether any field called `name` lists `token` (comma-separated,
    /// case-insensitive), as for `Connection: keep-alive, Upgrade`.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.header_values(name)
            .filter_map(|v| std::str::from_utf8(v).ok())
            .any(|v| list_has_token(v, token))
    }

    /// How the body is framed.
    pub fn body_kind(&self) -> BodyKind {
        self.body_kind
    }

    /// Whether the client asked to keep the connection open after this
    /// request (RFC 9112 §9.3).
    pub fn keep_alive(&self) -> bool {
        self.keep_alive
    }

    /// Whether the client sent `Expect: 100-continue` and waits for `100
    /// Continue` before sending the body (RFC 9110 §10.1.1).
    pub fn expects_continue(&self) -> bool {
        self.expects_continue
    }

    /// The body, once the server has read it.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Sets the body (the server does this after reading it).
    pub(crate) fn set_body(&mut self, body: Vec<u8>) {
        self.body = body;
    }

    /// Attaches the connection's socket (the server does this).
    pub(crate) fn set_socket(&mut self, socket: Arc<dyn Socket>) {
        self.socket = Some(socket);
    }

    /// The connection's socket, if the request came over one.
    pub(crate) fn socket(&self) -> Option<&Arc<dyn Socket>> {
        self.socket.as_ref()
    }

    /// The address of the client that sent the request: the TCP peer, which
    /// is the reverse proxy's address when there is one (read its
    /// `Forwarded` or `X-Forwarded-For` then, if it is trusted). `None` for
    /// a request that came over no socket, or an in-memory one.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.socket.as_ref()?.peer_addr().ok()
    }

    /// The path parameter called `name` that the router matched, such as `ch` in
    /// `/channels/{ch}/poll`. Still percent-encoded, as the contract requires
    /// channel names to be checked on the raw segment.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.route.as_ref()?.param(self.path(), name)
    }

    /// Records the pattern of the route that took the request (the router
    /// does this), which names its path parameters.
    pub(crate) fn set_route(&mut self, pattern: Arc<Pattern>) {
        self.route = Some(pattern);
    }

    fn text(&self, range: &Range<usize>) -> &str {
        // The parser admitted only ASCII into method, target and names.
        std::str::from_utf8(&self.head[range.clone()]).expect("bug: parser admitted non-ASCII")
    }
}

/// Decodes `%XX` escapes and `+` (WHATWG URL, "application/x-www-form-urlencoded
/// parsing"). Malformed escapes are kept as they are.
pub fn form_decode(s: &str) -> String {
    decode(s).into_owned()
}

/// [`form_decode`], borrowing `s` when it has nothing to decode (the usual
/// case for a query's keys), so that looking a key up allocates nothing.
fn decode(s: &str) -> Cow<'_, str> {
    let bytes = s.as_bytes();
    if !bytes.iter().any(|&b| b == b'+' || b == b'%') {
        return Cow::Borrowed(s);
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (hex_at(bytes, i + 1), hex_at(bytes, i + 2)) {
                (Some(high), Some(low)) => {
                    out.push(high * 16 + low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(text) => Cow::Owned(text),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

fn hex_at(bytes: &[u8], i: usize) -> Option<u8> {
    bytes.get(i).copied().and_then(hex_digit)
}

// ---------------------------------------------------------------------------
// Character classes, as 256-entry tables built from the ABNF.

/// `tchar` (RFC 9110 §5.6.2): the characters of a token.
const fn is_tchar(b: u8) -> bool {
    matches!(b,
        b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' |
        b'^' | b'_' | b'`' | b'|' | b'~' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z')
}

/// The characters RFC 3986 allows in a URI outside a fragment: `unreserved`,
/// `sub-delims`, `:`, `@`, `/`, `?`, and `%` (its two hex digits are checked
/// separately).
const fn is_uri_char(b: u8) -> bool {
    matches!(b,
        b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' |
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=' |
        b':' | b'@' | b'/' | b'?' | b'%')
}

/// `field-vchar` plus SP and HTAB (RFC 9110 §5.5): VCHAR, obs-text, SP, HTAB.
const fn is_field_value_char(b: u8) -> bool {
    matches!(b, b'\t' | b' ' | 0x21..=0x7E | 0x80..=0xFF)
}

/// The characters of `uri-host [ ":" port ]` (RFC 3986 §3.2.2): reg-name,
/// IP-literal brackets, and the port's colon.
const fn is_host_char(b: u8) -> bool {
    matches!(b,
        b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' |
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=' |
        b':' | b'[' | b']' | b'%')
}

const fn table(class: u8) -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = match class {
            0 => is_tchar(b),
            1 => is_uri_char(b),
            2 => is_field_value_char(b),
            _ => is_host_char(b),
        };
        i += 1;
    }
    t
}

static TCHAR: [bool; 256] = table(0);
static URI_CHAR: [bool; 256] = table(1);
static FIELD_VALUE_CHAR: [bool; 256] = table(2);
static HOST_CHAR: [bool; 256] = table(3);

/// Whether `s` is a token (RFC 9110 §5.6.2).
pub fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| TCHAR[b as usize])
}

// ---------------------------------------------------------------------------
// The parser.

/// Parses the head of one request from the start of `buf`.
///
/// Returns [`Parsed::NeedMore`] while `buf` holds a correct but unfinished head,
/// and an error as soon as the bytes break a rule of RFC 9112 or one of `limits`
/// (so an oversized head is refused without waiting for its end).
///
/// # Errors
///
/// Every [`Error`] variant except the timeouts; each names the rule it enforces.
pub fn parse(buf: &[u8], limits: &Limits) -> Result<Parsed<Request>, Error> {
    // RFC 9112 §2.2: ignore empty lines received before the request-line.
    let mut pos = 0;
    let mut skipped = 0;
    while buf[pos..].starts_with(b"\r\n") {
        if skipped == MAX_LEADING_EMPTY_LINES {
            return Err(Error::BadRequestLine);
        }
        pos += 2;
        skipped += 1;
    }

    // The request-line.
    let line_start = pos;
    let Some(line_end) = find_line_end(buf, line_start)? else {
        return if buf.len() - line_start > limits.max_request_line {
            Err(Error::RequestLineTooLong)
        } else {
            Ok(Parsed::NeedMore)
        };
    };
    if line_end - line_start > limits.max_request_line {
        return Err(Error::RequestLineTooLong);
    }
    let line = parse_request_line(buf, line_start..line_end)?;

    // The field lines, up to the empty line, each checked here; the request
    // keeps only where they start, and its lookups split them again.
    let fields_start = line_end + 2;
    let mut pos = fields_start;
    let mut count = 0;
    let head_end = loop {
        let Some(end) = find_line_end(buf, pos)? else {
            return if buf.len() - fields_start > limits.max_header_bytes {
                Err(Error::HeadersTooLarge)
            } else {
                Ok(Parsed::NeedMore)
            };
        };
        if end + 2 - fields_start > limits.max_header_bytes {
            return Err(Error::HeadersTooLarge);
        }
        if end == pos {
            break end + 2;
        }
        if count == limits.max_headers {
            return Err(Error::TooManyHeaders);
        }
        parse_field_line(buf, pos..end)?;
        count += 1;
        pos = end + 2;
    };

    let mut request = Request {
        head: buf[..head_end].into(),
        method: line.method,
        target: line.target,
        path: line.path,
        query: line.query,
        version: line.version,
        fields_start,
        body_kind: BodyKind::None,
        keep_alive: false,
        expects_continue: false,
        body: Vec::new(),
        route: None,
        socket: None,
    };
    check_host(&request)?;
    request.body_kind = body_kind(&request, limits)?;
    request.keep_alive = keep_alive(&request);
    request.expects_continue = expects_continue(&request)?;
    Ok(Parsed::Complete {
        value: request,
        consumed: head_end,
    })
}

/// Finds the CRLF that ends the line starting at `from`, returning the index of
/// its CR. An LF without a CR before it is an error (see [`Error::BareLf`]); a
/// CR inside the line is caught by the line's own character checks.
fn find_line_end(buf: &[u8], from: usize) -> Result<Option<usize>, Error> {
    match buf[from..].iter().position(|&b| b == b'\n') {
        None => Ok(None),
        Some(i) if i > 0 && buf[from + i - 1] == b'\r' => Ok(Some(from + i - 1)),
        Some(_) => Err(Error::BareLf),
    }
}

struct RequestLine {
    method: Range<usize>,
    target: Range<usize>,
    path: Range<usize>,
    query: Option<Range<usize>>,
    version: Version,
}

/// `request-line = method SP request-target SP HTTP-version` (RFC 9112 §3), with
/// exactly one SP between the parts.
fn parse_request_line(buf: &[u8], line: Range<usize>) -> Result<RequestLine, Error> {
    let bytes = &buf[line.clone()];
    let bad_char = |b: u8| {
        if b == b'\r' {
            Error::BareCr
        } else {
            Error::BadRequestLine
        }
    };

    let method_len = bytes
        .iter()
        .position(|&b| !TCHAR[b as usize])
        .unwrap_or(bytes.len());
    if method_len == 0 {
        return Err(bytes
            .first()
            .map_or(Error::BadRequestLine, |&b| bad_char(b)));
    }
    if bytes.get(method_len) != Some(&b' ') {
        return Err(bytes
            .get(method_len)
            .map_or(Error::BadRequestLine, |&b| bad_char(b)));
    }
    let target_start = method_len + 1;
    let target_len = bytes[target_start..]
        .iter()
        .position(|&b| b == b' ')
        .ok_or(Error::BadRequestLine)?;
    let version_start = target_start + target_len + 1;
    // Exactly one SP between the parts: an empty target or a second space means
    // the line is not three parts.
    if target_len == 0 || bytes[version_start..].contains(&b' ') {
        return Err(Error::BadRequestLine);
    }

    let version = match &bytes[version_start..] {
        b"HTTP/1.1" => Version::Http11,
        b"HTTP/1.0" => Version::Http10,
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            return Err(Error::VersionNotSupported)
        }
        rest if rest.contains(&b'\r') => return Err(Error::BareCr),
        _ => return Err(Error::BadVersion),
    };

    let offset = line.start;
    let target = offset + target_start..offset + target_start + target_len;
    let (path, query) = split_target(buf, target.clone())?;
    Ok(RequestLine {
        method: offset..offset + method_len,
        target,
        path,
        query,
        version,
    })
}

/// Checks the request-target's characters and form (RFC 9112 §3.2) and splits
/// it into path and query.
///
/// - origin-form `/path?query`, the usual one;
/// - absolute-form `http://host/path?query`, which RFC 9112 §3.2.2 says a server
///   MUST accept; the authority is then ignored for routing;
/// - asterisk-form `*`, meaningful only with `OPTIONS` (the router checks that).
///
/// The authority-form is only for `CONNECT`, which this server does not do.
fn split_target(
    buf: &[u8],
    target: Range<usize>,
) -> Result<(Range<usize>, Option<Range<usize>>), Error> {
    let t = &buf[target.clone()];
    if t.is_empty() {
        return Err(Error::BadRequestLine);
    }
    for (i, &b) in t.iter().enumerate() {
        if !URI_CHAR[b as usize] {
            return Err(if b == b'\r' {
                Error::BareCr
            } else {
                Error::BadTarget
            });
        }
        if b == b'%' && (hex_at(t, i + 1).is_none() || hex_at(t, i + 2).is_none()) {
            return Err(Error::BadTarget);
        }
    }
    if t == b"*" {
        return Ok((target, None));
    }
    let path_start = if t[0] == b'/' {
        0
    } else {
        // absolute-form: scheme "://" authority, then the path (RFC 3986 §3).
        let scheme_len = t
            .iter()
            .position(|&b| !(b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')))
            .unwrap_or(t.len());
        if scheme_len == 0 || !t[0].is_ascii_alphabetic() || !t[scheme_len..].starts_with(b"://") {
            return Err(Error::BadTarget);
        }
        let authority_start = scheme_len + 3;
        let authority_len = t[authority_start..]
            .iter()
            .position(|&b| b == b'/' || b == b'?')
            .unwrap_or(t.len() - authority_start);
        if authority_len == 0 {
            return Err(Error::BadTarget);
        }
        authority_start + authority_len
    };
    let base = target.start;
    Ok(match t[path_start..].iter().position(|&b| b == b'?') {
        Some(q) => (
            base + path_start..base + path_start + q,
            Some(base + path_start + q + 1..target.end),
        ),
        None => (base + path_start..target.end, None),
    })
}

/// `field-line = field-name ":" OWS field-value OWS` (RFC 9112 §5).
fn parse_field_line(buf: &[u8], line: Range<usize>) -> Result<(Range<usize>, Range<usize>), Error> {
    let bytes = &buf[line.clone()];
    // RFC 9112 §5.2: a line starting with whitespace continues the previous one
    // (obs-fold); before the first field it is not a field at all.
    if matches!(bytes.first(), Some(b' ' | b'\t')) {
        return Err(Error::ObsFold);
    }
    let name_len = bytes
        .iter()
        .position(|&b| !TCHAR[b as usize])
        .unwrap_or(bytes.len());
    match bytes.get(name_len) {
        Some(b':') if name_len > 0 => {}
        Some(b' ' | b'\t') if name_len > 0 => return Err(Error::WhitespaceBeforeColon),
        Some(b'\r') => return Err(Error::BareCr),
        _ => return Err(Error::BadHeaderName),
    }
    let mut start = name_len + 1;
    let mut end = bytes.len();
    while start < end && matches!(bytes[start], b' ' | b'\t') {
        start += 1;
    }
    while end > start && matches!(bytes[end - 1], b' ' | b'\t') {
        end -= 1;
    }
    if let Some(&b) = bytes[start..end]
        .iter()
        .find(|&&b| !FIELD_VALUE_CHAR[b as usize])
    {
        return Err(if b == b'\r' {
            Error::BareCr
        } else {
            Error::BadHeaderValue
        });
    }
    let base = line.start;
    Ok((base..base + name_len, base + start..base + end))
}

/// RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status code to
/// any HTTP/1.1 request message that lacks a Host header field and to any request
/// message that contains more than one Host header field line or a Host header
/// field with an invalid field value."
fn check_host(request: &Request) -> Result<(), Error> {
    let mut hosts = request.header_values("host");
    match (hosts.next(), hosts.next()) {
        (_, Some(_)) => Err(Error::DuplicateHost),
        (None, None) if request.version == Version::Http11 => Err(Error::MissingHost),
        (None, None) => Ok(()),
        (Some(host), None) => {
            if host.iter().all(|&b| HOST_CHAR[b as usize]) {
                Ok(())
            } else {
                Err(Error::BadHost)
            }
        }
    }
}

/// Decides how the body is framed: RFC 9112 §6.1 and §6.3, refusing every shape
/// on which two parsers could disagree.
fn body_kind(request: &Request, limits: &Limits) -> Result<BodyKind, Error> {
    let has_te = request.header_values("transfer-encoding").next().is_some();
    let has_cl = request.header_values("content-length").next().is_some();

    if has_te {
        // §6.1: TE in HTTP/1.0 means faulty framing; TE with CL "ought to be
        // handled as an error", and is the classic smuggling shape.
        if request.version == Version::Http10 {
            return Err(Error::TransferEncodingInHttp10);
        }
        if has_cl {
            return Err(Error::ContentLengthWithTransferEncoding);
        }
        let mut codings = Vec::new();
        for value in request.header_values("transfer-encoding") {
            for item in value.split(|&b| b == b',') {
                let item = trim_ows(item);
                if item.is_empty() {
                    continue; // RFC 9110 §5.6.1: empty list elements are ignored.
                }
                // transfer-coding = token *( OWS ";" OWS transfer-parameter )
                let name = trim_ows(item.split(|&b| b == b';').next().unwrap_or(item));
                if !is_token(name) {
                    return Err(Error::BadTransferEncoding);
                }
                codings.push(name);
            }
        }
        let chunked = |c: &&[u8]| c.eq_ignore_ascii_case(b"chunked");
        return match codings.as_slice() {
            [] => Err(Error::BadTransferEncoding),
            [only] if chunked(only) => Ok(BodyKind::Chunked),
            // RFC 9112 §7: chunked MUST NOT be applied more than once.
            many if many.iter().filter(|c| chunked(c)).count() > 1 => {
                Err(Error::BadTransferEncoding)
            }
            // Any other coding, or chunked not last: this server decodes none.
            _ => Err(Error::UnsupportedTransferCoding),
        };
    }

    if has_cl {
        // §6.3 rule 5: a list of identical valid values counts as one.
        let mut length: Option<u64> = None;
        for value in request.header_values("content-length") {
            for item in value.split(|&b| b == b',') {
                let n = decimal(trim_ows(item)).map_err(|_| Error::BadContentLength)?;
                if length.is_some_and(|l| l != n) {
                    return Err(Error::BadContentLength);
                }
                length = Some(n);
            }
        }
        let n = length.ok_or(Error::BadContentLength)?;
        if n > limits.max_body as u64 {
            return Err(Error::BodyTooLarge);
        }
        return Ok(if n == 0 {
            BodyKind::None
        } else {
            BodyKind::Length(n)
        });
    }
    Ok(BodyKind::None)
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// RFC 9112 §9.3: HTTP/1.1 persists unless `close`; HTTP/1.0 only with
/// `keep-alive`.
fn keep_alive(request: &Request) -> bool {
    if request.has_token("connection", "close") {
        return false;
    }
    match request.version {
        Version::Http11 => true,
        Version::Http10 => request.has_token("connection", "keep-alive"),
    }
}

/// RFC 9110 §10.1.1: `100-continue` is the only expectation defined; a server
/// may answer any other with 417.
fn expects_continue(request: &Request) -> Result<bool, Error> {
    let mut expects = false;
    for value in request.header_values("expect") {
        for item in value.split(|&b| b == b',') {
            let item = trim_ows(item);
            if item.eq_ignore_ascii_case(b"100-continue") {
                expects = true;
            } else if !item.is_empty() {
                return Err(Error::ExpectationFailed);
            }
        }
    }
    // An HTTP/1.0 client does not know 100 Continue (RFC 9110 §10.1.1).
    Ok(expects && request.version == Version::Http11)
}

/// Checks one trailer field line (RFC 9112 §7.1.2) with the same rules as a
/// header field line. Used by the chunked decoder, which discards trailers.
pub(crate) fn check_field_line(line: &[u8]) -> Result<(), Error> {
    parse_field_line(line, 0..line.len()).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits::default()
    }

    fn complete(bytes: &[u8]) -> Request {
        match parse(bytes, &limits()) {
            Ok(Parsed::Complete { value, consumed }) => {
                assert_eq!(consumed, bytes.len(), "the whole input is one head");
                value
            }
            other => panic!("expected a complete request, got {other:?}"),
        }
    }

    fn error(bytes: &[u8]) -> Error {
        match parse(bytes, &limits()) {
            Err(e) => e,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    /// One `#[test]` per raw byte case: the request and the error it must get.
    macro_rules! rejects {
        ($($name:ident: $bytes:expr => $err:ident,)*) => {$(
            #[test]
            fn $name() {
                assert_eq!(error($bytes), Error::$err);
            }
        )*};
    }

    rejects! {
        lowercase_version: b"GET / http/1.1\r\nHost: a\r\n\r\n" => BadVersion,
        version_2: b"GET / HTTP/2.0\r\nHost: a\r\n\r\n" => VersionNotSupported,
        version_0_9: b"GET / HTTP/0.9\r\nHost: a\r\n\r\n" => VersionNotSupported,
        version_1_2: b"GET / HTTP/1.2\r\nHost: a\r\n\r\n" => VersionNotSupported,
        version_long: b"GET / HTTP/1.10\r\nHost: a\r\n\r\n" => BadVersion,
        no_version: b"GET /\r\nHost: a\r\n\r\n" => BadRequestLine,
        double_space: b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n" => BadRequestLine,
        trailing_space: b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n" => BadRequestLine,
        tab_separator: b"GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n" => BadRequestLine,
        empty_method: b" / HTTP/1.1\r\nHost: a\r\n\r\n" => BadRequestLine,
        method_with_slash: b"GE/T / HTTP/1.1\r\nHost: a\r\n\r\n" => BadRequestLine,
        target_with_space_inside: b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n" => BadRequestLine,
        target_with_nul: b"GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n" => BadTarget,
        target_with_fragment: b"GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n" => BadTarget,
        target_with_utf8: "GET /é HTTP/1.1\r\nHost: a\r\n\r\n".as_bytes() => BadTarget,
        target_bad_percent: b"GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n" => BadTarget,
        target_short_percent: b"GET /a% HTTP/1.1\r\nHost: a\r\n\r\n" => BadTarget,
        target_relative: b"GET a/b HTTP/1.1\r\nHost: a\r\n\r\n" => BadTarget,
        target_authority_form: b"GET example.com:80 HTTP/1.1\r\nHost: a\r\n\r\n" => BadTarget,
        target_absolute_no_host: b"GET http:///a HTTP/1.1\r\nHost: a\r\n\r\n" => BadTarget,
        bare_lf_request_line: b"GET / HTTP/1.1\nHost: a\r\n\r\n" => BareLf,
        bare_lf_field: b"GET / HTTP/1.1\r\nHost: a\n\r\n" => BareLf,
        bare_lf_end: b"GET / HTTP/1.1\r\nHost: a\r\n\n" => BareLf,
        bare_cr_in_value: b"GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n" => BareCr,
        bare_cr_in_request_line: b"GET /\r HTTP/1.1\r\nHost: a\r\n\r\n" => BareCr,
        bare_cr_in_name: b"GET / HTTP/1.1\r\nHo\rst: a\r\n\r\n" => BareCr,
        nul_in_value: b"GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n" => BadHeaderValue,
        ctl_in_value: b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n" => BadHeaderValue,
        del_in_value: b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n" => BadHeaderValue,
        space_before_colon: b"GET / HTTP/1.1\r\nHost : a\r\n\r\n" => WhitespaceBeforeColon,
        tab_before_colon: b"GET / HTTP/1.1\r\nHost\t: a\r\n\r\n" => WhitespaceBeforeColon,
        no_colon: b"GET / HTTP/1.1\r\nHost a\r\n\r\n" => WhitespaceBeforeColon,
        no_colon_at_all: b"GET / HTTP/1.1\r\nHost\r\n\r\n" => BadHeaderName,
        empty_name: b"GET / HTTP/1.1\r\n: a\r\nHost: a\r\n\r\n" => BadHeaderName,
        bad_name_char: b"GET / HTTP/1.1\r\nHo(st: a\r\n\r\n" => BadHeaderName,
        obs_fold: b"GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n" => ObsFold,
        obs_fold_tab: b"GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n\tc\r\n\r\n" => ObsFold,
        whitespace_before_first_field: b"GET / HTTP/1.1\r\n Host: a\r\n\r\n" => ObsFold,
        missing_host: b"GET / HTTP/1.1\r\n\r\n" => MissingHost,
        duplicate_host: b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n" => DuplicateHost,
        duplicate_host_1_0: b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n" => DuplicateHost,
        bad_host: b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n" => BadHost,
        bad_host_slash: b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n" => BadHost,
        cl_not_a_number: b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n" => BadContentLength,
        cl_signed: b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n" => BadContentLength,
        cl_negative: b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n" => BadContentLength,
        cl_empty: b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n" => BadContentLength,
        cl_hex: b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n" => BadContentLength,
        cl_overflow: b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551616\r\n\r\n" => BadContentLength,
        cl_differing: b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n" => BadContentLength,
        cl_differing_list: b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n" => BadContentLength,
        cl_empty_list_item: b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,,5\r\n\r\n" => BadContentLength,
        cl_too_large: b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1048577\r\n\r\n" => BodyTooLarge,
        cl_and_te: b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n" => ContentLengthWithTransferEncoding,
        te_and_cl: b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n" => ContentLengthWithTransferEncoding,
        te_in_http_1_0: b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n" => TransferEncodingInHttp10,
        te_gzip: b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n" => UnsupportedTransferCoding,
        te_gzip_chunked: b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n" => UnsupportedTransferCoding,
        te_chunked_not_last: b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n" => UnsupportedTransferCoding,
        te_split_lines: b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n" => UnsupportedTransferCoding,
        te_chunked_twice: b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n" => BadTransferEncoding,
        te_empty: b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n" => BadTransferEncoding,
        te_not_token: b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n" => BadTransferEncoding,
        te_misspelled: b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunke\r\n\r\n" => UnsupportedTransferCoding,
        expect_other: b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n" => ExpectationFailed,
        three_leading_empty_lines: b"\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n" => BadRequestLine,
    }

    #[test]
    fn minimal_request() {
        let req = complete(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(req.method(), "GET");
        assert_eq!(req.target(), "/");
        assert_eq!(req.path(), "/");
        assert_eq!(req.query_string(), None);
        assert_eq!(req.version(), Version::Http11);
        assert_eq!(req.body_kind(), BodyKind::None);
        assert!(req.keep_alive());
        assert!(!req.expects_continue());
    }

    #[test]
    fn header_values_are_trimmed_and_case_insensitive() {
        let req = complete(
            b"GET / HTTP/1.1\r\nHOST:   a.example:8080  \r\nX-Empty:\r\nX-Tab:\tv\t\r\n\r\n",
        );
        assert_eq!(req.header("host"), Some("a.example:8080"));
        assert_eq!(req.header("x-empty"), Some(""));
        assert_eq!(req.header("X-TAB"), Some("v"));
        assert_eq!(req.header("missing"), None);
        let names: Vec<&str> = req.headers().map(|(n, _)| n).collect();
        assert_eq!(names, ["HOST", "X-Empty", "X-Tab"]);
    }

    #[test]
    fn obs_text_is_kept_as_bytes() {
        let req = complete(b"GET / HTTP/1.1\r\nHost: a\r\nX: caf\xe9\r\n\r\n");
        assert_eq!(req.header_bytes("x"), Some(&b"caf\xe9"[..]));
        assert_eq!(req.header("x"), None, "not UTF-8");
    }

    #[test]
    fn query_parameters_are_decoded() {
        let req = complete(
            b"GET /p?since=5&callback=cb.x&e=a%20b+c&flag&since=9 HTTP/1.1\r\nHost: a\r\n\r\n",
        );
        assert_eq!(req.path(), "/p");
        assert_eq!(
            req.query("since").as_deref(),
            Some("5"),
            "the first one wins"
        );
        assert_eq!(req.query("callback").as_deref(), Some("cb.x"));
        assert_eq!(req.query("e").as_deref(), Some("a b c"));
        assert_eq!(req.query("flag").as_deref(), Some(""));
        assert_eq!(req.query("nope"), None);
    }

    #[test]
    fn form_decode_edge_cases() {
        assert_eq!(form_decode("%41%4a%4A"), "AJJ");
        assert_eq!(form_decode("100%"), "100%");
        assert_eq!(form_decode("%e2%98%83"), "☃");
        assert_eq!(form_decode("%ff"), "\u{fffd}");
    }

    #[test]
    fn absolute_form_routes_by_its_path() {
        let req = complete(b"GET http://example.com:8080/channels/a/poll?since=1 HTTP/1.1\r\nHost: example.com:8080\r\n\r\n");
        assert_eq!(req.path(), "/channels/a/poll");
        assert_eq!(req.query("since").as_deref(), Some("1"));
        let bare = complete(b"GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n");
        assert_eq!(bare.path(), "/");
    }

    #[test]
    fn asterisk_form() {
        let req = complete(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(req.path(), "*");
    }

    #[test]
    fn percent_encoding_stays_raw_in_the_path() {
        let req = complete(b"GET /channels/a%2Fb/poll HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(req.path(), "/channels/a%2Fb/poll");
    }

    #[test]
    fn http_1_0_without_host_and_keep_alive() {
        let req = complete(b"GET / HTTP/1.0\r\n\r\n");
        assert_eq!(req.version(), Version::Http10);
        assert!(!req.keep_alive());
        let req = complete(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
        assert!(req.keep_alive());
    }

    #[test]
    fn connection_close_is_a_token() {
        assert!(
            !complete(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, CLOSE\r\n\r\n").keep_alive()
        );
        assert!(complete(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n").keep_alive());
    }

    #[test]
    fn content_length_forms() {
        let req = complete(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n");
        assert_eq!(req.body_kind(), BodyKind::Length(12));
        let req = complete(
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 7, 7\r\nContent-Length: 7\r\n\r\n",
        );
        assert_eq!(req.body_kind(), BodyKind::Length(7));
        let req = complete(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(req.body_kind(), BodyKind::None);
        let req = complete(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\n\r\n");
        assert_eq!(req.body_kind(), BodyKind::Length(7));
    }

    #[test]
    fn chunked_forms() {
        for te in [
            "chunked",
            "Chunked",
            " chunked ",
            ", chunked",
            "chunked;x=1",
        ] {
            let raw = format!("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: {te}\r\n\r\n");
            assert_eq!(
                complete(raw.as_bytes()).body_kind(),
                BodyKind::Chunked,
                "{te:?}"
            );
        }
    }

    #[test]
    fn expect_continue() {
        let req = complete(
            b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n",
        );
        assert!(req.expects_continue());
        let req = complete(b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
        assert!(
            !req.expects_continue(),
            "HTTP/1.0 clients do not wait for 100"
        );
    }

    #[test]
    fn leading_empty_lines_are_skipped() {
        let req = complete(b"\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(req.path(), "/x");
    }

    #[test]
    fn every_prefix_of_a_valid_request_needs_more() {
        let raw =
            b"POST /channels/a/publish?event=x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n";
        for end in 0..raw.len() {
            assert!(
                matches!(parse(&raw[..end], &limits()), Ok(Parsed::NeedMore)),
                "prefix of {end} bytes"
            );
        }
        assert_eq!(complete(raw).body_kind(), BodyKind::Length(3));
    }

    #[test]
    fn pipelined_bytes_are_not_consumed() {
        let raw = b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n";
        let Ok(Parsed::Complete { value, consumed }) = parse(raw, &limits()) else {
            panic!("complete");
        };
        assert_eq!(value.path(), "/1");
        assert_eq!(&raw[consumed..], b"GET /2 HTTP/1.1\r\nHost: a\r\n\r\n");
    }

    #[test]
    fn request_line_limit_is_checked_before_the_line_ends() {
        let limits = Limits::default();
        let mut raw = b"GET /".to_vec();
        raw.resize(limits.max_request_line, b'a');
        assert!(matches!(parse(&raw, &limits), Ok(Parsed::NeedMore)));
        raw.push(b'a');
        assert_eq!(parse(&raw, &limits).unwrap_err(), Error::RequestLineTooLong);
        // Exactly at the limit, finished, is fine.
        let mut raw = b"GET /".to_vec();
        raw.resize(limits.max_request_line - b" HTTP/1.1".len(), b'a');
        raw.extend_from_slice(b" HTTP/1.1\r\nHost: a\r\n\r\n");
        assert!(matches!(parse(&raw, &limits), Ok(Parsed::Complete { .. })));
    }

    #[test]
    fn header_section_limit() {
        let limits = Limits::default();
        let mut raw = b"GET / HTTP/1.1\r\nHost: a\r\nX: ".to_vec();
        raw.resize(raw.len() + limits.max_header_bytes, b'v');
        assert_eq!(parse(&raw, &limits).unwrap_err(), Error::HeadersTooLarge);
        raw.extend_from_slice(b"\r\n\r\n");
        assert_eq!(parse(&raw, &limits).unwrap_err(), Error::HeadersTooLarge);
    }

    #[test]
    fn header_count_limit() {
        let limits = Limits::default();
        let mut raw = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
        for i in 1..limits.max_headers {
            raw.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        let mut ok = raw.clone();
        ok.extend_from_slice(b"\r\n");
        assert!(matches!(parse(&ok, &limits), Ok(Parsed::Complete { .. })));
        raw.extend_from_slice(b"X-last: v\r\n\r\n");
        assert_eq!(parse(&raw, &limits).unwrap_err(), Error::TooManyHeaders);
    }

    #[test]
    fn errors_map_to_the_contract_statuses() {
        assert_eq!(Error::RequestLineTooLong.status(), 414);
        assert_eq!(Error::HeadersTooLarge.status(), 431);
        assert_eq!(Error::TooManyHeaders.status(), 431);
        assert_eq!(Error::BodyTooLarge.status(), 413);
        assert_eq!(Error::HeaderTimeout.status(), 408);
        assert_eq!(Error::UnsupportedTransferCoding.status(), 501);
        assert_eq!(Error::VersionNotSupported.status(), 505);
        assert_eq!(Error::ContentLengthWithTransferEncoding.status(), 400);
    }
}
