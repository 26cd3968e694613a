//! A WebSocket client: the opening handshake from the other side (RFC 6455
//! §4.1), then the same [`WebSocket`] session, masking its frames.
//!
//! For tests, benchmarks, and programs that talk to a server without a browser
//! (a device publishing readings, a bot in a chat). `ws://` only: TLS is left to
//! whatever the program runs behind.
//!
//! # Examples
//!
//! ```no_run
//! use realtime_web::transport::websocket::{connect, Message};
//!
//! let mut ws = connect("ws://127.0.0.1:8080/channels/news/ws")?;
//! ws.send_text("hello")?;
//! while let Ok(message) = ws.read() {
//!     if let Message::Text(json) = message {
//!         println!("{json}");
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::frame::Role;
use super::handshake::{accept_key, VERSION};
use super::session::{WebSocket, WsConfig};
use crate::codec::base64;
use crate::codec::sha1::Sha1;
use crate::http::list_has_token;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

/// How long connecting and the handshake may take unless
/// [`ClientOptions::timeout`] says otherwise.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest handshake response head the client reads.
const MAX_RESPONSE_HEAD: usize = 16 * 1024;

/// Options of [`connect_with`].
#[derive(Clone, Debug, Default)]
pub struct ClientOptions {
    /// An `Origin` to send, as a browser would.
    pub origin: Option<String>,
    /// Subprotocols to offer, in order of preference.
    pub protocols: Vec<String>,
    /// Limits and timeouts of the session. The client sends no keep-alive pings
    /// unless `ping_interval` is set.
    pub config: Option<WsConfig>,
    /// How long connecting and the handshake may take. Default 10 s.
    pub timeout: Option<Duration>,
}

/// Connects to `url` (`ws://host[:port]/path[?query]`) with default options.
///
/// # Errors
///
/// An I/O error for a bad URL (`InvalidInput`), a failed connection, or a
/// refused or malformed handshake (`InvalidData`, with the status in the text).
pub fn connect(url: &str) -> io::Result<WebSocket> {
    connect_with(url, ClientOptions::default())
}

/// Connects to `url` with `options`; see [`connect`].
///
/// # Errors
///
/// As [`connect`].
pub fn connect_with(url: &str, options: ClientOptions) -> io::Result<WebSocket> {
    let (host, path) = parse_url(url)?;
    let timeout = options.timeout.unwrap_or(DEFAULT_TIMEOUT);
    let addr = host.to_socket_addrs()?.next().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "host resolves to no address")
    })?;
    let stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;

    let seed = random_seed();
    let key = base64::encode(&seed);
    let mut request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: {VERSION}\r\n"
    );
    if let Some(origin) = &options.origin {
        request.push_str(&format!("Origin: {origin}\r\n"));
    }
    if !options.protocols.is_empty() {
        request.push_str(&format!(
            "Sec-WebSocket-Protocol: {}\r\n",
            options.protocols.join(", ")
        ));
    }
    let config = options.config.unwrap_or(WsConfig {
        ping_interval: None,
        ..WsConfig::default()
    });
    // permessage-deflate (RFC 7692), every parameter left to the server.
    #[cfg(feature = "deflate")]
    let offer_deflate = config.deflate;
    #[cfg(not(feature = "deflate"))]
    let offer_deflate = false;
    #[cfg(feature = "deflate")]
    if offer_deflate {
        request.push_str(&format!(
            "Sec-WebSocket-Extensions: {}\r\n",
            super::deflate::offer()
        ));
    }
    request.push_str("\r\n");
    (&stream).write_all(request.as_bytes())?;

    let (head, leftover) = read_head(&stream)?;
    let granted = check_response(&head, &key, offer_deflate)?;
    let ws = WebSocket::new(Arc::new(stream), Role::Client, config, leftover);
    #[cfg(feature = "deflate")]
    if let Some(answer) = granted.extensions {
        let params = super::deflate::accepted(&answer).map_err(invalid)?;
        return Ok(ws.with_deflate(super::deflate::client(params)));
    }
    let _ = granted;
    Ok(ws)
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// Splits `ws://host[:port]/path` into `host:port` and the request target.
fn parse_url(url: &str) -> io::Result<(String, String)> {
    let rest = url.strip_prefix("ws://").ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "only ws:// URLs are supported")
    })?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest[i..].starts_with('?') => (&rest[..i], format!("/{}", &rest[i..])),
        Some(i) => (&rest[..i], rest[i..].to_owned()),
        None => (rest, "/".to_owned()),
    };
    if authority.is_empty() || path.contains([' ', '\r', '\n']) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "malformed ws:// URL",
        ));
    }
    let host = if authority
        .rsplit_once(':')
        .is_some_and(|(_, port)| port.parse::<u16>().is_ok())
    {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    Ok((host, path))
}

/// Reads the response head; returns it and the bytes after it.
fn read_head(stream: &TcpStream) -> io::Result<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8(buf[..end].to_vec())
                .map_err(|_| invalid("handshake response is not text".into()))?;
            return Ok((head, buf[end + 4..].to_vec()));
        }
        if buf.len() > MAX_RESPONSE_HEAD {
            return Err(invalid("handshake response head too large".into()));
        }
        let n = (&*stream).read(&mut chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// §4.1: the client MUST fail the connection unless the status is 101 and
/// `Upgrade`, `Connection` and `Sec-WebSocket-Accept` are as expected.
/// What a handshake answer grants beyond the connection.
struct Granted {
    /// The permessage-deflate answer, if the server accepted the offer.
    #[cfg_attr(not(feature = "deflate"), allow(dead_code))]
    extensions: Option<String>,
}

fn check_response(head: &str, key: &str, offered_deflate: bool) -> io::Result<Granted> {
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line.split(' ').nth(1).unwrap_or_default();
    if status != "101" {
        return Err(invalid(format!("handshake refused: {status_line}")));
    }
    let mut upgrade = false;
    let mut connection = false;
    let mut accept = None;
    let mut extensions = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(invalid("malformed handshake response header".into()));
        };
        let value = value.trim();
        match name.to_ascii_lowercase().as_str() {
            "upgrade" => upgrade |= list_has_token(value, "websocket"),
            "connection" => connection |= list_has_token(value, "upgrade"),
            "sec-websocket-accept" => accept = Some(value.to_owned()),
            "sec-websocket-extensions" if offered_deflate && extensions.is_none() => {
                extensions = Some(value.to_owned());
            }
            "sec-websocket-extensions" => {
                return Err(invalid(
                    "the server chose an extension the client did not offer".into(),
                ))
            }
            _ => {}
        }
    }
    if !upgrade || !connection {
        return Err(invalid(
            "handshake response without Upgrade: websocket and Connection: Upgrade".into(),
        ));
    }
    if accept.as_deref() != Some(accept_key(key).as_str()) {
        return Err(invalid("wrong Sec-WebSocket-Accept".into()));
    }
    Ok(Granted { extensions })
}

/// Masking keys for a client (§5.3: "derived from a strong source of entropy",
/// so that a page's script cannot choose the bytes on the wire and poison a
/// proxy's cache). The seed is 16 bytes of `/dev/urandom`; each key is the first
/// four bytes of SHA-1(seed, counter), which nobody without the seed can
/// predict. Where `/dev/urandom` does not exist, the seed falls back to the
/// clock, the process id and a stack address: unique, but not secret — fine
/// for a device talking to its own server, not against a hostile page.
pub(super) struct MaskKeys {
    seed: [u8; 16],
    counter: u64,
}

impl MaskKeys {
    pub(super) fn new() -> MaskKeys {
        MaskKeys {
            seed: random_seed(),
            counter: 0,
        }
    }

    pub(super) fn next(&mut self) -> [u8; 4] {
        self.counter += 1;
        let mut hash = Sha1::new();
        hash.update(&self.seed);
        hash.update(&self.counter.to_le_bytes());
        let digest = hash.finish();
        [digest[0], digest[1], digest[2], digest[3]]
    }
}

/// 16 unpredictable bytes from `/dev/urandom`, or, where it does not exist, a
/// unique but guessable fallback (the clock, the process id, a stack address).
/// Seeds the client's masking keys (RFC 6455 §5.3).
pub fn random_seed() -> [u8; 16] {
    let mut seed = [0u8; 16];
    let from_system = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut seed));
    if from_system.is_err() {
        let mut hash = Sha1::new();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        hash.update(&now.to_le_bytes());
        hash.update(&std::process::id().to_le_bytes());
        let here = &seed as *const _ as usize;
        hash.update(&here.to_le_bytes());
        seed.copy_from_slice(&hash.finish()[..16]);
    }
    seed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("ws://a.example/x?y=1").unwrap(),
            ("a.example:80".into(), "/x?y=1".into())
        );
        assert_eq!(
            parse_url("ws://127.0.0.1:9000").unwrap(),
            ("127.0.0.1:9000".into(), "/".into())
        );
        assert_eq!(
            parse_url("ws://h:1?q").unwrap(),
            ("h:1".into(), "/?q".into())
        );
        assert!(parse_url("wss://secure.example/").is_err());
        assert!(parse_url("http://a/").is_err());
        assert!(parse_url("ws:///path").is_err());
    }

    #[test]
    fn response_checks() {
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let good = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
        assert!(check_response(good, key, false).is_ok());
        assert!(check_response(&good.replace("101", "200"), key, false).is_err());
        assert!(check_response(&good.replace("s3pP", "xxxx"), key, false).is_err());
        assert!(check_response(&good.replace("Upgrade: websocket\r\n", ""), key, false).is_err());
    }

    #[test]
    fn mask_keys_differ() {
        let mut keys = MaskKeys::new();
        let a = keys.next();
        let b = keys.next();
        assert_ne!(a, b);
        assert_ne!(MaskKeys::new().seed, MaskKeys::new().seed);
    }
}
