//! The techniques, one file each. Every one is the same loop over the hub — hold
//! a cursor, take the batch after it, deliver it, move the cursor — written in
//! its own wire format.
//!
//! | technique | file | feature |
//! | --- | --- | --- |
//! | regular HTTP: publishing | [`publish`] | always |
//! | Ajax polling | `polling` | `polling` |
//! | Ajax long-polling | `long_poll` | `long-polling` |
//! | script-tag (JSONP) long polling | `jsonp` | `long-polling` |
//! | XHR streaming | `stream` | `comet` |
//! | hidden-iframe forever frame | `iframe` | `comet` |
//! | Server-Sent Events | `sse` | `sse` |
//! | WebSocket | `websocket` | `websocket` |
//! | a plain TCP socket (Flash-era) | `tcp` | `tcp` (off by default) |
//!
//! This module holds what they share: the contract's JSON for messages and
//! batches, reading the channel and cursor out of a request, and [`stream_subscription`],
//! how the three streaming techniques subscribe their response to the
//! channel's broadcast ([`crate::hub::broadcast`]), whose one broadcaster
//! writes each message to every caught-up subscriber while the subscriber's own
//! thread only reads.

pub mod access;
pub mod publish;

#[cfg(feature = "polling")]
pub mod polling;

#[cfg(feature = "long-polling")]
pub mod long_poll;

#[cfg(feature = "long-polling")]
pub mod jsonp;

#[cfg(feature = "comet")]
pub mod stream;

#[cfg(feature = "comet")]
pub mod iframe;

#[cfg(feature = "sse")]
pub mod sse;

#[cfg(feature = "websocket")]
pub mod websocket;

#[cfg(feature = "tcp")]
pub mod tcp;

use crate::codec::json::{self, Html};
use crate::codec::number::{decimal, NotDecimal};
use crate::http::response::{reply_buffer, BodyWriter, StreamConnection};
use crate::http::{chunked, Request, Response};
use crate::hub::broadcast::{End, Format, Sink, WRITE_NOW_TIMEOUT};
use crate::hub::{self, Batch, Channel, Hub, Message};
use crate::net::{write_all_before, write_now, Helpers, Socket};
use std::fmt::Write as _;
use std::io::{self, Write};
use std::net::Shutdown;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Settings of the streaming transports (SSE, XHR streaming, forever frame).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamConfig {
    /// How long a stream may stay silent before the server sends a heartbeat
    /// (an SSE comment, an empty ndjson line, an HTML comment), so that proxies
    /// and the client see the connection alive and a dead peer is found by the
    /// failing write. Default 15 s.
    pub heartbeat: Duration,
    /// The reconnection delay an SSE stream announces with `retry:`. Default
    /// 2 s.
    pub retry: Duration,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            heartbeat: Duration::from_secs(15),
            retry: Duration::from_secs(2),
        }
    }
}

pub use crate::hub::broadcast::Item;

/// Serves a streaming subscription (SSE, XHR streaming, the forever frame:
/// HTTP streaming, RFC 6202 §3) to the end of the connection, after the transport wrote its opening to `out`:
/// flushes that, writes what the ring holds after `cursor` in `format`, and
/// joins the channel's broadcast, whose broadcaster writes each new message
/// to this socket (with `heartbeat` after silence) while this thread only
/// reads it, to see at once when the client leaves (see
/// [`crate::hub::broadcast`]).
///
/// Returns `Ok` when the channel closed (server shutdown: every message was
/// written, and the server ends the body cleanly), an error when the client
/// left or a write failed (the connection is then dropped). Nothing is queued
/// per client: one that reads slowly falls behind in the channel's ring, and
/// is told of a gap if it falls out of it.
///
/// A body written into memory rather than to a socket (no
/// [`StreamConnection`]) is served by [`pump`] instead.
///
/// # Errors
///
/// `ConnectionAborted` when the subscription ended without the channel
/// closing; the error of the first write otherwise.
pub fn stream_subscription(
    out: &mut BodyWriter<'_>,
    channel: &Arc<Channel>,
    cursor: u64,
    format: Format,
    heartbeat: Duration,
) -> io::Result<()> {
    out.flush()?; // the head and the opening leave now
    let Some(connection) = out.connection().cloned() else {
        return pump(channel, cursor, heartbeat, out, format);
    };
    let format = match connection.chunked {
        true => Format {
            frame: chunked::chunk,
            ..format
        },
        false => format,
    };
    let socket = Arc::clone(&connection.socket);
    let helpers = connection.helpers.clone();
    let sink = Arc::new(HttpSink { connection });
    let served = subscribed(
        &*socket,
        channel,
        cursor,
        format,
        sink,
        Some(heartbeat),
        &helpers,
        || read_until_the_end(&*socket),
    );
    match served {
        Ok(true) | Err(End::Closed) => Ok(()),
        Ok(false) | Err(End::Failed | End::Busy) => Err(io::ErrorKind::ConnectionAborted.into()),
    }
}

/// What every subscriber with a socket of its own shares — the HTTP streams
/// ([`stream_subscription`]), a WebSocket and a TCP line subscriber: bound the
/// socket's writes for the broadcaster, join the channel's broadcast from
/// `cursor`, run `read` (the connection's own reading, which returns when the
/// client leaves or the server ends the connection), and leave. If the channel
/// closed meanwhile (server shutdown, which may end the reads before the
/// broadcaster's last pass), write what the ring still holds after the
/// subscriber's cursor and end it the transport's way ([`Sink::end`]).
///
/// Returns whether the channel closed; the socket's write timeout is what it
/// was before.
///
/// # Errors
///
/// Why the subscription could not start: [`End::Busy`] at the thread limit,
/// [`End::Failed`] when the client left while catching up, [`End::Closed`]
/// when the channel closed first.
#[allow(clippy::too_many_arguments)]
pub(crate) fn subscribed(
    socket: &dyn Socket,
    channel: &Arc<Channel>,
    cursor: u64,
    format: Format,
    sink: Arc<dyn Sink>,
    heartbeat: Option<Duration>,
    helpers: &Helpers,
    read: impl FnOnce(),
) -> Result<bool, End> {
    let patience = socket.write_timeout().ok().flatten();
    // From here the broadcaster writes: its writes must give up quickly.
    let _ = socket.set_write_timeout(Some(WRITE_NOW_TIMEOUT));
    let served = channel
        .subscribe(
            cursor,
            format,
            Arc::clone(&sink),
            heartbeat,
            helpers.spawner(),
        )
        .map(|subscription| {
            read();
            let cursor = subscription.cursor();
            drop(subscription); // no broadcaster writes after this
            let closed = channel.is_closed();
            if closed {
                let batch = channel.read_after(cursor);
                let _ = sink.write_all(&format.encode(&batch, cursor, cursor));
                sink.end(End::Closed);
            }
            closed
        });
    let _ = socket.set_write_timeout(patience);
    served
}

/// Reads (and drops) whatever the client sends until it closes, the socket
/// fails, or a [`Sink::end`] shuts the reading side.
fn read_until_the_end(socket: &dyn Socket) {
    let _ = socket.set_read_timeout(None);
    let mut sink = [0u8; 512];
    loop {
        match socket.read(&mut sink) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// A streaming response's socket, as the broadcaster writes to it: raw bytes
/// (already framed as chunks).
struct HttpSink {
    connection: StreamConnection,
}

impl Sink for HttpSink {
    fn write_now(&self, bytes: &[u8]) -> io::Result<usize> {
        write_now(&mut &*self.connection.socket, bytes)
    }

    fn write_all(&self, bytes: &[u8]) -> io::Result<()> {
        let deadline = Instant::now() + self.connection.write_timeout;
        write_all_before(&mut &*self.connection.socket, bytes, deadline)
    }

    fn end(&self, why: End) {
        // Either way the subscription's thread, blocked reading, wakes up; a
        // failed connection is dropped both ways.
        let how = match why {
            End::Closed => Shutdown::Read,
            End::Failed | End::Busy => Shutdown::Both,
        };
        let _ = self.connection.socket.shutdown(how);
    }
}

/// The classic loop of a streaming transport, for a body that has no socket
/// of its own ([`stream_subscription`] serves those that do): wait on the channel for the
/// batch after `cursor`, write it in `format` (or a heartbeat when the wait ran
/// out empty), flush it as one piece, move the cursor, repeat — until the
/// channel closes (returns `Ok`) or a write fails (returns the error).
///
/// # Errors
///
/// The first error of `out`.
pub fn pump(
    channel: &Channel,
    mut cursor: u64,
    heartbeat: Duration,
    out: &mut dyn Write,
    format: Format,
) -> io::Result<()> {
    loop {
        let batch = channel.wait_after(cursor, Instant::now() + heartbeat);
        let mut bytes = format.encode(&batch, cursor, cursor);
        if bytes.is_empty() && !batch.closed {
            bytes = format.heartbeat();
        }
        out.write_all(&bytes)?;
        out.flush()?;
        if batch.closed {
            return Ok(());
        }
        cursor = batch.next;
    }
}

/// One JSON line (XHR streaming's and the TCP line protocol's format): the gap
/// object, a message's JSON, or an empty line as the heartbeat.
pub fn write_json_line(out: &mut Vec<u8>, item: Item<'_>) {
    match item {
        Item::Gap { oldest } => out.extend_from_slice(gap_json(oldest).as_bytes()),
        Item::Message(message) => {
            let mut json = String::with_capacity(message.data.len() + 48);
            write_message(&mut json, message, Html::Plain);
            out.extend_from_slice(json.as_bytes());
        }
        Item::Heartbeat => {}
    }
    out.push(b'\n');
}

/// The identity framing of [`Format::frame`]: bytes go out as they are.
pub fn as_is(bytes: Vec<u8>) -> Vec<u8> {
    bytes
}

/// The gap announcement of the streaming transports: `{"gap":true,"oldest":N}`.
pub fn gap_json(oldest: u64) -> String {
    format!("{{\"gap\":true,\"oldest\":{oldest}}}")
}

/// Appends a message as the contract's JSON:
/// `{"id":17,"event":"message","data":"hello"}`.
pub fn write_message(out: &mut String, message: &Message, html: Html) {
    let _ = write!(out, "{{\"id\":{},\"event\":", message.id);
    json::string(out, &message.event, html);
    out.push_str(",\"data\":");
    if message.json {
        json::value(out, &message.data, html);
    } else {
        json::string(out, &message.data, html);
    }
    out.push('}');
}

/// A message as the contract's JSON, in a string of its own.
pub fn message_json(message: &Message, html: Html) -> String {
    let mut out = String::with_capacity(message.data.len() + message.event.len() + 32);
    write_message(&mut out, message, html);
    out
}

/// A batch as the contract's JSON: `{"messages":[…],"next":N,"gap":false}`.
pub fn batch_json(batch: &Batch, html: Html) -> String {
    let mut out = String::with_capacity(batch_json_len(batch));
    write_batch(&mut out, batch, html);
    out
}

/// [`batch_json`] as a reply's body: in a [`reply_buffer`], which leaves
/// room for the response head (the server writes it there, and the reply is
/// one buffer, not the JSON and then a copy of it behind the head), and
/// which the thread does not keep in its malloc cache once freed, whatever
/// the batch's size.
pub fn batch_body(batch: &Batch, html: Html) -> String {
    let mut out = reply_buffer(batch_json_len(batch));
    write_batch(&mut out, batch, html);
    out
}

/// About how long a batch's JSON is: room for the usual escapes.
fn batch_json_len(batch: &Batch) -> usize {
    let messages: usize = batch
        .messages
        .iter()
        .map(|m| m.data.len() + m.event.len() + 32)
        .sum();
    messages + 40
}

/// Appends a batch as the contract's JSON; see [`batch_json`].
pub fn write_batch(out: &mut String, batch: &Batch, html: Html) {
    out.push_str("{\"messages\":[");
    for (i, message) in batch.messages.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_message(out, message, html);
    }
    let _ = write!(out, "],\"next\":{},\"gap\":{}}}", batch.next, batch.gap);
}

/// The reply for a refusal of the hub.
pub fn hub_error(error: hub::Error) -> Response {
    let status = match error {
        hub::Error::BadChannelName | hub::Error::BadEventName | hub::Error::NotJson => 400,
        hub::Error::MessageTooLarge => 413,
        hub::Error::TooManyChannels | hub::Error::Closed | hub::Error::Unavailable => 503,
    };
    Response::error(status, &error.to_string())
}

/// The channel named by the route's `{ch}` segment, created on first use.
///
/// # Errors
///
/// The reply to send instead: `400` for a bad name, `503` past the channel
/// limit or during shutdown.
pub fn channel(hub: &Hub, request: &Request) -> Result<Arc<Channel>, Response> {
    hub.channel(request.param("ch").unwrap_or_default())
        .map_err(hub_error)
}

/// The channel `{ch}` and where a subscription to it starts: after `?since=N`
/// (a replay, with the gap rule), or else after the newest message (only what
/// comes next). For the streaming transports and WebSocket.
///
/// # Errors
///
/// `400` for a bad `since` or channel name, `503` as [`channel`].
pub fn subscription(hub: &Hub, request: &Request) -> Result<(Arc<Channel>, u64), Response> {
    let since = cursor(request, "since")?;
    let channel = channel(hub, request)?;
    let start = since.unwrap_or_else(|| channel.last_id());
    Ok((channel, start))
}

/// The query parameter `name` as a cursor (a message id): `None` when absent.
///
/// # Errors
///
/// `400` unless it is a decimal number that fits in 64 bits.
pub fn cursor(request: &Request, name: &str) -> Result<Option<u64>, Response> {
    let Some(value) = request.query_value(name) else {
        return Ok(None);
    };
    match decimal(value.as_bytes()) {
        Ok(cursor) => Ok(Some(cursor)),
        Err(NotDecimal::TooLarge) => Err(Response::error(400, "cursor out of range")),
        Err(NotDecimal::NotDigits) => Err(Response::error(
            400,
            "cursor must be a non-negative integer",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: u64, event: &str, data: &str) -> Arc<Message> {
        Arc::new(Message {
            id,
            event: event.into(),
            data: data.into(),
            json: false,
        })
    }

    #[test]
    fn message_json_matches_the_contract() {
        let mut out = String::new();
        write_message(&mut out, &message(17, "message", "hello"), Html::Plain);
        assert_eq!(out, r#"{"id":17,"event":"message","data":"hello"}"#);
    }

    #[test]
    fn batch_json_matches_the_contract() {
        let batch = Batch {
            messages: vec![
                message(1, "message", "a\"b"),
                message(2, "tick", "</script>"),
            ],
            next: 2,
            gap: true,
            oldest: 1,
            closed: false,
            generation: 0,
        };
        assert_eq!(
            batch_json(&batch, Html::Plain),
            r#"{"messages":[{"id":1,"event":"message","data":"a\"b"},{"id":2,"event":"tick","data":"</script>"}],"next":2,"gap":true}"#
        );
        assert!(batch_json(&batch, Html::Safe).contains(r#""data":"\u003c/script\u003e""#));
        assert_eq!(
            batch_json(&Batch::default(), Html::Plain),
            r#"{"messages":[],"next":0,"gap":false}"#
        );
    }
}
