//! Who may subscribe to a channel and who may publish to it.
//!
//! Every transport asks before it subscribes a client or publishes for one:
//! an [`Access`] holds the embedder's rule, which sees the question
//! ([`Asking`]: the action, the channel, the HTTP request with its headers,
//! query and peer address) and allows it or answers with a refusal of its own
//! choosing (`401` with a JSON error, say). Over HTTP the refusal is the
//! reply, and the router adds the route's CORS fields to it, so a page on
//! another origin can read why. A WebSocket is asked at its handshake, so a
//! refusal is an HTTP reply too; the TCP line protocol has no HTTP, and
//! answers `ERR not allowed`.
//!
//! Subscribers on a two-way connection (a WebSocket, a TCP line subscriber)
//! can send messages as well as receive them. Whether those are published is
//! a choice of its own ([`Access::subscribers_publish`]), asked of the rule
//! once per connection when it is on; a subscriber that may not publish and
//! sends a message anyway is closed (WebSocket 1008, policy violation) or told
//! `ERR publishing is not allowed` (TCP).

use crate::http::{Request, Response};
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

/// What a client asks to do with a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Receive its messages, over any transport.
    Subscribe,
    /// Add a message: `POST …/publish`, or a subscriber's own message on a
    /// WebSocket or TCP connection.
    Publish,
}

/// One question to an access rule.
#[derive(Clone, Copy, Debug)]
pub struct Asking<'a> {
    /// What the client asks to do.
    pub action: Action,
    /// The channel's name, already checked against the contract's rule.
    pub channel: &'a str,
    /// The HTTP request that asks (for a WebSocket, its handshake); `None` on
    /// the TCP line protocol, which has none.
    pub request: Option<&'a Request>,
    /// The client's address, if the connection has one.
    pub peer: Option<SocketAddr>,
}

/// An access rule: `Ok` allows, `Err` is the reply that refuses.
pub type Rule = dyn Fn(&Asking<'_>) -> Result<(), Response> + Send + Sync;

/// An access policy: an optional rule, and whether subscribers on two-way
/// connections may publish. Cheap to clone.
#[derive(Clone)]
pub struct Access {
    rule: Option<Arc<Rule>>,
    subscribers_publish: bool,
}

impl fmt::Debug for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Access")
            .field("rule", &self.rule.is_some())
            .field("subscribers_publish", &self.subscribers_publish)
            .finish()
    }
}

impl Access {
    /// Anyone may subscribe, and subscribers may publish: the showcase's
    /// policy, and the transports' examples'.
    pub fn open() -> Access {
        Access {
            rule: None,
            subscribers_publish: true,
        }
    }

    /// Anyone may subscribe; subscribers may not publish.
    pub fn read_only() -> Access {
        Access {
            rule: None,
            subscribers_publish: false,
        }
    }

    /// Asks `rule` before every subscription and publication.
    pub fn rule(
        mut self,
        rule: impl Fn(&Asking<'_>) -> Result<(), Response> + Send + Sync + 'static,
    ) -> Access {
        self.rule = Some(Arc::new(rule));
        self
    }

    /// Whether messages that subscribers send on a WebSocket or TCP
    /// connection are published (each connection still asks the rule, once).
    pub fn subscribers_publish(mut self, allowed: bool) -> Access {
        self.subscribers_publish = allowed;
        self
    }

    /// Asks the rule, if there is one.
    ///
    /// # Errors
    ///
    /// The rule's refusal.
    pub fn check(&self, asking: &Asking<'_>) -> Result<(), Response> {
        match &self.rule {
            Some(rule) => rule(asking),
            None => Ok(()),
        }
    }

    /// Whether a subscriber to `channel` on a two-way connection may publish
    /// to it: [`Access::subscribers_publish`], then the rule.
    pub fn lets_subscriber_publish(
        &self,
        channel: &str,
        request: Option<&Request>,
        peer: Option<SocketAddr>,
    ) -> bool {
        self.subscribers_publish
            && self
                .check(&Asking {
                    action: Action::Publish,
                    channel,
                    request,
                    peer,
                })
                .is_ok()
    }
}

impl Default for Access {
    /// [`Access::read_only`]: nothing is published that the embedder did
    /// not open.
    fn default() -> Self {
        Access::read_only()
    }
}
