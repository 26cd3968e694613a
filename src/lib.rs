//! # realtime-web
//!
//! Every way a server can push data to a browser, in one crate that uses nothing
//! but `std`, each written out in full so that it can be read as the reference
//! for how the technique works on the wire.
//!
//! | technique | what the client does | module |
//! | --- | --- | --- |
//! | regular HTTP | `fetch` a page or `POST` a message | [`http`], [`transport::publish`] |
//! | Ajax polling | asks on a timer | `transport::polling` (feature `polling`) |
//! | Ajax long-polling | asks; the server holds the request until there is news | `transport::long_poll` (feature `long-polling`) |
//! | script-tag (JSONP) long polling | the same through `<script>` tags, cross-origin | `transport::jsonp` (feature `long-polling`) |
//! | XHR streaming | reads one never-ending response | `transport::stream` (feature `comet`) |
//! | hidden-iframe forever frame | an `<iframe>` runs one `<script>` per message | `transport::iframe` (feature `comet`) |
//! | Server-Sent Events | `EventSource` | `transport::sse` (feature `sse`) |
//! | WebSocket | `new WebSocket(...)` | `transport::websocket` (feature `websocket`) |
//! | a plain TCP socket | Flash's `XMLSocket`, `nc`, a device | `transport::tcp` (feature `tcp`, off by default) |
//!
//! # Layers
//!
//! Arrows point down only: a codec knows no HTTP, the HTTP layer knows no hub,
//! the hub knows no transport.
//!
//! - [`codec`]: pure functions over bytes (JSON writing, SHA-1, base64).
//! - [`http`]: RFC 9112 request parsing and response writing, the chunked coding,
//!   routing, CORS.
//! - [`server`]: the listener, one thread per connection, keep-alive, limits,
//!   timeouts, shutdown.
//! - [`hub`]: channels of ordered messages, read through cursors; a `Condvar` per
//!   channel for waiting, and a broadcaster per channel for its subscribers.
//! - [`transport`]: one file per technique.
//! - [`showcase`]: the routes of the showcase binary's wire contract.
//!
//! # Concurrency
//!
//! One thread per connection, which owns it until it closes; every technique is
//! plain blocking code on that thread. The hub is the only shared state: each
//! channel is a `Mutex` around a ring of recent messages and a `Condvar` that
//! publishing signals. A long-poll waits on that `Condvar` itself; streams,
//! WebSockets and TCP subscribers join the channel's broadcast
//! ([`hub::broadcast`]), where one broadcaster thread per channel writes each
//! message, encoded once per wire format, to every caught-up subscriber, while
//! each subscriber's own thread only reads its socket. No client has a queue,
//! so a slow client costs the publisher nothing: it falls behind in the ring
//! and catches up from it.
//!
//! # Limits
//!
//! Every limit is a documented field with a safe default: request sizes in
//! [`http::Limits`], connections and timeouts in [`server::Config`], channels and
//! messages in [`hub::HubConfig`]. Each is checked before anything is allocated
//! for the input it bounds.
//!
//! # Security
//!
//! Request parsing is strict where request smuggling lives (RFC 9112 §6.3: one
//! `Content-Length`, never with `Transfer-Encoding`, CRLF only, no obs-fold).
//! Every refusal has a fixed JSON error that never echoes the request. JSON is
//! written with U+2028/U+2029 escaped, and `<`, `>`, `&` too wherever it is
//! embedded in a script. CORS is an allow-list. No input can panic a thread; a
//! handler that panics anyway costs its own connection a `500`, nothing more.
//! TLS and authentication are left to a reverse proxy.
//!
//! # Example
//!
//! ```no_run
//! use realtime_web::hub::{Hub, HubConfig};
//! use realtime_web::server::{Config, Server};
//! use realtime_web::showcase::{self, Options};
//! use std::sync::Arc;
//!
//! let hub = Arc::new(Hub::new(HubConfig::default()));
//! let server = Server::bind("127.0.0.1:8080", Config::default())?;
//! let closing = Arc::clone(&hub);
//! server.on_shutdown(move || closing.close());
//! server.serve(showcase::router(hub, &Options::default()))?;
//! # Ok::<(), std::io::Error>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod codec;
pub mod http;
pub mod hub;
pub mod net;
pub mod server;
pub mod showcase;
mod sync;
pub mod transport;

pub use http::{Request, Response, Router};
pub use hub::{Hub, HubConfig};
pub use server::{Config, Server, ShutdownHandle};

/// The README's code blocks, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
