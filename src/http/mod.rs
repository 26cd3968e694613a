//! HTTP/1.1 as RFC 9112 frames it and RFC 9110 gives it meaning: request parsing,
//! the chunked coding, responses, routing and CORS.
//!
//! The parsers here are pure functions over bytes that answer *complete*, *need
//! more* or *error*; the server's connection loop (`server/connection.rs`) does the socket
//! I/O around them. That split keeps every framing rule testable without a socket.

pub mod chunked;
pub mod cors;
mod error;
pub mod request;
pub mod response;
pub mod router;

pub use cors::Cors;
pub use error::Error;
pub use request::{BodyKind, Limits, Request, Version};
pub use response::{Body, Response};
pub use router::{Handler, Router};

/// Whether `list` (a comma-separated header value, RFC 9110 §5.6.1) holds
/// `token`, compared case-insensitively. Empty elements are ignored.
pub fn list_has_token(list: &str, token: &str) -> bool {
    list.split(',')
        .map(|item| item.trim_matches([' ', '\t']))
        .any(|item| item.eq_ignore_ascii_case(token))
}
