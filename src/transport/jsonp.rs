//! Script-tag (JSONP) long polling: long-polling through `<script>` elements,
//! which browsers load from any origin. On the wire it is HTTP long polling
//! (RFC 6202 §2.1) with a JavaScript body, so the issues of §2.2 and the
//! practices of §5 apply to it as to [long-polling](super::long_poll).
//!
//! ```text
//! page on http://app.example                      server on http://push.example
//!   appends <script src="http://push.example/channels/news/jsonp?since=41&callback=onBatch">
//!   │ GET /channels/news/jsonp?since=41&callback=onBatch  ──▶ │ wait_after(41, …)
//!   │ ◀── 200 application/javascript                         │ ◀── publish #42
//!   │     onBatch({"messages":[…42],"next":42,"gap":false});
//!   runs it: onBatch handles the batch, removes the tag, appends the next one (since=42)
//! ```
//!
//! Before CORS (2009 onwards), a page could not read a reply from another origin
//! with `XMLHttpRequest`, but it could always *run* a script from anywhere. So
//! the server wrapped its JSON in a call to a function the page named, and the
//! page received data by having its function called. The request is held exactly
//! as a long-poll is — the same `wait`, the same cursor, the same `timeout`
//! (default 25 s, at most 60 s, below the proxy limits RFC 6202 §5.5 discusses)
//! — and the reply is the long-poll body inside `NAME(…);`, a `200` sent only on
//! a message, a timeout or shutdown (§5.4).
//!
//! Use it only for a client that cannot make a cross-origin request with CORS
//! (browsers before 2009, or a page that must read a server it cannot add CORS
//! headers to); anywhere else, long-polling with CORS does the same with status
//! codes and without trusting the server's script.
//!
//! # Costs and limits
//!
//! Everything long-polling costs (RFC 6202 §2.2: a full request and response
//! head per delivery, up to three network transits of latency, one held socket
//! and thread per waiting client), and more: only `GET`; no status codes or
//! headers the page can read (a failed script fires `onerror` and nothing else,
//! so the page can only retry); one script element and one global function per
//! round. And the page trusts the server completely: a script runs with the
//! page's full authority.
//!
//! A pending script load takes one of the browser's connections to the push
//! server's host like any request, so RFC 6202 §5.1 holds here too: one
//! script-tag long poll per page.
//!
//! # Safety of the reply
//!
//! The callback name is the only request text echoed into a response anywhere in
//! this crate, so it is held to the pattern of `docs/PROTOCOL.md`,
//! `[A-Za-z_$][A-Za-z0-9_$.]{0,63}` — a property path, no brackets, quotes,
//! parentheses or spaces — and refused with `400` otherwise (the refusal does not
//! echo it). The JSON inside is written with `<`, `>`, `&`, U+2028 and U+2029
//! escaped ([`Html::Safe`]), so message data can neither end a line inside a
//! string literal (JavaScript before ES2019) nor close an inline `</script>`.
//! The reply is `application/javascript; charset=utf-8` with
//! `X-Content-Type-Options: nosniff`, so a browser never takes it for anything
//! else, and `Cache-Control: no-store` (RFC 9111 §5.2.2.5): a script URL is
//! what caches like best to keep, and each round's answer is new (RFC 6202
//! §2.2, "caching").

use super::long_poll::wait;
use super::{batch_json_len, write_batch};
use crate::codec::json::Html;
use crate::http::response::reply_buffer;
use crate::http::{Request, Response};
use crate::hub::Hub;
use std::sync::Arc;

/// The longest callback name: the pattern's first character and 63 more.
pub const MAX_CALLBACK_LEN: usize = 64;

/// Whether `name` matches `[A-Za-z_$][A-Za-z0-9_$.]{0,63}` (`docs/PROTOCOL.md`).
pub fn valid_callback(name: &str) -> bool {
    let bytes = name.as_bytes();
    matches!(bytes.first(), Some(b) if b.is_ascii_alphabetic() || *b == b'_' || *b == b'$')
        && bytes.len() <= MAX_CALLBACK_LEN
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'$' | b'.'))
}

/// The handler for `GET /channels/{ch}/jsonp?since=N&callback=NAME[&timeout=MS]`.
pub fn handler(hub: Arc<Hub>) -> impl Fn(Request) -> Response + Send + Sync + 'static {
    move |request| {
        // Refuse a bad callback before holding the request for seconds.
        let callback = match request.query("callback") {
            Some(name) if valid_callback(&name) => name,
            Some(_) => {
                return Response::error(400, "callback must match [A-Za-z_$][A-Za-z0-9_$.]{0,63}")
            }
            None => return Response::error(400, "callback is required"),
        };
        let batch = match wait(&hub, &request) {
            Ok(batch) => batch,
            Err(refusal) => return refusal,
        };
        let mut body = reply_buffer(callback.len() + batch_json_len(&batch) + 3);
        body.push_str(&callback);
        body.push('(');
        write_batch(&mut body, &batch, Html::Safe);
        body.push_str(");");
        let response = Response::new(200)
            .header("Content-Type", "application/javascript; charset=utf-8")
            .header("X-Content-Type-Options", "nosniff")
            .header("Cache-Control", "no-store")
            .body(body.into_bytes());
        if batch.closed {
            response.close()
        } else {
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_pattern() {
        for ok in [
            "cb",
            "_",
            "$",
            "a.b.c",
            "jQuery_123",
            "$.handlers.x1",
            &"a".repeat(64),
        ] {
            assert!(valid_callback(ok), "{ok}");
        }
        for bad in [
            "",
            "1cb",
            ".a",
            "a b",
            "a(1)",
            "a[0]",
            "alert(1);x",
            "a-b",
            "</script>",
            "a\u{2028}",
            "é",
            &"a".repeat(65),
        ] {
            assert!(!valid_callback(bad), "{bad:?}");
        }
    }
}
