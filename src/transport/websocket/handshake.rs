//! The opening handshake: an HTTP/1.1 `GET` that asks to switch protocols, and
//! the server's `101` that agrees (RFC 6455 §4.1, §4.2).
//!
//! ```text
//! GET /chat HTTP/1.1                          HTTP/1.1 101 Switching Protocols
//! Host: server.example.com                    Upgrade: websocket
//! Upgrade: websocket                  ──▶     Connection: Upgrade
//! Connection: Upgrade                         Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
//! Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
//! Sec-WebSocket-Version: 13
//! Origin: http://example.com
//! ```
//!
//! The server checks the request as §4.2.1 lists, and each failure gets its own
//! answer (§4.2.2 leaves the codes open; these are the conventional ones):
//!
//! | check | failure |
//! | --- | --- |
//! | the method is `GET` | `405` with `Allow: GET` |
//! | the version is HTTP/1.1 | `400` |
//! | `Upgrade` lists the token `websocket`, `Connection` lists `Upgrade` | `400` |
//! | `Sec-WebSocket-Version` is `13` | `426` with `Sec-WebSocket-Version: 13` |
//! | `Sec-WebSocket-Key` appears once and is base64 of 16 bytes | `400` |
//! | `Origin`, when a browser sends it, is on the allow-list | `403` |
//!
//! The `Origin` check is the defence against cross-site WebSocket hijacking:
//! the handshake is not subject to CORS, so without it any page a user visits
//! could open a WebSocket to this server with the user's cookies. Clients that
//! are not browsers send no `Origin`, and are let through.
//!
//! `Sec-WebSocket-Accept` proves that the server understood the handshake: the
//! base64 of the SHA-1 of the key joined with a fixed GUID (§1.3, §4.2.2 step
//! 5.4). The one extension is `permessage-deflate`, negotiated in
//! `deflate.rs` (feature `deflate`); a subprotocol is chosen only if
//! the server speaks one the client offered.

use crate::codec::{base64, sha1::Sha1};
use crate::http::{Cors, Request, Response, Version};
use std::fmt;

/// The GUID of RFC 6455 §1.3, appended to the key before hashing.
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The one protocol version of RFC 6455 (§4.1, §11.6).
pub const VERSION: &str = "13";

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key` (§4.2.2).
///
/// # Examples
///
/// ```
/// use realtime_web::transport::websocket::handshake::accept_key;
///
/// // RFC 6455 §1.3's own example.
/// assert_eq!(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn accept_key(key: &str) -> String {
    // Hashed in two parts rather than through `format!`, whose machinery
    // took 230 bytes of a connection thread's stack under the handshake.
    let mut hash = Sha1::new();
    hash.update(key.as_bytes());
    hash.update(GUID.as_bytes());
    base64::encode(&hash.finish())
}

/// Why a handshake was refused. Each variant is one check of §4.2.1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandshakeError {
    /// Not a `GET` (§4.1: "The method of the request MUST be GET").
    Method,
    /// Not HTTP/1.1.
    HttpVersion,
    /// No `Upgrade: websocket`, or no `Connection: Upgrade`.
    NotUpgrade,
    /// `Sec-WebSocket-Version` missing or not 13.
    Version,
    /// `Sec-WebSocket-Key` missing, repeated, or not base64 of 16 bytes.
    Key,
    /// An `Origin` outside the allow-list.
    Origin,
}

impl HandshakeError {
    /// The status this refusal is answered with.
    pub fn status(self) -> u16 {
        match self {
            HandshakeError::Method => 405,
            HandshakeError::Version => 426,
            HandshakeError::Origin => 403,
            HandshakeError::HttpVersion | HandshakeError::NotUpgrade | HandshakeError::Key => 400,
        }
    }

    fn message(self) -> &'static str {
        match self {
            HandshakeError::Method => "a WebSocket handshake is a GET",
            HandshakeError::HttpVersion => "a WebSocket handshake needs HTTP/1.1",
            HandshakeError::NotUpgrade => "expected Upgrade: websocket and Connection: Upgrade",
            HandshakeError::Version => "only WebSocket version 13 is supported",
            HandshakeError::Key => "missing or malformed Sec-WebSocket-Key",
            HandshakeError::Origin => "origin not allowed",
        }
    }

    /// The refusal: the status, the contract's JSON error, and the fields the
    /// status calls for (`Allow`, `Sec-WebSocket-Version`).
    pub fn response(self) -> Response {
        let response = Response::error(self.status(), self.message());
        match self {
            HandshakeError::Method => response.header("Allow", "GET"),
            HandshakeError::Version => response
                .header("Sec-WebSocket-Version", VERSION)
                .header("Upgrade", "websocket"),
            _ => response,
        }
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message(), self.status())
    }
}

impl std::error::Error for HandshakeError {}

/// A handshake that passed every check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The `Sec-WebSocket-Accept` value.
    pub accept: String,
    /// The subprotocol chosen, if any.
    pub protocol: Option<String>,
}

impl Accepted {
    /// The `101` head (the caller attaches what runs on the connection).
    pub fn into_response(self, response: Response) -> Response {
        let response = response
            .header("Upgrade", "websocket")
            .header("Sec-WebSocket-Accept", self.accept);
        match self.protocol {
            Some(protocol) => response.header("Sec-WebSocket-Protocol", protocol),
            None => response,
        }
    }
}

/// Checks an opening handshake (see the module docs for the order and the
/// answers), with `cors` deciding which `Origin`s may connect and `protocols`
/// the subprotocols the server speaks.
///
/// # Errors
///
/// The first check that fails.
pub fn check(
    request: &Request,
    cors: &Cors,
    protocols: &[String],
) -> Result<Accepted, HandshakeError> {
    // The checks and the choice of subprotocol are apart, and never inlined,
    // so that their iterators' room (about 250 bytes) is given back before
    // the key is hashed: this runs under the router and the handler on a
    // connection thread, and the hashing was the deepest point of a
    // WebSocket subscriber's stack, 8,416 bytes, into a third 4 KiB page
    // that then stayed resident for the session (see `Config::stack_size`).
    let key = checked_key(request, cors)?;
    let protocol = chosen_protocol(request, protocols);
    Ok(Accepted {
        accept: accept_key(key),
        protocol,
    })
}

/// The checks of [`check`], in its order; the client's key if all pass.
#[inline(never)]
fn checked_key<'r>(request: &'r Request, cors: &Cors) -> Result<&'r str, HandshakeError> {
    if request.method() != "GET" {
        return Err(HandshakeError::Method);
    }
    if request.version() != Version::Http11 {
        return Err(HandshakeError::HttpVersion);
    }
    if !request.has_token("upgrade", "websocket") || !request.has_token("connection", "upgrade") {
        return Err(HandshakeError::NotUpgrade);
    }
    if request.header("sec-websocket-version").map(str::trim) != Some(VERSION) {
        return Err(HandshakeError::Version);
    }
    let mut keys = request.header_values("sec-websocket-key");
    let key = match (keys.next(), keys.next()) {
        (Some(key), None) => std::str::from_utf8(key)
            .map_err(|_| HandshakeError::Key)?
            .trim(),
        _ => return Err(HandshakeError::Key),
    };
    if base64::decode(key).map(|k| k.len()) != Ok(16) {
        return Err(HandshakeError::Key);
    }
    if let Some(origin) = request.header("origin") {
        if !cors.allows(origin) {
            return Err(HandshakeError::Origin);
        }
    }
    Ok(key)
}

/// The first of the client's offers, in its order, that the server speaks.
#[inline(never)]
fn chosen_protocol(request: &Request, protocols: &[String]) -> Option<String> {
    request
        .header_values("sec-websocket-protocol")
        .filter_map(|v| std::str::from_utf8(v).ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .find(|offer| protocols.iter().any(|p| p == offer))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::request::{parse, Limits, Parsed};

    const GOOD: &str = "GET /echo HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

    fn request(extra: &str) -> Request {
        let raw = format!("{GOOD}{extra}\r\n");
        match parse(raw.as_bytes(), &Limits::default()) {
            Ok(Parsed::Complete { value, .. }) => value,
            other => panic!("{other:?}"),
        }
    }

    fn raw(text: &str) -> Request {
        match parse(text.as_bytes(), &Limits::default()) {
            Ok(Parsed::Complete { value, .. }) => value,
            other => panic!("{other:?}"),
        }
    }

    fn any() -> Cors {
        Cors::allow_any()
    }

    #[test]
    fn rfc_example_accept_key() {
        let accepted = check(&request(""), &any(), &[]).unwrap();
        assert_eq!(accepted.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(accepted.protocol, None);
    }

    #[test]
    fn token_lists_are_parsed() {
        let r = raw("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: foo, WebSocket\r\nConnection: keep-alive, upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
        assert!(check(&r, &any(), &[]).is_ok());
        let r = raw("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websockets\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
        assert_eq!(check(&r, &any(), &[]), Err(HandshakeError::NotUpgrade));
    }

    #[test]
    fn each_refusal_has_its_status() {
        let cases: [(&str, HandshakeError, u16); 9] = [
            ("POST /echo HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", HandshakeError::Method, 405),
            ("GET /echo HTTP/1.0\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", HandshakeError::HttpVersion, 400),
            ("GET /echo HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", HandshakeError::NotUpgrade, 400),
            ("GET /echo HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", HandshakeError::NotUpgrade, 400),
            ("GET /echo HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n", HandshakeError::Version, 426),
            ("GET /echo HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", HandshakeError::Version, 426),
            ("GET /echo HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n", HandshakeError::Key, 400),
            ("GET /echo HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n\r\n", HandshakeError::Key, 400),
            ("GET /echo HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", HandshakeError::Key, 400),
        ];
        for (text, error, status) in cases {
            assert_eq!(check(&raw(text), &any(), &[]), Err(error), "{text}");
            assert_eq!(error.status(), status);
        }
        assert_eq!(
            HandshakeError::Version
                .response()
                .header_value("sec-websocket-version"),
            Some("13")
        );
        assert_eq!(
            HandshakeError::Method.response().header_value("allow"),
            Some("GET")
        );
    }

    #[test]
    fn origin_allow_list() {
        let cors = Cors::allow_list(["https://app.example"]);
        assert!(check(&request("Origin: https://app.example\r\n"), &cors, &[]).is_ok());
        assert_eq!(
            check(&request("Origin: https://evil.example\r\n"), &cors, &[]),
            Err(HandshakeError::Origin)
        );
        assert!(
            check(&request(""), &cors, &[]).is_ok(),
            "no Origin: not a browser"
        );
    }

    #[test]
    fn subprotocol_is_the_first_offer_the_server_speaks() {
        let speaks = ["chat.v2".to_owned(), "chat.v1".to_owned()];
        let accepted = check(
            &request("Sec-WebSocket-Protocol: other, chat.v1, chat.v2\r\n"),
            &any(),
            &speaks,
        )
        .unwrap();
        assert_eq!(accepted.protocol.as_deref(), Some("chat.v1"));
        let none = check(
            &request("Sec-WebSocket-Protocol: other\r\n"),
            &any(),
            &speaks,
        )
        .unwrap();
        assert_eq!(none.protocol, None);
    }
}
