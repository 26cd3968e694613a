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
//! batches, reading the channel and cursor out of a request, and [`pump`], the
//! loop of the three streaming techniques.

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
use crate::http::{Request, Response};
use crate::hub::{self, Batch, Channel, Hub, Message};
use std::fmt::Write as _;
use std::io::{self, Write};
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

/// How often a pump — the extra thread of a WebSocket or TCP subscription, which
/// waits on the hub while the connection's own thread reads — wakes when the
/// channel is quiet, to see whether its connection ended. A channel's `Condvar`
/// cannot wake one waiter alone, so this bounds how long a pump outlives its
/// connection (and holds a thread and a descriptor): clients that connect and
/// leave at a high rate on a quiet channel leave at most one second's worth of
/// pumps behind, at the cost of one short wake-up per idle subscription per
/// second.
pub const PUMP_WAKE: Duration = Duration::from_secs(1);

/// What a streaming transport writes, one piece at a time.
#[derive(Clone, Copy, Debug)]
pub enum Item<'a> {
    /// Messages after the cursor were evicted; the replay starts at `oldest`.
    Gap {
        /// The oldest id still retained.
        oldest: u64,
    },
    /// One message.
    Message(&'a Message),
    /// Nothing happened for a heartbeat interval.
    Heartbeat,
}

/// The loop of every streaming transport: wait on the channel for the batch
/// after `cursor`, write it with `write` (a gap first, then each message, or a
/// heartbeat when the wait ran out empty), flush it as one piece, move the
/// cursor, repeat — until the channel closes (server shutdown: returns `Ok`, and
/// the server ends the body cleanly) or a write fails (the client left, or did
/// not read within the write timeout: returns the error, and the connection is
/// dropped).
///
/// Nothing is queued per client: a client that reads slowly only falls behind
/// in the channel's ring, and is told of a gap if it falls out of it.
///
/// # Errors
///
/// The first error of `write` or of `out`.
pub fn pump(
    channel: &Channel,
    mut cursor: u64,
    heartbeat: Duration,
    out: &mut dyn Write,
    mut write: impl FnMut(&mut dyn Write, Item<'_>) -> io::Result<()>,
) -> io::Result<()> {
    loop {
        let batch = channel.wait_after(cursor, Instant::now() + heartbeat);
        if batch.gap {
            write(
                out,
                Item::Gap {
                    oldest: batch.oldest,
                },
            )?;
        }
        for message in &batch.messages {
            write(out, Item::Message(message))?;
        }
        if batch.closed {
            out.flush()?;
            return Ok(());
        }
        if batch.messages.is_empty() && !batch.gap {
            write(out, Item::Heartbeat)?;
        }
        out.flush()?;
        cursor = batch.next;
    }
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
    json::string(out, &message.data, html);
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
    let size: usize = batch
        .messages
        .iter()
        .map(|m| m.data.len() + m.event.len() + 32)
        .sum();
    let mut out = String::with_capacity(size + 40);
    out.push_str("{\"messages\":[");
    for (i, message) in batch.messages.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_message(&mut out, message, html);
    }
    let _ = write!(out, "],\"next\":{},\"gap\":{}}}", batch.next, batch.gap);
    out
}

/// The reply for a refusal of the hub.
pub fn hub_error(error: hub::Error) -> Response {
    let status = match error {
        hub::Error::BadChannelName | hub::Error::BadEventName => 400,
        hub::Error::MessageTooLarge => 413,
        hub::Error::TooManyChannels | hub::Error::Closed => 503,
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
    match request.query(name) {
        None => Ok(None),
        Some(value) if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => value
            .parse()
            .map(Some)
            .map_err(|_| Response::error(400, "cursor out of range")),
        Some(_) => Err(Response::error(
            400,
            "cursor must be a non-negative integer",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: u64, event: &str, data: &str) -> Message {
        Message {
            id,
            event: event.into(),
            data: data.into(),
        }
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
