//! XHR streaming: one response that never ends, read while it arrives —
//! "HTTP streaming" as RFC 6202 §3.1 defines it. The issues of its §3.2 and
//! the practices of its §5 are noted below where this code meets them.
//!
//! ```text
//! GET /channels/news/stream            HTTP/1.1 200 OK
//!                          ──▶         Content-Type: application/x-ndjson
//!                                      Transfer-Encoding: chunked
//!
//!                                      {"id":42,"event":"message","data":"hello"}⏎
//!                                      ⏎                         (heartbeat)
//!                                      {"id":43,"event":"message","data":"again"}⏎
//! ```
//!
//! The client makes one ordinary request and the server keeps the response open,
//! writing one JSON message per line (newline-delimited JSON) as messages are
//! published. The client reads the body as it grows — `XMLHttpRequest`'s
//! `onprogress` with `responseText` in the Comet days, a `fetch()` body reader
//! today — and parses each complete line. Every batch is flushed as one chunk of
//! the chunked coding (RFC 9112 §7.1), so it leaves at once.
//!
//! Compared with long-polling, there is no request per delivery: one set of
//! headers per connection, then about the message JSON itself, and a message
//! leaves within one network transit of its publish. Compared with SSE,
//! the format is the application's own (here, the message JSON of
//! `docs/PROTOCOL.md`), and nothing reconnects or resumes by itself: the client
//! reconnects with `?since=` its last id, and the gap rule (a line
//! `{"gap":true,"oldest":N}` before the replay) says when that was too late.
//! Use it where a `fetch()` stream is available and SSE's format or its
//! automatic reconnection is not wanted; it holds one of the browser's
//! connections per host for as long as it is open (RFC 6202 §5.1).
//!
//! # Framing
//!
//! Chunk boundaries are not message boundaries: a proxy may split or merge
//! chunks on the way (RFC 6202 §3.2, "framing techniques"), so the message ends
//! at its newline, never at its chunk, and a reader splits on newlines.
//!
//! # The prelude
//!
//! Old browsers did not hand a response to the page until some amount of it had
//! arrived (Internet Explorer's `XDomainRequest` about 2 KiB, early WebKit about
//! 1 KiB) — the "client buffering" of RFC 6202 §3.2 — so Comet servers began
//! each stream with padding. With `?prelude=1` this server does the same: 2 KiB
//! of spaces and a newline, which an ndjson reader skips as a blank line.
//! Current browsers deliver the first byte, so it is off by default.
//!
//! # Where it breaks
//!
//! - A proxy that buffers the response until it ends holds every message back
//!   (RFC 6202 §3.2, "network intermediaries"; §5.3: streaming needs each
//!   proxy to forward each chunk at once). `X-Accel-Buffering: no` asks
//!   nginx-style proxies not to buffer, and `X-Content-Type-Options: nosniff`
//!   keeps the browser from buffering the start of the body to sniff its type.
//!   Neither helps with a proxy that ignores them: fall back to long-polling.
//! - A quiet stream looks idle to intermediaries, which close idle connections.
//!   A heartbeat, an empty line every [`StreamConfig::heartbeat`] (default
//!   15 s) of silence, keeps it under the ~30 s RFC 6202 §5.5 calls safe for a
//!   held request, and finds a dead client by the failing write.
//! - `responseText` keeps the whole body, so an old XHR reader grows for as
//!   long as the stream lives, and such clients closed and reopened it now and
//!   then — which brings back long polling's latency for that moment (§3.2,
//!   "maximal latency"). Reconnecting with `?since=` loses nothing meanwhile.
//! - A stream ends cleanly only at shutdown (the chunked body's last chunk);
//!   otherwise it ends when the client leaves or a write fails. Either way the
//!   client reconnects with `?since=` its last id.

use super::{as_is, stream_subscription, subscription, write_json_line, StreamConfig};
use crate::http::{Request, Response};
use crate::hub::broadcast::Format;
use crate::hub::Hub;
use std::io::Write;
use std::sync::Arc;

/// The size of the optional prelude of padding, in bytes (before its newline).
pub const PRELUDE_BYTES: usize = 2048;

/// The stream's wire format, for the channel's broadcaster.
pub const FORMAT: Format = Format {
    name: "ndjson",
    item: write_json_line,
    frame: as_is,
};

/// The handler for `GET /channels/{ch}/stream[?since=N][&prelude=1]`.
pub fn handler(
    hub: Arc<Hub>,
    config: StreamConfig,
) -> impl Fn(Request) -> Response + Send + Sync + 'static {
    move |request| open(&hub, &request, config).unwrap_or_else(|refusal| refusal)
}

fn open(hub: &Hub, request: &Request, config: StreamConfig) -> Result<Response, Response> {
    let (channel, start) = subscription(hub, request)?;
    let prelude = request.query("prelude").as_deref() == Some("1");
    let response = Response::stream("application/x-ndjson", move |out| {
        if prelude {
            let mut padding = vec![b' '; PRELUDE_BYTES];
            padding.push(b'\n');
            out.write_all(&padding)?;
        }
        stream_subscription(out, &channel, start, FORMAT, config.heartbeat)
    });
    Ok(response
        .header("Cache-Control", "no-cache")
        .header("X-Accel-Buffering", "no")
        .header("X-Content-Type-Options", "nosniff"))
}
