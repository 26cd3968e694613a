//! The hidden-iframe forever frame: an HTML document that never finishes
//! loading, with one `<script>` per message. On the wire it is HTTP streaming
//! (RFC 6202 §3.1) with an HTML body; the issues of §3.2 and the practices of
//! §5 are noted below where this code meets them.
//!
//! ```text
//! page: <iframe src="/channels/news/iframe" hidden></iframe>
//!       window.addEventListener("message", e => …e.data…)
//!
//! GET /channels/news/iframe            HTTP/1.1 200 OK
//!                          ──▶         Content-Type: text/html; charset=utf-8
//!                                      Transfer-Encoding: chunked
//!
//!                                      <!doctype html><html><head>…</head><body>
//!                                      <!-- padding past 1 KiB -->
//!                                      <script>parent.postMessage({"id":42,…},"*")</script>
//!                                      <!-- ping -->
//!                                      <script>parent.postMessage({"id":43,…},"*")</script>
//! ```
//!
//! Browsers render HTML progressively and run each `<script>` element as soon as
//! its end tag has arrived, even while the document is still loading. So a
//! server that never ends a document can push code into it: each message is a
//! script that hands the message to the page around the frame. This was the
//! "forever frame" of Comet (2006 onwards; Gmail's chat and the first Comet
//! libraries used it) because it streamed in every browser of the time, including
//! Internet Explorer, whose `XMLHttpRequest` did not expose a response until it was
//! complete. Use it today only for such browsers: anywhere a `fetch()` stream or
//! `EventSource` exists, they stream the same bytes without a document.
//!
//! Its costs: one set of headers per connection and a script element per
//! message (about 40 bytes around the message JSON); the frame's
//! never-finishing load kept the browser's loading indicator spinning (Gmail
//! famously loaded it through an `ActiveX htmlfile` object to hide that); the
//! frame holds one of the browser's connections per host while open (RFC 6202
//! §5.1); and the document grows for as long as it is open, so a page that
//! keeps a frame for hours should reload it now and then with `?since=` its
//! last id — the periodic reconnection RFC 6202 §3.2 ("maximal latency")
//! describes, which costs a round trip of latency at that moment.
//!
//! # From `parent.callback(…)` to `postMessage`
//!
//! The original frames called a function of the parent page directly,
//! `parent.onMessage(…)`. That works only when the frame and the page share an
//! origin; a page on another origin (the common case: a push server on its own
//! host) is out of reach of the frame's scripts. `window.postMessage` (HTML5,
//! 2008 onwards) is the sanctioned channel across origins: the frame posts a
//! structured-cloned value, the page receives a `message` event and checks
//! `event.origin`. The contract (`docs/PROTOCOL.md`) posts with target origin
//! `"*"`, so any page that frames the channel receives its messages — as
//! readable as JSONP, which also ignores CORS by construction. Do not put
//! secrets in channels these two transports serve.
//!
//! # Safety and framing
//!
//! Message data is written inside a `<script>` element, so the JSON is written
//! with `<`, `>`, `&`, U+2028 and U+2029 escaped (`Html::Safe`): no text can close
//! the script (`</script>`), open a comment that hides the rest (`<!--`), or end
//! a JavaScript line inside a string. A proxy may split or merge the chunks on
//! the way (RFC 6202 §3.2, "framing techniques"); the browser runs a script
//! only once its end tag has arrived, so the element, not the chunk, is the
//! message boundary.
//!
//! The opening is padded past 1 KiB because some browsers buffered that much
//! before rendering anything (RFC 6202 §3.2, "client buffering"). A heartbeat
//! is an HTML comment, every [`StreamConfig::heartbeat`] (default 15 s) of
//! silence, so that a quiet frame does not look idle to intermediaries (below
//! the ~30 s RFC 6202 §5.5 calls safe) and a dead client is found by the
//! failing write. A gap posts `{"gap":true,"oldest":N}` before the replay;
//! `?since=N` replays after `since`. When the server shuts down it closes the
//! document (`</body></html>`) and the chunked body.
//!
//! # Where it breaks
//!
//! A proxy that buffers the response holds every script back (RFC 6202 §3.2,
//! "network intermediaries"; §5.3). The reply asks nginx-style proxies not to
//! with `X-Accel-Buffering: no`, keeps the browser from sniffing with
//! `X-Content-Type-Options: nosniff`, and is `Cache-Control: no-cache`; past a
//! proxy that buffers anyway, only long-polling or JSONP gets through.

use super::{as_is, gap_json, message_json, stream_subscription, subscription, Item, StreamConfig};
use crate::codec::json::Html;
use crate::http::{Request, Response};
use crate::hub::broadcast::Format;
use crate::hub::Hub;
use std::io::Write;
use std::sync::Arc;

/// The opening document, before its padding.
const OPENING: &str = "<!doctype html><html><head><meta charset=\"utf-8\"><title>forever frame</title></head><body>\n";

/// How far the opening is padded: past the 1 KiB some browsers buffered before
/// they rendered (and so ran) anything.
pub const PADDING_BYTES: usize = 1024;

/// The frame's wire format, for the channel's broadcaster.
pub const FORMAT: Format = Format {
    name: "iframe",
    item: write_script,
    frame: as_is,
};

/// The handler for `GET /channels/{ch}/iframe[?since=N]`.
pub fn handler(
    hub: Arc<Hub>,
    config: StreamConfig,
) -> impl Fn(Request) -> Response + Send + Sync + 'static {
    move |request| open(&hub, &request, config).unwrap_or_else(|refusal| refusal)
}

fn open(hub: &Hub, request: &Request, config: StreamConfig) -> Result<Response, Response> {
    let (channel, start) = subscription(hub, request)?;
    let response = Response::stream("text/html; charset=utf-8", move |out| {
        let mut opening = String::from(OPENING);
        opening.push_str("<!--");
        opening.push_str(&" ".repeat(PADDING_BYTES));
        opening.push_str("-->\n");
        out.write_all(opening.as_bytes())?;
        stream_subscription(out, &channel, start, FORMAT, config.heartbeat)?;
        // Only after a clean end (shutdown): finish the document.
        out.write_all(b"</body></html>\n")
    });
    Ok(response
        .header("Cache-Control", "no-cache")
        .header("X-Accel-Buffering", "no")
        .header("X-Content-Type-Options", "nosniff"))
}

/// One script (a message or a gap, posted to the page), or an HTML comment
/// (heartbeat).
fn write_script(out: &mut Vec<u8>, item: Item<'_>) {
    let script = match item {
        Item::Gap { oldest } => post(&gap_json(oldest)),
        Item::Message(message) => post(&message_json(message, Html::Safe)),
        Item::Heartbeat => "<!-- ping -->\n".to_owned(),
    };
    out.extend_from_slice(script.as_bytes());
}

/// One message's script. `json` must be HTML-safe (no `<`, `>`, `&`).
fn post(json: &str) -> String {
    format!("<script>parent.postMessage({json},\"*\")</script>\n")
}
