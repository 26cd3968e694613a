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
//! Arrows point down only: a codec knows no socket, [`net`] knows no HTTP, the
//! HTTP layer knows no hub, the hub knows no transport.
//!
//! - [`codec`]: pure functions over bytes (JSON, SHA-1, base64, UTF-8
//!   checking, DEFLATE both ways, Redis's RESP).
//! - [`net`]: the [`Socket`](net::Socket) a connection is read and written
//!   through (a `TcpStream`, or an in-memory [`pipe`](net::pipe()) in tests), a
//!   connection handed to a protocol, helper threads, bounded writes.
//! - [`http`]: RFC 9112 request parsing and response writing, the chunked coding,
//!   routing, CORS.
//! - [`server`]: the listener, one thread per connection, limits, shutdown;
//!   each connection's keep-alive loop.
//! - [`hub`]: channels of ordered messages, read through cursors; a `Condvar` per
//!   channel for waiting, and a broadcaster per channel for its subscribers.
//! - [`transport`]: one file per technique, and who may use a channel
//!   ([`transport::access`]).
//! - [`endpoints`]: the channel transports as one block to mount in a
//!   [`Router`], with an access rule.
//! - [`showcase`]: the routes of the showcase binary's wire contract
//!   (`docs/PROTOCOL.md`) and the counters behind its `/stats`.
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
//! Every limit and timeout, with its setting, its default, and what a client
//! sees when it is reached. Each is checked before anything is allocated for
//! the input it bounds.
//!
//! | what | setting | default | past it |
//! | --- | --- | --- | --- |
//! | request line | [`http::Limits::max_request_line`] | 8 KiB | `414`, close |
//! | header section (and a chunked body's trailers) | [`http::Limits::max_header_bytes`] | 16 KiB | `431`, close |
//! | header fields | [`http::Limits::max_headers`] | 100 | `431`, close |
//! | request body | [`http::Limits::max_body`], per route [`http::Router::max_body`] | 1 MiB | `413`, close, before any `100 Continue` |
//! | first byte of a request | [`server::Config::idle_timeout`] | 30 s | closed quietly |
//! | request head, first byte to last | [`server::Config::header_timeout`] | 10 s | `408`, close |
//! | request body | [`server::Config::body_timeout`] | 30 s | `408`, close |
//! | one blocked write | [`server::Config::write_timeout`] | 10 s | connection dropped |
//! | open connections | [`server::Config::max_connections`] | 10,000 | `503`, close (a raw protocol: closed) |
//! | threads: connections and their helpers | [`server::Config::max_threads`] | 12,000 | `503`; a subscription whose broadcaster cannot start: WebSocket 1011, TCP `ERR server busy` |
//! | a thread's stack | [`server::Config::stack_size`] | 512 KiB | a handler's frames past it abort the process |
//! | shutdown grace | [`server::Config::shutdown_timeout`] | 5 s | connections cut off |
//! | message text | [`hub::HubConfig::max_message_bytes`] | 64 KiB | `413`; WebSocket 1009; TCP `ERR message too large` |
//! | messages kept per channel | [`hub::HubConfig::window`] | 1024 | oldest evicted; a reader behind gets `gap` |
//! | bytes kept per channel | [`hub::HubConfig::max_channel_bytes`] | 4 MiB | oldest evicted, the newest always kept |
//! | channels | [`hub::HubConfig::max_channels`] | 1024 | an unread, never-published one makes room; else `503` |
//! | a broadcaster's write to one subscriber | `hub::broadcast::WRITE_NOW_TIMEOUT` | 2 ms | that subscriber falls behind and catches up on a helper thread |
//! | stream silence | [`transport::StreamConfig::heartbeat`] | 15 s | a heartbeat (SSE comment, empty line, HTML comment) |
//! | long-poll wait | `?timeout=` ms, `transport::long_poll::MAX_TIMEOUT` | 25 s, at most 60 s | `200` with no messages |
//! | WebSocket frame, message | `transport::websocket::WsConfig::max_frame`, `max_message` | 16 MiB (`/echo`), the message limit (channels) | close 1009 |
//! | WebSocket silence | `WsConfig::ping_interval`, `idle_timeout` | ping after 30 s, give up after 75 s | close 1001 |
//! | WebSocket closing handshake | `WsConfig::close_timeout` | 5 s | TCP closed |
//! | TCP line | `transport::tcp::MAX_LINE` | 64 KiB + 64 | `ERR line too long`, close |
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
//! use realtime_web::{Config, Endpoints, Hub, HubConfig, Request, Response, Router, Server};
//! use std::sync::Arc;
//!
//! let hub = Arc::new(Hub::new(HubConfig::default()));
//! let router = Router::new()
//!     .get("/health", |_: Request| Response::text("ok"))
//!     .merge(Endpoints::new(Arc::clone(&hub)).router()); // closes the hub on shutdown
//! let server = Server::bind("127.0.0.1:8080", Config::default())?;
//! std::thread::spawn(move || loop {
//!     let _ = hub.channel("time").map(|c| c.publish_json("tick", r#"{"ok":true}"#));
//!     std::thread::sleep(std::time::Duration::from_secs(1));
//! });
//! server.serve(router)?;
//! # Ok::<(), std::io::Error>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod codec;
pub mod endpoints;
pub mod http;
pub mod hub;
pub mod net;
#[cfg(feature = "redis")]
pub mod redis;
pub mod server;
pub mod showcase;
mod sync;
pub mod transport;

pub use endpoints::{Endpoints, Transport};
pub use http::{Cors, Handler, Request, Response, Router};
pub use hub::{Channel, Hub, HubConfig};
pub use server::{Config, Server, ShutdownHandle, Stopped};
pub use transport::access::{Access, Action, Asking};

/// The README's code blocks, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
