//! WebSocket (RFC 6455): after one HTTP handshake, a full-duplex channel of
//! framed messages on the same TCP connection.
//!
//! ```text
//! client                                       server
//!   │ GET /channels/news/ws  Upgrade: websocket ──▶ │  check, 101 Switching Protocols
//!   │ ◀────────────── frames, both ways, any time ─────────────▶ │
//!   │ text {"id":42,"event":"message","data":"hi"}  ◀── a channel message
//!   │ text "hello" ──▶ published to the channel
//!   │ close 1000 ──▶ ◀── close 1000, then the server closes TCP
//! ```
//!
//! Every technique before this one bends HTTP to let the server speak first.
//! WebSocket stops using HTTP after the handshake: both sides send *frames*
//! whenever they like, with 2 to 14 bytes of framing each — no headers per
//! message, no request per delivery, and messages in both directions on one
//! connection. Its costs: proxies that do not know it must be bypassed
//! or upgraded, it needs its own keep-alive (ping/pong), and nothing resumes by
//! itself after a drop (here: reconnect with `?since=`).
//!
//! The mechanism is in six files, each one part of the RFC:
//!
//! | file | RFC 6455 | what |
//! | --- | --- | --- |
//! | [`handshake`] | §4 | the opening handshake, server side |
//! | [`frame`] | §5.2–§5.3 | the frame format, masking, per-frame rules |
//! | [`session`] | §5.4–§5.6 | reading: messages, fragments, control frames, timers |
//! | `sender.rs` ([`Sender`]) | §5.1, §5.4, §5.5 | writing: whole frames from any thread |
//! | [`close`] | §5.5.1, §7 | the closing handshake: codes, who sends what, linger |
//! | [`client`] | §4.1 | the client's handshake |
//!
//! This file wires them to the showcase's endpoints:
//!
//! - `/echo` answers every text and binary message with itself (the target of
//!   conformance suites such as Autobahn|Testsuite), up to 16 MiB.
//! - `/channels/{ch}/ws` subscribes to a channel, on the connection's one
//!   thread. It joins the channel's broadcast ([`crate::hub::broadcast`]): the
//!   channel's broadcaster sends each message as a text frame holding the
//!   message JSON — to every subscriber, the sender included, the same frame
//!   bytes to all, since server frames are not masked (§5.1) — with
//!   `{"gap":true,"oldest":N}` before a replay that skips. `?since=N` replays
//!   after `since` first; without it, only new messages come. Meanwhile the
//!   connection's thread reads: each text message is published to the channel
//!   (a binary one closes with 1003, one over the hub's message limit with
//!   1009). Both write through one [`Sender`], so frames never interleave.
//!
//! When the reader ends (the client closed or vanished), the subscription
//! leaves the broadcast at once. When the hub closes (server shutdown), the
//! broadcaster sends close 1001 and the reader ends with the closing
//! handshake. A subscriber that stops reading falls behind: a helper thread
//! catches it up from the channel's ring, and it joins again.

pub mod client;
pub mod close;
#[cfg(feature = "deflate")]
pub mod deflate;
pub mod frame;
pub mod handshake;
mod sender;
pub mod session;

pub use client::{connect, connect_with, ClientOptions};
pub use close::CloseFrame;
pub use frame::{OpCode, Role};
pub use session::{Error, Message, Sender, State, Violation, WebSocket, WsConfig};

use super::access::Access;
use super::{as_is, gap_json, message_json, subscribed, subscription, Item};
use crate::codec::json::Html;
use crate::http::{Cors, Request, Response};
use crate::hub::broadcast::{End, Format, Sink};
use crate::hub::{self, Channel, Hub};
use crate::net::{Connection, Helpers};
use close::code;
use std::io;
use std::sync::Arc;

/// Checks the handshake and, if it passes, answers `101` and runs `session` on
/// the connection's thread with the open [`WebSocket`] (and a way to start
/// helper threads within the server's limit). A refused handshake is answered
/// with its status (see [`handshake`]).
///
/// A client that offers permessage-deflate (every browser does) gets it,
/// unless [`WsConfig`]'s `deflate` is off (feature `deflate`; see
/// [`deflate`]).
pub fn accept(
    request: &Request,
    cors: &Cors,
    config: &WsConfig,
    session: impl FnOnce(WebSocket, Helpers) + Send + 'static,
) -> Response {
    accept_with(request, cors, config, false, session)
}

/// [`accept`], with `shared` saying that the server will send the same
/// compressed frames to many sessions, so compresses each message alone
/// (`server_no_context_takeover`).
fn accept_with(
    request: &Request,
    cors: &Cors,
    config: &WsConfig,
    shared: bool,
    session: impl FnOnce(WebSocket, Helpers) + Send + 'static,
) -> Response {
    let accepted = match handshake::check(request, cors, &config.protocols) {
        Ok(accepted) => accepted,
        Err(refusal) => return refusal.response(),
    };
    #[cfg(feature = "deflate")]
    let deflate = request
        .header("sec-websocket-extensions")
        .filter(|_| config.deflate)
        .and_then(|offers| deflate::negotiate(offers, shared));
    #[cfg(not(feature = "deflate"))]
    let deflate: Agreed = {
        let _ = shared;
        None
    };
    let config = config.clone();
    let upgrade = Response::upgrade(move |connection: Connection| {
        let (ws, helpers) = open(connection, config, deflate);
        session(ws, helpers);
    });
    let response = accepted.into_response(upgrade);
    #[cfg(feature = "deflate")]
    if let Some(params) = deflate {
        return response.header("Sec-WebSocket-Extensions", params.header());
    }
    response
}

/// What the handshake agreed on permessage-deflate (RFC 7692), if anything.
#[cfg(feature = "deflate")]
type Agreed = Option<deflate::Params>;
/// (Without the feature, nothing can be agreed.)
#[cfg(not(feature = "deflate"))]
type Agreed = Option<std::convert::Infallible>;

/// The session on an upgraded connection, and its helpers.
///
/// Never inlined: a `WebSocket` is 368 bytes, and building it here moves it
/// several times; inlined into the upgrade closure, each copy would stay in
/// that closure's frame (1.4 KiB) for as long as the session runs, and push a
/// subscriber's thread onto a third stack page (4 KiB resident per
/// connection).
#[inline(never)]
fn open(connection: Connection, config: WsConfig, deflate: Agreed) -> (WebSocket, Helpers) {
    let ws = WebSocket::new(connection.socket, Role::Server, config, connection.leftover)
        .watch_shutdown(connection.stopping);
    #[cfg(feature = "deflate")]
    let ws = match deflate {
        Some(params) => ws.with_deflate(deflate::server(params)),
        None => ws,
    };
    #[cfg(not(feature = "deflate"))]
    let _ = deflate;
    // A helper that panics (a pump, or one of the embedder's) leaves the
    // session in an unknown state: say so with 1011 (RFC 6455 §7.4.1)
    // before the server closes the connection.
    let sender = ws.sender();
    let helpers = connection.helpers.on_panic(move || {
        let _ = sender.close(code::INTERNAL, "internal error");
    });
    (ws, helpers)
}

/// The handler for `/echo`: every message comes back unchanged.
pub fn echo_handler(
    cors: Cors,
    config: WsConfig,
) -> impl Fn(Request) -> Response + Send + Sync + 'static {
    move |request| accept(&request, &cors, &config, |ws, _| echo(ws))
}

/// Answers each message with itself. A client that sends a burst gets the
/// replies in one write: they are gathered while the next message is already
/// buffered whole, and sent before a read would wait (or before a control
/// frame, such as a close, is handled).
fn echo(mut ws: WebSocket) {
    let sender = ws.sender();
    let mut replies = Vec::new();
    loop {
        let (opcode, payload) = match ws.read() {
            Ok(Message::Text(text)) => (OpCode::Text, text.into_bytes()),
            Ok(Message::Binary(data)) => (OpCode::Binary, data),
            Ok(Message::Close(_)) | Err(_) => return,
        };
        sender.encode_message(&mut replies, opcode, &payload);
        if !ws.has_next_message() {
            if sender.encoded(&replies).is_err() {
                return;
            }
            replies.clear();
            // Keep a buffer for bursts of small replies, not one a 16 MiB
            // message grew.
            if replies.capacity() > ECHO_BUFFER {
                replies = Vec::new();
            }
        }
    }
}

/// The most reply bytes `echo` keeps allocated between bursts.
const ECHO_BUFFER: usize = 256 * 1024;

/// The handler for `/channels/{ch}/ws[?since=N]`. Messages larger than the
/// hub's message limit close with 1009. Whether the subscriber's own messages
/// are published is `access`'s to say, asked once at the handshake; when they
/// are not, a text message closes with 1008 (policy violation). (Whether it
/// may subscribe at all is asked before this handler, by the
/// [`Endpoints`](crate::endpoints::Endpoints) that mount it.)
pub fn channel_handler(
    hub: Arc<Hub>,
    cors: Cors,
    config: WsConfig,
    access: Access,
) -> impl Fn(Request) -> Response + Send + Sync + 'static {
    move |request| {
        // Refuse a bad handshake before a channel is created for it.
        if let Err(refusal) = handshake::check(&request, &cors, &config.protocols) {
            return refusal.response();
        }
        let (channel, start) = match subscription(&hub, &request) {
            Ok(subscription) => subscription,
            Err(refusal) => return refusal,
        };
        let may_publish = access.lets_subscriber_publish(
            request.param("ch").unwrap_or_default(),
            Some(&request),
            request.peer_addr(),
        );
        let limit = hub.config().max_message_bytes;
        let config = WsConfig {
            max_frame: config.max_frame.min(limit),
            max_message: config.max_message.min(limit),
            // A subscriber mostly waits: one stack page less per connection.
            read_buffer: config.read_buffer.min(session::QUIET_READ),
            ..config.clone()
        };
        accept_with(&request, &cors, &config, true, move |ws, helpers| {
            subscribe(ws, &helpers, channel, start, may_publish)
        })
    }
}

/// The channel subscription's wire format: each message as one text frame
/// holding its JSON, a gap as a text frame holding `{"gap":true,"oldest":N}`.
/// No heartbeat: the session pings by itself. Server frames are not masked
/// (§5.1), so the frames are the same bytes for every subscriber.
pub const FORMAT: Format = Format {
    name: "ws-text",
    item: write_text_frame,
    frame: as_is,
};

/// [`FORMAT`] for subscribers that negotiated permessage-deflate: each text
/// frame compressed once, alone (the server answered them
/// `server_no_context_takeover`), the same bytes for all of them.
pub const DEFLATE_FORMAT: Format = Format {
    name: "ws-deflate",
    item: write_compressed_text_frame,
    frame: as_is,
};

fn write_compressed_text_frame(out: &mut Vec<u8>, item: Item<'_>) {
    #[cfg(feature = "deflate")]
    if let Some(json) = item_json(item) {
        deflate::shared_frame(out, OpCode::Text, json.as_bytes());
    }
    #[cfg(not(feature = "deflate"))]
    write_text_frame(out, item);
}

/// The JSON a channel item is sent as; none for a heartbeat.
fn item_json(item: Item<'_>) -> Option<String> {
    match item {
        Item::Gap { oldest } => Some(gap_json(oldest)),
        Item::Message(message) => Some(message_json(message, Html::Plain)),
        Item::Heartbeat => None,
    }
}

fn write_text_frame(out: &mut Vec<u8>, item: Item<'_>) {
    if let Some(json) = item_json(item) {
        frame::encode(out, true, OpCode::Text, json.as_bytes(), None);
    }
}

/// Runs a channel subscription on the connection's one thread: it joins the
/// channel's broadcast, whose broadcaster sends each message through the
/// session's [`Sender`], and reads the client's frames until the session
/// ends.
fn subscribe(
    mut ws: WebSocket,
    helpers: &Helpers,
    channel: Arc<Channel>,
    start: u64,
    may_publish: bool,
) {
    // The session's own frames keep the server's write timeout (the sender's
    // patience) while the broadcaster's writes are bounded.
    let socket = ws.socket_handle();
    let sink = Arc::new(WsSink(ws.sender()));
    // Compressed subscribers share frames compressed once (RFC 7692).
    let format = if ws.deflate() { DEFLATE_FORMAT } else { FORMAT };
    let served = subscribed(
        &*socket,
        &channel,
        start,
        format,
        sink,
        None,
        helpers,
        || loop {
            match ws.read() {
                Ok(Message::Text(_)) if !may_publish => {
                    let _ = ws.close(code::POLICY, "publishing is not allowed");
                    return;
                }
                Ok(Message::Text(text)) => {
                    match channel.publish("message", &text) {
                        // The shared store is away: the message is not
                        // published, and the session stays.
                        Ok(_) | Err(hub::Error::Unavailable) => {}
                        Err(_) => {
                            let _ = ws.close(code::GOING_AWAY, "channel closed");
                            return;
                        }
                    }
                }
                Ok(Message::Binary(_)) => {
                    let _ = ws.close(code::UNSUPPORTED, "binary messages are not published");
                    return;
                }
                Ok(Message::Close(_)) | Err(_) => return,
            }
        },
    );
    match served {
        Ok(_) | Err(End::Failed) => {} // Failed: the client left while catching up
        Err(End::Closed) => read_to_the_close(&mut ws),
        Err(End::Busy) => {
            // At the server's thread limit, no broadcaster could start. IANA
            // has 1013 "try again later" for this, but it came after RFC 6455
            // and strict peers (this crate's client, Autobahn) refuse it, so:
            // 1011, with the reason in words.
            let _ = ws.close(code::INTERNAL, "server busy, try again later");
        }
    }
}

/// Reads until the closing handshake the server began ends.
///
/// By reference: given the session by value, [`subscribe`] made a copy of it
/// for the call, a few hundred bytes in a frame that stays on the stack
/// while the session waits (see `Config::stack_size`).
fn read_to_the_close(ws: &mut WebSocket) {
    while let Ok(message) = ws.read() {
        if matches!(message, Message::Close(_)) {
            return;
        }
    }
}

/// A WebSocket subscriber as the broadcaster writes to it: whole frames,
/// through the session's [`Sender`] and its lock, so they never interleave
/// with the session's own pongs and close frames.
struct WsSink(Sender);

impl Sink for WsSink {
    fn write_now(&self, bytes: &[u8]) -> io::Result<usize> {
        self.0.encoded_now(bytes).map_err(into_io)
    }

    fn write_all(&self, bytes: &[u8]) -> io::Result<()> {
        self.0.encoded(bytes).map_err(into_io)
    }

    fn end(&self, why: End) {
        match why {
            End::Closed => {
                let _ = self.0.close(code::GOING_AWAY, "server shutting down");
            }
            // A write failed half-way: no frame boundary can be trusted.
            End::Failed | End::Busy => self.0.abort(),
        }
    }
}

fn into_io(error: Error) -> io::Error {
    match error {
        Error::Io(e) => e,
        other => io::Error::other(other.to_string()),
    }
}
