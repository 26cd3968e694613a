//! Publishing: a plain HTTP `POST`, the one way in for every transport.
//!
//! `POST /channels/{ch}/publish[?event=NAME]` with the message text as the body
//! appends the text to the channel and answers `200 {"id":N}` with its id. Every
//! subscriber, whatever its transport, sees it next.
//!
//! The body is the text itself, not a JSON document, so `curl -d hello` works.
//! With `Content-Type: application/json` it is a JSON value instead, checked
//! (`400 message is not JSON` otherwise) and carried as a value: subscribers
//! get `"data":{"celsius":20.1}`, not a string to parse again
//! ([`crate::hub::Channel::publish_json`]).
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
    let json = is_json(request);
    if json && !crate::codec::json::is_json(text) {
        return Err(hub_error(hub::Error::NotJson));
    }
    let channel = channel(hub, request)?;
    let published = if json {
        channel.publish_json(&event, text)
    } else {
        channel.publish(&event, text)
    };
    let id = published.map_err(hub_error)?;
    Ok(Response::json(200, format!("{{\"id\":{id}}}")))
}

/// Whether the body is declared JSON: the media type of `Content-Type` is
/// `application/json`, in any case, parameters aside (RFC 9110 §8.3.1).
fn is_json(request: &Request) -> bool {
    request.header("content-type").is_some_and(|value| {
        let media_type = value.split(';').next().unwrap_or_default();
        media_type
            .trim_matches([' ', '\t'])
            .eq_ignore_ascii_case("application/json")
    })
}
