//! HTTP/1.1 as RFC 9112 frames it and RFC 9110 gives it meaning: request parsing,
//! the chunked coding, responses, routing and CORS.
//!
//! The parsers here are pure functions over bytes that answer *complete*, *need
//! more* or *error*; the server's connection loop (`server.rs`) does the socket
//! I/O around them. That split keeps every framing rule testable without a socket.

pub mod chunked;
pub mod cors;
pub mod request;
pub mod response;
pub mod router;
pub mod stats;

pub use cors::Cors;
pub use request::{BodyKind, Limits, Request, Version};
pub use response::{Body, Response};
pub use router::{Handler, Router};
pub use stats::{Meter, Stats};

use std::fmt;

/// Why a request was refused before it reached a handler. Each variant is one
/// rule of RFC 9112 or one limit, and maps to exactly one status code.
///
/// Every one of them also closes the connection: once a request was not
/// understood, the server cannot know where the next one starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The request-line is not `method SP request-target SP HTTP-version`
    /// (RFC 9112 §3).
    BadRequestLine,
    /// The request-target is not origin-, absolute- or asterisk-form, or holds a
    /// character RFC 3986 does not allow (RFC 9112 §3.2).
    BadTarget,
    /// The version is not `HTTP/DIGIT.DIGIT` (RFC 9112 §2.3).
    BadVersion,
    /// A well-formed version other than HTTP/1.0 and HTTP/1.1 (RFC 9110 §15.6.6).
    VersionNotSupported,
    /// A field name that is not a token (RFC 9110 §5.1).
    BadHeaderName,
    /// Whitespace between a field name and the colon, which RFC 9112 §5.1 says a
    /// server MUST reject with 400.
    WhitespaceBeforeColon,
    /// A field value holding NUL or another control character (RFC 9110 §5.5).
    BadHeaderValue,
    /// A field line folded onto the next (obs-fold), rejected as RFC 9112 §5.2
    /// allows.
    ObsFold,
    /// A CR not followed by LF (RFC 9112 §2.2).
    BareCr,
    /// An LF not preceded by CR. RFC 9112 §2.2 only *allows* a recipient to
    /// accept it; this server does not, so that all parsers on a request's path
    /// agree on where lines end.
    BareLf,
    /// An HTTP/1.1 request without `Host` (RFC 9112 §3.2: MUST respond 400).
    MissingHost,
    /// More than one `Host` field line (RFC 9112 §3.2: MUST respond 400).
    DuplicateHost,
    /// A `Host` value that is not `uri-host [ ":" port ]`.
    BadHost,
    /// A `Content-Length` that is not a decimal number, overflows, or differs
    /// between repeated values (RFC 9112 §6.3, rule 5).
    BadContentLength,
    /// Both `Content-Length` and `Transfer-Encoding` (RFC 9112 §6.1: a smuggling
    /// shape; refused and closed).
    ContentLengthWithTransferEncoding,
    /// `Transfer-Encoding` in an HTTP/1.0 request, whose framing RFC 9112 §6.1
    /// says to treat as faulty.
    TransferEncodingInHttp10,
    /// A `Transfer-Encoding` value that is not a list of codings, or applies
    /// chunked twice (RFC 9112 §7).
    BadTransferEncoding,
    /// A transfer coding other than a single, final `chunked` (RFC 9112 §6.1:
    /// 501 for codings the server does not understand).
    UnsupportedTransferCoding,
    /// A malformed chunk size, extension, or chunk end (RFC 9112 §7.1).
    BadChunk,
    /// The request-line is longer than [`Limits::max_request_line`].
    RequestLineTooLong,
    /// The header section (or a chunked body's trailer section) is larger than
    /// [`Limits::max_header_bytes`].
    HeadersTooLarge,
    /// More field lines than [`Limits::max_headers`].
    TooManyHeaders,
    /// A body larger than [`Limits::max_body`].
    BodyTooLarge,
    /// An `Expect` value other than `100-continue` (RFC 9110 §10.1.1).
    ExpectationFailed,
    /// The header section did not arrive within the header timeout.
    HeaderTimeout,
    /// The body did not arrive within the body timeout.
    BodyTimeout,
}

impl Error {
    /// The status code this error is answered with.
    pub fn status(self) -> u16 {
        use Error::*;
        match self {
            BadRequestLine
            | BadTarget
            | BadVersion
            | BadHeaderName
            | WhitespaceBeforeColon
            | BadHeaderValue
            | ObsFold
            | BareCr
            | BareLf
            | MissingHost
            | DuplicateHost
            | BadHost
            | BadContentLength
            | ContentLengthWithTransferEncoding
            | TransferEncodingInHttp10
            | BadTransferEncoding
            | BadChunk => 400,
            HeaderTimeout | BodyTimeout => 408,
            BodyTooLarge => 413,
            RequestLineTooLong => 414,
            ExpectationFailed => 417,
            HeadersTooLarge | TooManyHeaders => 431,
            UnsupportedTransferCoding => 501,
            VersionNotSupported => 505,
        }
    }

    /// A fixed description for the JSON error body. It never contains any of the
    /// request's own bytes.
    pub fn message(self) -> &'static str {
        use Error::*;
        match self {
            BadRequestLine => "malformed request line",
            BadTarget => "malformed request target",
            BadVersion => "malformed HTTP version",
            VersionNotSupported => "HTTP version not supported",
            BadHeaderName => "malformed header field name",
            WhitespaceBeforeColon => "whitespace before colon in header field",
            BadHeaderValue => "invalid character in header field value",
            ObsFold => "obsolete line folding is not accepted",
            BareCr => "CR not followed by LF",
            BareLf => "LF not preceded by CR",
            MissingHost => "missing Host header",
            DuplicateHost => "more than one Host header",
            BadHost => "malformed Host header",
            BadContentLength => "invalid Content-Length",
            ContentLengthWithTransferEncoding => "both Content-Length and Transfer-Encoding",
            TransferEncodingInHttp10 => "Transfer-Encoding in an HTTP/1.0 request",
            BadTransferEncoding => "malformed Transfer-Encoding",
            UnsupportedTransferCoding => "unsupported transfer coding",
            BadChunk => "malformed chunked body",
            RequestLineTooLong => "request line too long",
            HeadersTooLarge => "header section too large",
            TooManyHeaders => "too many header fields",
            BodyTooLarge => "request body too large",
            ExpectationFailed => "only Expect: 100-continue is supported",
            HeaderTimeout => "request headers not received in time",
            BodyTimeout => "request body not received in time",
        }
    }

    /// The reply for this error: the status, the contract's JSON body and
    /// `Connection: close`.
    pub fn response(self) -> Response {
        Response::error(self.status(), self.message()).close()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message(), self.status())
    }
}

impl std::error::Error for Error {}

/// True for the two ways a socket timeout surfaces: `WouldBlock` on Unix
/// (`EAGAIN` from `SO_RCVTIMEO`/`SO_SNDTIMEO`) and `TimedOut` on Windows.
pub fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
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
    out: &mut impl std::io::Write,
    mut bytes: &[u8],
    deadline: std::time::Instant,
) -> std::io::Result<()> {
    while !bytes.is_empty() {
        match out.write(bytes) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if is_timeout(&e) && std::time::Instant::now() < deadline => {}
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
pub fn write_now(out: &mut impl std::io::Write, bytes: &[u8]) -> std::io::Result<usize> {
    match out.write(bytes) {
        Ok(written) => Ok(written),
        Err(e) if is_timeout(&e) || e.kind() == std::io::ErrorKind::Interrupted => Ok(0),
        Err(e) => Err(e),
    }
}

/// Whether `list` (a comma-separated header value, RFC 9110 §5.6.1) holds
/// `token`, compared case-insensitively. Empty elements are ignored.
pub fn list_has_token(list: &str, token: &str) -> bool {
    list.split(',')
        .map(|item| item.trim_matches([' ', '\t']))
        .any(|item| item.eq_ignore_ascii_case(token))
}
