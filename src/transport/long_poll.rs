//! Ajax long-polling: ask, and let the server hold the question until there is
//! an answer.
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
//! The request is the same as [polling](super::polling)'s, but when nothing is
//! new the server does not say so: it keeps the request open and answers the
//! moment a message is published, or with `"messages":[]` when `timeout` runs out
//! (default 25 s, at most 60 s). The client handles the reply and asks again
//! with `next` at once. A message is delivered as soon as the publish wakes the
//! waiting thread, without polling's interval, and no request comes back empty
//! except at the timeout.
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
//! # What it costs on the wire
//!
//! One full request and response head per *delivery* (polling pays one per
//! interval, whether or not anything happened), plus one per timeout. Under a
//! steady stream of messages the client is always between two requests, so
//! messages that arrive meanwhile are batched into the next reply.
//!
//! # Where it breaks
//!
//! - Proxies and load balancers close requests that stay idle too long (often
//!   30–60 s): that is why the default timeout is 25 s, below the usual limits.
//! - A browser opens about six connections per host over HTTP/1.1; each pending
//!   long-poll holds one, so a page with several long-polls (or several tabs) can
//!   starve its own other requests.
//! - A client that goes away while waiting is not noticed until the server writes
//!   to it: its thread stays until the message or the timeout, at most `timeout`
//!   (60 s), and the write that then fails ends the connection quietly.
//!
//! [`Channel::wait_after`]: crate::hub::Channel::wait_after

use super::{batch_json, channel, cursor};
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
            let response = Response::json(200, batch_json(&batch, Html::Plain))
                .header("Cache-Control", "no-store");
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
