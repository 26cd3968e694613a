//! Server-Sent Events: one long response in a line-based format that browsers
//! parse natively (`EventSource`), reconnect by themselves, and resume with
//! `Last-Event-ID`.
//!
//! Follows WHATWG HTML §9.2 "Server-sent events" (§9.2.5 for the format,
//! §9.2.6 for how the browser interprets it).
//!
//! ```text
//! GET /channels/news/sse                        HTTP/1.1 200 OK
//! Last-Event-ID: 41            ──▶              Content-Type: text/event-stream
//!                                               Cache-Control: no-cache
//!                                               Transfer-Encoding: chunked
//!
//!                                               retry: 2000
//!
//!                                               id: 42
//!                                               data: first line
//!                                               data: second line
//!
//!                                               id: 43
//!                                               event: alert
//!                                               data: {"level":3}
//!
//!                                               : ping
//! ```
//!
//! # The format
//!
//! The stream is UTF-8 text made of lines; a blank line ends an event. Per
//! message the server writes `id: N` (the browser remembers it as the *last
//! event ID*), `event: NAME` unless the name is the default `message` (a page
//! listens for other names with `addEventListener(NAME, …)`), and one `data:` line
//! for each line of the text. The browser ends a line at CRLF, LF *or* CR alone,
//! so the text is split on all three, and the browser joins the `data:` lines
//! with LF: a message's line breaks arrive as LF whatever they were. A line that
//! starts with `:` is a comment, which this server sends as a heartbeat (`: ping`)
//! so that proxies see traffic and a vanished client is found by the failing
//! write. `retry: MS` first tells the browser how long to wait before it
//! reconnects.
//!
//! Event names are checked at publish (`[A-Za-z0-9_.-]{1,64}`) and ids are
//! numbers, so neither can carry a line break and inject a field.
//!
//! # Resuming
//!
//! When the connection drops, `EventSource` reconnects after the retry delay and
//! sends `Last-Event-ID: N` with the last id it saw; the stream resumes after it,
//! with the contract's gap rule — if those messages were evicted, an event named
//! `gap` with data `{"oldest":N}` comes before the replay. Clients that cannot set
//! headers may pass `?lastEventId=N`. An id that is not a number is ignored (the
//! stream starts with new messages): a stale or foreign id should not break a
//! page's subscription.
//!
//! # Text and JSON
//!
//! A message published as JSON ([`crate::hub::Channel::publish_json`]) is sent
//! as its text, like any other: `data: {"celsius":20.1}`, which the page parses
//! itself. A client that must tell JSON from text (the fallback client,
//! `client.js`) asks with `?envelope=1`: each message's `data:` is then the
//! contract's message JSON, `{"id":43,"event":"alert","data":{"level":3}}`,
//! one line, exactly what XHR streaming and WebSocket carry; the `id:` and
//! `event:` lines stay as they are.
//!
//! # Cost and limits
//!
//! One request and one set of headers per connection, then only the event text:
//! about 20 bytes of framing per message plus the chunk header. One direction
//! only (publish with a `POST`); text only; and, over HTTP/1.1, each open
//! `EventSource` holds one of the browser's ~6 connections per host.
//! `X-Accel-Buffering: no` asks nginx-style proxies not to buffer the response,
//! which would otherwise hold events back.

use super::{as_is, channel, message_json, stream_subscription, Item, StreamConfig};
use crate::codec::json::Html;
use crate::codec::number::decimal;
use crate::http::{Request, Response};
use crate::hub::broadcast::Format;
use crate::hub::{Hub, Message, DEFAULT_EVENT};
use std::io::{self, Write};
use std::sync::Arc;

/// The event stream's wire format, for the channel's broadcaster.
pub const FORMAT: Format = Format {
    name: "sse",
    item: write_item,
    frame: as_is,
};

/// The event stream with `?envelope=1`: each message's data is its message
/// JSON.
pub const ENVELOPE_FORMAT: Format = Format {
    name: "sse-envelope",
    item: write_enveloped_item,
    frame: as_is,
};

/// The handler for `GET /channels/{ch}/sse`.
pub fn handler(
    hub: Arc<Hub>,
    config: StreamConfig,
) -> impl Fn(Request) -> Response + Send + Sync + 'static {
    move |request| {
        let channel = match channel(&hub, &request) {
            Ok(channel) => channel,
            Err(refusal) => return refusal,
        };
        let cursor = resume_cursor(&request).unwrap_or_else(|| channel.last_id());
        let format = match request.query("envelope").as_deref() {
            Some("1") => ENVELOPE_FORMAT,
            _ => FORMAT,
        };
        Response::stream("text/event-stream", move |out| {
            write!(out, "retry: {}\n\n", config.retry.as_millis())?;
            stream_subscription(out, &channel, cursor, format, config.heartbeat)
        })
        .header("Cache-Control", "no-cache")
        .header("X-Accel-Buffering", "no")
    }
}

/// The id to resume after: the `Last-Event-ID` header (WHATWG HTML §9.2.4, sent
/// by `EventSource` when it reconnects), else `?lastEventId=`; `None` when
/// neither is a decimal id.
fn resume_cursor(request: &Request) -> Option<u64> {
    let id = match request.header("last-event-id") {
        Some(header) => header.trim().to_owned(),
        None => request.query("lastEventId")?,
    };
    decimal(id.as_bytes()).ok()
}

/// One item of the stream: a gap as an event named `gap` with data
/// `{"oldest":N}`, a message as its event, a heartbeat as a comment line.
fn write_item(out: &mut Vec<u8>, item: Item<'_>) {
    match item {
        Item::Gap { oldest } => {
            let _ = write!(out, "event: gap\ndata: {{\"oldest\":{oldest}}}\n\n");
        }
        Item::Message(message) => {
            let _ = write_event(out, message);
        }
        Item::Heartbeat => out.extend_from_slice(b": ping\n\n"),
    }
}

/// [`write_item`], with each message's data its message JSON.
fn write_enveloped_item(out: &mut Vec<u8>, item: Item<'_>) {
    match item {
        Item::Message(message) => {
            let _ = write_event_data(out, message, &message_json(message, Html::Plain));
        }
        other => write_item(out, other),
    }
}

/// Writes one message as an event (WHATWG HTML §9.2.5): `id:`, `event:` unless
/// it is the default, a `data:` line per line of the text, and a blank line.
pub fn write_event(out: &mut dyn Write, message: &Message) -> io::Result<()> {
    write_event_data(out, message, &message.data)
}

/// An event of `message`'s id and name, carrying `data`.
fn write_event_data(out: &mut dyn Write, message: &Message, data: &str) -> io::Result<()> {
    let mut event = format!("id: {}\n", message.id);
    if &*message.event != DEFAULT_EVENT {
        event.push_str("event: ");
        event.push_str(&message.event);
        event.push('\n');
    }
    for line in lines(data) {
        event.push_str("data: ");
        event.push_str(line);
        event.push('\n');
    }
    event.push('\n');
    out.write_all(event.as_bytes())
}

/// Splits text at CRLF, LF and CR, the three line ends of the event-stream
/// grammar (`end-of-line = ( cr lf / cr / lf )`). The empty text is one empty
/// line, and a final line break leaves an empty last line, so that the browser,
/// joining the lines with LF, rebuilds the text (with LF for every break).
pub fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let text = rest?;
        match text.find(['\r', '\n']) {
            Some(i) => {
                let skip = if text[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = Some(&text[i + skip..]);
                Some(&text[..i])
            }
            None => {
                rest = None;
                Some(text)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: u64, name: &str, data: &str) -> String {
        let message = Message {
            id,
            event: name.into(),
            data: data.into(),
            json: false,
        };
        let mut out = Vec::new();
        write_event(&mut out, &message).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn line_splitting() {
        let split = |s| lines(s).collect::<Vec<_>>();
        assert_eq!(split(""), [""]);
        assert_eq!(split("a"), ["a"]);
        assert_eq!(split("a\nb\r\nc\rd"), ["a", "b", "c", "d"]);
        assert_eq!(split("a\n"), ["a", ""]);
        assert_eq!(split("\r\n"), ["", ""]);
        assert_eq!(split("\n\r"), ["", "", ""]);
        assert_eq!(split("a\r\rb"), ["a", "", "b"]);
    }

    #[test]
    fn default_event_has_no_event_field() {
        assert_eq!(event(7, "message", "hello"), "id: 7\ndata: hello\n\n");
    }

    #[test]
    fn named_event_and_multiline_data() {
        assert_eq!(
            event(8, "alert", "one\r\ntwo\rthree\n"),
            "id: 8\nevent: alert\ndata: one\ndata: two\ndata: three\ndata: \n\n"
        );
    }

    #[test]
    fn empty_text_is_still_an_event() {
        // One empty data line: the browser's data buffer is "\n", which is not
        // empty, so the event is dispatched with data "" (WHATWG HTML §9.2.6).
        assert_eq!(event(9, "message", ""), "id: 9\ndata: \n\n");
    }

    #[test]
    fn data_that_looks_like_fields_stays_data() {
        assert_eq!(
            event(1, "message", "id: 99\nevent: x"),
            "id: 1\ndata: id: 99\ndata: event: x\n\n"
        );
    }
}
