//! Why a request was refused before it reached a handler, and the status
//! each refusal is answered with ([`Response::refusal`](super::Response::refusal)
//! writes the reply).

#[cfg(doc)]
use super::Limits;
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
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message(), self.status())
    }
}

impl std::error::Error for Error {}
