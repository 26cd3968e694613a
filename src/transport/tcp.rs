//! The plain socket: a line protocol on its own TCP port, and the Flash-era
//! cross-domain policy answer.
//!
//! Before WebSocket, a page that wanted a real two-way socket embedded a Flash
//! object and used its `XMLSocket` or `Socket` class. The Flash player first
//! asked the server — on port 843, or on the socket's own port — whether pages
//! from the page's domain might connect, by sending `<policy-file-request/>`
//! and a NUL byte; the server answered with a cross-domain policy document and a
//! NUL, and closed (Adobe, "Cross-domain policy file specification", the
//! socket-policy part; `site-control` and `allow-access-from` with `to-ports`
//! are its elements). Browsers dropped Flash in 2020 (and with it this check, a
//! weaker cousin of CORS that plugins enforced themselves). The answer is kept
//! here as history; the line protocol behind it is still the simplest push
//! channel there is, for anything that has a socket but no HTTP stack: `nc`, a
//! ten-line script, a small device.
//!
//! # The protocol, byte for byte
//!
//! No standard defines it: the line protocol is this crate's own (also in
//! `docs/PROTOCOL.md`), kept as small as a line-oriented protocol can be, in
//! the spirit of the text protocols of RFC 5321 or Redis's inline commands;
//! only the policy exchange follows Adobe's specification.
//!
//! Lines end with LF (a CR before it is ignored); a line is at most
//! [`MAX_LINE`] bytes.
//!
//! ```text
//! client: SUB news 41⏎                    subscribe to "news" after id 41
//!                                          (without an id: new messages only)
//! server: {"gap":true,"oldest":50}⏎       only if messages after 41 were evicted
//! server: {"id":50,"event":"message","data":"hi"}⏎   one line per message
//! server: ⏎                               an empty line: heartbeat after silence
//! client: PUB hello there⏎                publish "hello there" to "news"
//! server: ERR unknown command⏎            any other line (the connection stays)
//! ```
//!
//! A first line that is not `SUB` with a valid channel name (and optional id),
//! or any line over the limit, is answered with `ERR …` and the connection is
//! closed. Messages are the contract's message JSON, so the cursor and gap rules
//! are those of every other transport.
//!
//! Like a WebSocket subscription, a connection has one thread, which reads the
//! client's lines; the channel's broadcaster ([`crate::hub::broadcast`]) writes
//! the messages and, after [`StreamConfig::heartbeat`] of silence, the empty
//! line — the same bytes to every line subscriber, and the same as XHR
//! streaming's ndjson. The heartbeat finds a vanished client: its failing
//! write shuts the socket, which ends the reader too. When the reader ends
//! first, the subscription leaves the broadcast at once.

use super::access::{Access, Action, Asking};
use super::{as_is, subscribed, write_json_line, StreamConfig};
use crate::codec::number::{decimal, NotDecimal};
use crate::hub::broadcast::{End, Format, Sink};
use crate::hub::{self, Channel, Hub, DEFAULT_EVENT};
use crate::net::{is_timeout, write_all_before, write_now, Connection, Socket};
use crate::sync::lock;
use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The Flash player's request (its bytes, NUL included).
pub const POLICY_REQUEST: &[u8] = b"<policy-file-request/>\0";

/// The longest line accepted, LF included.
pub const MAX_LINE: usize = 64 * 1024 + 64;

/// How long the reader waits for a line before looking again; reading without
/// a deadline is fine here, since the broadcaster's heartbeat finds a dead
/// peer.
const READ_TICK: Duration = Duration::from_secs(30);

/// How long one write may block when the server set no write timeout.
const PATIENCE: Duration = Duration::from_secs(10);

/// The cross-domain policy for `origins` (their hosts, or `*`) and `port`.
pub fn policy(cors_origins: &[String], port: u16) -> String {
    let mut domains: Vec<String> = cors_origins
        .iter()
        .map(|origin| {
            let host = origin.split("://").nth(1).unwrap_or(origin);
            let host = host.split(['/', ':']).next().unwrap_or(host);
            host.chars()
                .filter(|c| c.is_ascii_alphanumeric() || "-.*".contains(*c))
                .collect()
        })
        .filter(|d: &String| !d.is_empty())
        .collect();
    if domains.is_empty() {
        domains.push("*".to_owned());
    }
    let mut xml = String::from(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE cross-domain-policy SYSTEM \"/xml/dtds/cross-domain-policy.dtd\">\n<cross-domain-policy>\n<site-control permitted-cross-domain-policies=\"master-only\"/>\n",
    );
    for domain in domains {
        xml.push_str(&format!(
            "<allow-access-from domain=\"{domain}\" to-ports=\"{port}\"/>\n"
        ));
    }
    xml.push_str("</cross-domain-policy>\n\0");
    xml
}

/// The handler for the TCP port: give it to [`crate::server::Server::serve_raw`].
/// `origins` are the allowed origins (empty: any), for the policy answer.
///
/// `access` is asked before a client subscribes (with no HTTP request, and
/// the client's address) and, once per connection, whether its `PUB` lines
/// are published (see [`Access`]).
pub fn handler(
    hub: Arc<Hub>,
    origins: Vec<String>,
    config: StreamConfig,
    access: Access,
) -> impl Fn(Connection) + Send + Sync + 'static {
    move |connection| serve(&hub, &origins, config, &access, connection)
}

/// Reads lines off a socket, one at a time, with the length limit.
struct Lines<'a> {
    socket: &'a dyn Socket,
    buf: Vec<u8>,
}

enum Line {
    Text(String),
    Policy,
    TooLong,
    Closed,
}

impl Lines<'_> {
    fn next(&mut self) -> Line {
        loop {
            if self.buf == POLICY_REQUEST {
                return Line::Policy;
            }
            if let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Line::Text(String::from_utf8_lossy(&line).into_owned());
            }
            if self.buf.len() >= MAX_LINE {
                return Line::TooLong;
            }
            let mut chunk = [0u8; 4096];
            match self.socket.read(&mut chunk) {
                Ok(0) => return Line::Closed,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if is_timeout(&e) => {}
                Err(_) => return Line::Closed,
            }
        }
    }
}

/// Lines out, whole, from the connection's thread or the broadcaster.
struct Writer {
    socket: Arc<dyn Socket>,
    lock: Mutex<()>,
    /// The server's write timeout: the socket's own is shortened for the
    /// broadcaster once subscribed.
    patience: Duration,
}

impl Writer {
    fn line(&self, text: &str) -> io::Result<()> {
        let _one_at_a_time = lock(&self.lock);
        let mut bytes = Vec::with_capacity(text.len() + 1);
        bytes.extend_from_slice(text.as_bytes());
        bytes.push(b'\n');
        write_all_before(&mut &*self.socket, &bytes, Instant::now() + self.patience)
    }

    /// Sends a last error line and closes.
    fn refuse(&self, error: &str) {
        let _ = self.line(&format!("ERR {error}"));
        let _ = self.socket.shutdown(Shutdown::Both);
    }
}

fn serve(
    hub: &Hub,
    origins: &[String],
    config: StreamConfig,
    access: &Access,
    connection: Connection,
) {
    let socket = connection.socket;
    let peer = socket.peer_addr().ok();
    let _ = socket.set_read_timeout(Some(READ_TICK));
    let writer = Arc::new(Writer {
        patience: socket.write_timeout().ok().flatten().unwrap_or(PATIENCE),
        socket: Arc::clone(&socket),
        lock: Mutex::new(()),
    });
    let mut lines = Lines {
        socket: &*socket,
        buf: connection.leftover,
    };
    let (channel, start, may_publish) = match lines.next() {
        Line::Policy => {
            let port = socket.local_addr().map_or(0, |a| a.port());
            let _ = (&*socket).write_all(policy(origins, port).as_bytes());
            let _ = socket.shutdown(Shutdown::Both);
            return;
        }
        Line::Text(line) => match subscribe(hub, &line, access, peer) {
            Ok(subscription) => subscription,
            Err(error) => return writer.refuse(error),
        },
        Line::TooLong => return writer.refuse("line too long"),
        Line::Closed => return,
    };

    let sink = Arc::new(TcpSink(Arc::clone(&writer)));
    let heartbeat = Some(config.heartbeat);
    let helpers = &connection.helpers;
    let served = subscribed(
        &*socket,
        &channel,
        start,
        FORMAT,
        sink,
        heartbeat,
        helpers,
        || loop {
            match lines.next() {
                Line::Text(line) => match line.strip_prefix("PUB ") {
                    Some(_) if !may_publish => {
                        if writer.line("ERR publishing is not allowed").is_err() {
                            return;
                        }
                    }
                    Some(text) => match channel.publish(DEFAULT_EVENT, text) {
                        Ok(_) => {}
                        Err(hub::Error::MessageTooLarge) => {
                            let _ = writer.line("ERR message too large");
                        }
                        Err(hub::Error::Unavailable) => {
                            let _ = writer.line("ERR channel store unavailable");
                        }
                        Err(_) => return,
                    },
                    None if line.is_empty() => {}
                    None => {
                        if writer.line("ERR unknown command").is_err() {
                            return;
                        }
                    }
                },
                Line::TooLong => return writer.refuse("line too long"),
                Line::Policy | Line::Closed => return,
            }
        },
    );
    if let Err(End::Busy) = served {
        writer.refuse("server busy, try again later");
    }
    let _ = socket.shutdown(Shutdown::Both);
}

/// The line protocol's format for the channel's broadcaster: one JSON line
/// per message (the same bytes as XHR streaming's), an empty line as the
/// heartbeat.
pub const FORMAT: Format = Format {
    name: "ndjson",
    item: write_json_line,
    frame: as_is,
};

/// A subscriber's socket as the broadcaster writes to it: under the same lock
/// as the connection's own `ERR` lines, so lines never interleave.
struct TcpSink(Arc<Writer>);

impl Sink for TcpSink {
    fn write_now(&self, bytes: &[u8]) -> io::Result<usize> {
        let _one_at_a_time = lock(&self.0.lock);
        write_now(&mut &*self.0.socket, bytes)
    }

    fn write_all(&self, bytes: &[u8]) -> io::Result<()> {
        let _one_at_a_time = lock(&self.0.lock);
        write_all_before(
            &mut &*self.0.socket,
            bytes,
            Instant::now() + self.0.patience,
        )
    }

    fn end(&self, _: End) {
        // Closed or failed, the connection ends: the reader sees it too.
        let _ = self.0.socket.shutdown(Shutdown::Both);
    }
}

/// `SUB channel [since]`: the channel, the cursor to start after, and whether
/// the subscriber may publish (`access` allowing it to subscribe at all).
fn subscribe(
    hub: &Hub,
    line: &str,
    access: &Access,
    peer: Option<SocketAddr>,
) -> Result<(Arc<Channel>, u64, bool), &'static str> {
    let mut words = line.split(' ');
    if words.next() != Some("SUB") {
        return Err("expected SUB channel [since]");
    }
    let name = words.next().unwrap_or("");
    let since = match words.next() {
        None => None,
        Some(id) => Some(decimal(id.as_bytes()).map_err(|e| match e {
            NotDecimal::TooLarge => "since out of range",
            NotDecimal::NotDigits => "since must be a non-negative integer",
        })?),
    };
    if words.next().is_some() {
        return Err("expected SUB channel [since]");
    }
    if hub::valid_channel_name(name) {
        let asking = Asking {
            action: Action::Subscribe,
            channel: name,
            request: None,
            peer,
        };
        access.check(&asking).map_err(|_| "not allowed")?;
    }
    let channel = hub.channel(name).map_err(|e| match e {
        hub::Error::BadChannelName => "bad channel name",
        hub::Error::TooManyChannels => "too many channels",
        hub::Error::Unavailable => "channel store unavailable",
        _ => "shutting down",
    })?;
    let start = since.unwrap_or_else(|| channel.last_id());
    Ok((
        channel,
        start,
        access.lets_subscriber_publish(name, None, peer),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::HubConfig;

    #[test]
    fn policy_document() {
        let xml = policy(&[], 9000);
        assert!(xml.contains("<allow-access-from domain=\"*\" to-ports=\"9000\"/>"));
        assert!(xml.ends_with("</cross-domain-policy>\n\0"));
        let xml = policy(
            &["https://app.example:8443".into(), "http://b.example".into()],
            9000,
        );
        assert!(xml.contains("domain=\"app.example\""));
        assert!(xml.contains("domain=\"b.example\""));
        let hostile = policy(&["http://a\"><x".into()], 1);
        assert!(!hostile.contains("\"><x"), "{hostile}");
    }

    #[test]
    fn subscribe_lines() {
        let hub = Hub::new(HubConfig::default());
        assert!(subscribe(&hub, "SUB news", &Access::open(), None).is_ok());
        assert_eq!(
            subscribe(&hub, "SUB news 41", &Access::open(), None).map(|(_, s, _)| s),
            Ok(41)
        );
        for bad in [
            "",
            "sub news",
            "SUB",
            "SUB a.b",
            "SUB news x",
            "SUB news -1",
            "SUB news 1 2",
            "PUB x",
        ] {
            assert!(
                subscribe(&hub, bad, &Access::open(), None).is_err(),
                "{bad:?}"
            );
        }
    }
}
