//! Publishing: a plain HTTP `POST`, the one way in for every transport.
//!
//! `POST /channels/{ch}/publish[?event=NAME]` with the message text as the body
//! appends the text to the channel and answers `200 {"id":N}` with its id. Every
//! subscriber, whatever its transport, sees it next.
//!
//! The body is the text itself, not a JSON document, so `curl -d hello` works.
//! It must be UTF-8 (`400` otherwise) and at most the hub's message limit,
//! 65,536 bytes by default (`413` otherwise); the event name must match
//! `[A-Za-z0-9_.-]{1,64}` (`400`), which keeps it safe in every wire format,
//! including SSE's line-based one.
//!
//! Publishing is plain regular HTTP: the request and its reply are independent of
//! any subscription, which is why a page can publish with `fetch` while it
//! receives over any other technique.

use super::{channel, hub_error};
use crate::http::{Request, Response};
use crate::hub::{self, Hub, DEFAULT_EVENT};
use std::sync::Arc;

/// The handler for `POST /channels/{ch}/publish`.
pub fn handler(hub: Arc<Hub>) -> impl Fn(Request) -> Response + Send + Sync + 'static {
    move |request| publish(&hub, &request).unwrap_or_else(|refusal| refusal)
}

fn publish(hub: &Hub, request: &Request) -> Result<Response, Response> {
    let event = request
        .query("event")
        .unwrap_or_else(|| DEFAULT_EVENT.to_owned());
    if !hub::valid_event_name(&event) {
        return Err(hub_error(hub::Error::BadEventName));
    }
    // Check the text before the channel is created, so a bad request leaves no
    // channel behind.
    if request.body().len() > hub.config().max_message_bytes {
        return Err(hub_error(hub::Error::MessageTooLarge));
    }
    let text = std::str::from_utf8(request.body())
        .map_err(|_| Response::error(400, "message is not valid UTF-8"))?;
    let id = channel(hub, request)?
        .publish(&event, text)
        .map_err(hub_error)?;
    Ok(Response::json(200, format!("{{\"id\":{id}}}")))
}
