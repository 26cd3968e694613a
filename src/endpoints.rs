//! The channel endpoints as one building block: every transport of a hub's
//! channels, mounted into an embedder's own [`Router`] beside its routes.
//!
//! ```
//! use realtime_web::endpoints::{Endpoints, Transport};
//! use realtime_web::{Hub, HubConfig, Request, Response, Router};
//! use std::sync::Arc;
//!
//! # #[cfg(all(feature = "sse", feature = "long-polling"))] {
//! let hub = Arc::new(Hub::new(HubConfig::default()));
//! let channels = Endpoints::new(Arc::clone(&hub))
//!     .transports(&[Transport::Sse, Transport::LongPoll])
//!     .access(|asking| match asking.request.and_then(|r| r.query("token")) {
//!         Some(token) if token == "secret" => Ok(()),
//!         _ => Err(Response::error(401, "a token is required")),
//!     });
//! let router = Router::new()
//!     .get("/health", |_: Request| Response::text("ok"))
//!     .nest("/live", channels.router()); // /live/channels/{ch}/sse, …/long-poll
//! # let _ = router;
//! # }
//! ```
//!
//! What is mounted, under `/channels/{ch}/`, for each [`Transport`] chosen
//! (all that the crate was built with, by default): `poll`, `long-poll`,
//! `jsonp`, `stream`, `iframe`, `sse`, `ws`; and `POST …/publish` only if
//! [`Endpoints::http_publish`] says so. No demo page, no `/stats`, no echo:
//! those are the showcase's ([`crate::showcase`]). The bytes of each are in
//! `docs/PROTOCOL.md`.
//!
//! Before any transport subscribes a client or publishes for one, the
//! [`Access`] policy is asked (see [`crate::transport::access`]): its rule
//! sees the request, the channel and the action, and its refusal is the
//! reply, with the endpoints' CORS fields. By default anyone may subscribe, no
//! one may publish over HTTP, and subscribers' own WebSocket messages are not
//! published (a text frame closes with 1008): a program publishes from Rust
//! ([`crate::hub::Channel::publish`]) and opens what it wants.
//!
//! The router closes the hub when the server shuts down, so every client on
//! it finishes at once: nothing to remember.

use crate::http::{Cors, Request, Response, Router};
use crate::hub::{self, Hub};
use crate::transport::access::{Access, Action, Asking};
#[cfg(feature = "websocket")]
use crate::transport::websocket::WsConfig;
use crate::transport::{self, StreamConfig};
use std::sync::Arc;

/// A transport of the channel endpoints, named by its path segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// `GET /channels/{ch}/poll` (feature `polling`).
    Poll,
    /// `GET /channels/{ch}/long-poll` (feature `long-polling`).
    LongPoll,
    /// `GET /channels/{ch}/jsonp` (feature `long-polling`).
    Jsonp,
    /// `GET /channels/{ch}/stream`, XHR streaming (feature `comet`).
    Stream,
    /// `GET /channels/{ch}/iframe`, the forever frame (feature `comet`).
    Iframe,
    /// `GET /channels/{ch}/sse` (feature `sse`).
    Sse,
    /// `GET /channels/{ch}/ws` (feature `websocket`).
    WebSocket,
}

impl Transport {
    /// Every transport, in the order of the contract.
    pub const ALL: [Transport; 7] = [
        Transport::Poll,
        Transport::LongPoll,
        Transport::Jsonp,
        Transport::Stream,
        Transport::Iframe,
        Transport::Sse,
        Transport::WebSocket,
    ];

    /// The last segment of its path, which is also its label for
    /// [`Router::label`] (`ws` for WebSocket).
    pub fn name(self) -> &'static str {
        match self {
            Transport::Poll => "poll",
            Transport::LongPoll => "long-poll",
            Transport::Jsonp => "jsonp",
            Transport::Stream => "stream",
            Transport::Iframe => "iframe",
            Transport::Sse => "sse",
            Transport::WebSocket => "ws",
        }
    }

    /// The crate feature it needs.
    pub fn feature(self) -> &'static str {
        match self {
            Transport::Poll => "polling",
            Transport::LongPoll | Transport::Jsonp => "long-polling",
            Transport::Stream | Transport::Iframe => "comet",
            Transport::Sse => "sse",
            Transport::WebSocket => "websocket",
        }
    }

    /// Whether this build of the crate has it.
    pub fn is_built(self) -> bool {
        match self {
            Transport::Poll => cfg!(feature = "polling"),
            Transport::LongPoll | Transport::Jsonp => cfg!(feature = "long-polling"),
            Transport::Stream | Transport::Iframe => cfg!(feature = "comet"),
            Transport::Sse => cfg!(feature = "sse"),
            Transport::WebSocket => cfg!(feature = "websocket"),
        }
    }
}

/// The channel endpoints of one hub, configured; see the module docs.
#[derive(Clone, Debug)]
pub struct Endpoints {
    hub: Arc<Hub>,
    transports: Vec<Transport>,
    http_publish: bool,
    access: Access,
    cors: Cors,
    stream: StreamConfig,
    #[cfg(feature = "websocket")]
    websocket: WsConfig,
}

impl Endpoints {
    /// Every transport this build has, over `hub`; no HTTP publishing;
    /// subscribers may not publish; any origin.
    pub fn new(hub: Arc<Hub>) -> Endpoints {
        Endpoints {
            hub,
            transports: Transport::ALL
                .into_iter()
                .filter(|t| t.is_built())
                .collect(),
            http_publish: false,
            access: Access::read_only(),
            cors: Cors::allow_any(),
            stream: StreamConfig::default(),
            #[cfg(feature = "websocket")]
            websocket: WsConfig::default(),
        }
    }

    /// Mounts exactly these transports.
    ///
    /// # Panics
    ///
    /// If one of them is not in this build of the crate (the message names
    /// the feature to enable): a bug in the program, found the first time it
    /// runs, rather than a route that silently is not there.
    pub fn transports(mut self, transports: &[Transport]) -> Endpoints {
        for transport in transports {
            assert!(
                transport.is_built(),
                "the {} transport needs realtime-web's feature `{}`",
                transport.name(),
                transport.feature()
            );
        }
        self.transports = transports.to_vec();
        self
    }

    /// Whether `POST /channels/{ch}/publish` is mounted (the access rule is
    /// still asked for each publication). Off by default.
    pub fn http_publish(mut self, mounted: bool) -> Endpoints {
        self.http_publish = mounted;
        self
    }

    /// Whether WebSocket subscribers' own messages are published (the rule
    /// is asked once per connection). Off by default: a text frame closes
    /// with 1008.
    pub fn subscribers_publish(mut self, allowed: bool) -> Endpoints {
        self.access = self.access.subscribers_publish(allowed);
        self
    }

    /// Asks `rule` before every subscription and publication (see
    /// [`crate::transport::access`]).
    pub fn access(
        mut self,
        rule: impl Fn(&Asking<'_>) -> Result<(), Response> + Send + Sync + 'static,
    ) -> Endpoints {
        self.access = self.access.rule(rule);
        self
    }

    /// The CORS policy of the endpoints' replies, and the origins a WebSocket
    /// may come from. Any origin by default.
    pub fn cors(mut self, cors: Cors) -> Endpoints {
        self.cors = cors;
        self
    }

    /// Heartbeat and SSE retry of the streaming transports.
    pub fn stream_config(mut self, config: StreamConfig) -> Endpoints {
        self.stream = config;
        self
    }

    /// WebSocket limits and timeouts (frames and messages are held to the
    /// hub's message limit in any case).
    #[cfg(feature = "websocket")]
    pub fn websocket_config(mut self, config: WsConfig) -> Endpoints {
        self.websocket = config;
        self
    }

    /// The access policy, for a transport mounted by hand beside these (the
    /// TCP line protocol: `transport::tcp::handler`, feature `tcp`).
    pub fn access_policy(&self) -> Access {
        self.access.clone()
    }

    /// The routes, each labelled with its transport's name (`publish` for
    /// publishing), with the CORS policy, and a shutdown hook that closes
    /// the hub.
    pub fn router(&self) -> Router {
        let hub = Arc::clone(&self.hub);
        let mut router = Router::new();
        if self.http_publish {
            router = router
                .post(
                    "/channels/{ch}/publish",
                    self.guarded(
                        Action::Publish,
                        transport::publish::handler(Arc::clone(&hub)),
                    ),
                )
                // A message over the hub's limit is refused before its body is read.
                .max_body(hub.config().max_message_bytes)
                .label("publish");
        }
        for &transport in &self.transports {
            let path = format!("/channels/{{ch}}/{}", transport.name());
            router = router
                .get(
                    &path,
                    self.guarded(Action::Subscribe, self.handler(transport)),
                )
                .label(transport.name());
        }
        router
            .cors(self.cors.clone())
            .on_shutdown(move || hub.close())
    }

    /// The transport's own handler.
    fn handler(&self, transport: Transport) -> Box<dyn Fn(Request) -> Response + Send + Sync> {
        let hub = Arc::clone(&self.hub);
        // Read here too, for a build with no transport that uses them.
        let _ = (&hub, &self.stream);
        match transport {
            #[cfg(feature = "polling")]
            Transport::Poll => Box::new(transport::polling::handler(hub)),
            #[cfg(feature = "long-polling")]
            Transport::LongPoll => Box::new(transport::long_poll::handler(hub)),
            #[cfg(feature = "long-polling")]
            Transport::Jsonp => Box::new(transport::jsonp::handler(hub)),
            #[cfg(feature = "comet")]
            Transport::Stream => Box::new(transport::stream::handler(hub, self.stream)),
            #[cfg(feature = "comet")]
            Transport::Iframe => Box::new(transport::iframe::handler(hub, self.stream)),
            #[cfg(feature = "sse")]
            Transport::Sse => Box::new(transport::sse::handler(hub, self.stream)),
            #[cfg(feature = "websocket")]
            Transport::WebSocket => Box::new(transport::websocket::channel_handler(
                hub,
                self.cors.clone(),
                self.websocket.clone(),
                self.access.clone(),
            )),
            #[allow(unreachable_patterns)] // every arm above when every feature is on
            _ => unreachable!("checked by Endpoints::transports"),
        }
    }

    /// `handler`, asked of the access policy first: a request for a valid
    /// channel name that the rule refuses gets the rule's reply. (An invalid
    /// name goes through, for the transport's own `400`.)
    fn guarded(
        &self,
        action: Action,
        handler: impl Fn(Request) -> Response + Send + Sync + 'static,
    ) -> impl Fn(Request) -> Response + Send + Sync + 'static {
        let access = self.access.clone();
        move |request: Request| {
            let channel = request.param("ch").unwrap_or_default();
            if hub::valid_channel_name(channel) {
                let asking = Asking {
                    action,
                    channel,
                    request: Some(&request),
                    peer: request.peer_addr(),
                };
                if let Err(refusal) = access.check(&asking) {
                    return refusal;
                }
            }
            handler(request)
        }
    }
}
