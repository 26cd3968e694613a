//! Ajax polling: the client asks "anything new?" on a timer.
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
//! cursor to send next time (`next`). Nothing is held open, so it works through
//! every proxy and with every client ever made, and the server keeps no state
//! per client at all.
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
//! The reply says `Cache-Control: no-store`: a cached poll reply is a stale one.

use super::{batch_json, channel, cursor};
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
    Ok(Response::json(200, batch_json(&batch, Html::Plain)).header("Cache-Control", "no-store"))
}
