//! Ajax polling: the client asks "anything new?" on a timer — the baseline
//! that RFC 6202 §1 starts from and §2.1 calls "short polling". It follows
//! nothing beyond plain HTTP: a `GET` (RFC 9110 §9.3.1) answered at once.
//!
//! ```text
//! client                                   server
//!   │ GET /channels/news/poll?since=41  ──▶ │  read_after(41): at once
//!   │ ◀── 200 {"messages":[…42, 43],"next":43,"gap":false}
//!   │        … interval …
//!   │ GET /channels/news/poll?since=43  ──▶ │
//!   │ ◀── 200 {"messages":[],"next":43,"gap":false}
//! ```
//!
//! The server answers every request at once with the messages after the
//! client's cursor (`since`, default 0: the whole retained history) and the
//! cursor to send next time (`next`), as `application/json` in the batch shape
//! of `docs/PROTOCOL.md`. Nothing is held open, so it works through every
//! proxy and with every client ever made, and the server keeps no state per
//! client at all. Use it when updates are rare or a delay of one interval does
//! not matter, or as the last fallback when nothing that holds a connection
//! gets through.
//!
//! The cost is the trade-off that every other technique in this crate improves
//! on: a message waits on average half the interval before it is seen, and most
//! requests come back empty while each one still pays a full request and
//! response head (several hundred bytes with a browser's headers). Shorter
//! intervals buy latency with more empty requests.
//!
//! Cursor rules are the hub's (see [`crate::hub`]): if the cursor fell out of the
//! retained window, the reply starts at the oldest retained message with
//! `"gap":true`.
//!
//! # How it fails
//!
//! `GET` is safe and idempotent (RFC 9110 §9.2.1, §9.2.2), and the cursor is in
//! the request, so a poll whose reply was lost is simply asked again with the
//! same `since`: nothing is consumed on the server. A bad `since` or channel
//! name is a `400`; past the hub's channel limit, or during shutdown, a `503`.
//!
//! The reply says `Cache-Control: no-store` (RFC 9111 §5.2.2.5): a cached poll
//! reply is a stale one, and the same URL answers differently from one moment
//! to the next. It carries no validator (`ETag`, `Last-Modified`), so there is
//! no `304`: "nothing new" is a `200` with `"messages":[]`.

use super::{batch_body, channel, cursor};
use crate::codec::json::Html;
use crate::http::{Request, Response};
use crate::hub::Hub;
use std::sync::Arc;

/// The handler for `GET /channels/{ch}/poll?since=N`.
pub fn handler(hub: Arc<Hub>) -> impl Fn(Request) -> Response + Send + Sync + 'static {
    move |request| poll(&hub, &request).unwrap_or_else(|refusal| refusal)
}

fn poll(hub: &Hub, request: &Request) -> Result<Response, Response> {
    let since = cursor(request, "since")?.unwrap_or(0);
    let batch = channel(hub, request)?.read_after(since);
    let body = batch_body(&batch, Html::Plain);
    Ok(Response::json(200, body).header("Cache-Control", "no-store"))
}
