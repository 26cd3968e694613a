//! Ajax long-polling: ask, and let the server hold the question until there is
//! an answer — "HTTP long polling" as RFC 6202 §2.1 defines it. The issues of
//! its §2.2 and the best practices of its §5 are noted below where this code
//! meets them.
//!
//! ```text
//! client                                          server
//!   │ GET /channels/news/long-poll?since=41  ──▶ │  wait_after(41, now + timeout)
//!   │                                            │     … the thread sleeps on the
//!   │                                            │     channel's Condvar …
//!   │                                            │  ◀── publish #42 (notify_all)
//!   │ ◀── 200 {"messages":[…42],"next":42,"gap":false}
//!   │ GET /channels/news/long-poll?since=42  ──▶ │  (at once: the next round)
//! ```
//!
//! The request is the same as polling's (`polling.rs`), but when nothing is
//! new the server does not say so: it keeps the request open and answers the
//! moment a message is published, or with `"messages":[]` when `timeout` runs out
//! (default 25 s, at most 60 s). Either way the answer is an ordinary `200`
//! with the batch, sent only on a message, a timeout or shutdown (RFC 6202
//! §5.4). The client handles the reply and asks again with `next` at once. A
//! message is delivered as soon as the publish wakes the waiting thread,
//! without polling's interval, and no request comes back empty except at the
//! timeout. The JSON is the contract's (`docs/PROTOCOL.md`).
//!
//! Use it where a push must pass wherever plain HTTP passes — any proxy, any
//! client that can make a request — and messages come less often than a round
//! trip; it is the usual fallback when streams and WebSocket are blocked.
//!
//! # Why the server holds the request
//!
//! Because HTTP/1.1 lets only the client speak first, holding the request is the
//! only way plain HTTP has to let the server speak when *it* has something to
//! say. Here the holding is one [`Channel::wait_after`] — a single
//! `Condvar::wait_timeout_while` on the connection's own thread, checked under
//! the same lock `publish` appends under. So a message published between the
//! client's two requests is never lost: the second request finds it already
//! after its cursor and is answered at once.
//!
//! That thread is the "allocated resources" of RFC 6202 §2.2: every waiting
//! client holds a socket and a thread for up to `timeout`, within the server's
//! `max_connections` and `max_threads` (past them, `503`).
//!
//! # What it costs on the wire
//!
//! One full request and response head per *delivery* (polling pays one per
//! interval, whether or not anything happened), plus one per timeout: the
//! "header overhead" of RFC 6202 §2.2, most of the bytes when messages are
//! small. The connection itself is kept alive between rounds, so a round costs
//! no new TCP handshake (§2.2, "connection establishment").
//!
//! A message published just after a reply waits for the client's next request:
//! up to three network transits (reply, request, reply) instead of one, the
//! "maximal latency" of §2.2. Under a steady stream of messages the client is
//! always between two requests, so messages that arrive meanwhile are batched
//! into the next reply: latency grows, but the overhead per message falls
//! (§2.2, "graceful degradation").
//!
//! # Where it breaks
//!
//! - Proxies and load balancers close requests that stay idle too long (often
//!   30–60 s). RFC 6202 §5.5 calls 30 s the safe hold, and §2.2 lists this
//!   among long polling's issues: that is why the default timeout is 25 s,
//!   below the usual limits, and why a larger `timeout` is lowered to 60 s.
//!   Every reply is a complete response, so ordinary proxies pass it (§5.3);
//!   one that shares a few upstream connections among many clients can be
//!   starved by held requests.
//! - A cached reply would be stale (§2.2, "caching"): each reply says
//!   `Cache-Control: no-store` (RFC 9111 §5.2.2.5), stricter than the
//!   `no-cache` RFC 6202 suggests.
//! - A browser opens about six connections per host over HTTP/1.1; each pending
//!   long-poll holds one, so a page with several long-polls (or several tabs) can
//!   starve its own other requests (RFC 6202 §5.1). Keep one long-poll per page;
//!   this server does not detect a browser's duplicates (§5.1 suggests a cookie
//!   for that), it holds each request on its own.
//! - A client that goes away while waiting is not noticed until the server writes
//!   to it: its thread stays until the message or the timeout, at most `timeout`
//!   (60 s), and the write that then fails ends the connection quietly.
//!
//! [`Channel::wait_after`]: crate::hub::Channel::wait_after

use super::{batch_body, channel, cursor};
use crate::codec::json::Html;
use crate::http::{Request, Response};
use crate::hub::{Batch, Hub};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a long-poll is held when the client does not say (`timeout`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(25_000);
/// The longest a long-poll is held; larger `timeout` values are lowered to it.
pub const MAX_TIMEOUT: Duration = Duration::from_millis(60_000);

/// The handler for `GET /channels/{ch}/long-poll?since=N&timeout=MS`.
pub fn handler(hub: Arc<Hub>) -> impl Fn(Request) -> Response + Send + Sync + 'static {
    move |request| match wait(&hub, &request) {
        Ok(batch) => {
            let body = batch_body(&batch, Html::Plain);
            let response = Response::json(200, body).header("Cache-Control", "no-store");
            if batch.closed {
                response.close() // shutting down: answer, then close
            } else {
                response
            }
        }
        Err(refusal) => refusal,
    }
}

/// Reads `since` and `timeout` from the request and waits for the batch after
/// `since` on the channel `{ch}`: the shared core of long-polling and JSONP.
///
/// # Errors
///
/// The reply to send instead: `400` for a bad `since`, `timeout` or channel name,
/// `503` past the channel limit or during shutdown.
pub fn wait(hub: &Hub, request: &Request) -> Result<Batch, Response> {
    let since = cursor(request, "since")?.unwrap_or(0);
    let timeout = match cursor(request, "timeout") {
        Ok(ms) => ms.map_or(DEFAULT_TIMEOUT, |ms| {
            Duration::from_millis(ms).min(MAX_TIMEOUT)
        }),
        Err(_) => {
            return Err(Response::error(
                400,
                "timeout must be a non-negative integer of milliseconds",
            ))
        }
    };
    let channel = channel(hub, request)?;
    Ok(channel.wait_after(since, Instant::now() + timeout))
}
