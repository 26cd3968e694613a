//! What a subscriber is to the broadcaster: the wire format its messages are
//! encoded in ([`Format`]), the connection they are written to ([`Sink`]),
//! and how a subscription ends ([`End`]). Each transport supplies the first
//! two; the broadcaster knows nothing else of it.

use crate::hub::{Batch, Message};
use std::fmt;
use std::io;
use std::sync::Arc;

/// What a transport writes, one piece at a time.
#[derive(Clone, Copy, Debug)]
pub enum Item<'a> {
    /// Messages after the cursor were evicted; the replay starts at `oldest`.
    Gap {
        /// The oldest id still retained.
        oldest: u64,
    },
    /// One message.
    Message(&'a Message),
    /// Nothing happened for a heartbeat interval.
    Heartbeat,
}

/// A subscription's wire format: how its transport writes items, and how one
/// delivery is framed on its connection. Subscribers whose formats have the
/// same `name` and `frame` get the same bytes, encoded once.
#[derive(Clone, Copy)]
pub struct Format {
    /// Names the encoding of items (`"sse"`, `"ndjson"`, `"ws-text"`…).
    pub name: &'static str,
    /// Appends one item.
    pub item: fn(&mut Vec<u8>, Item<'_>),
    /// Frames the bytes of one delivery for the connection: as they are, or,
    /// for a response in HTTP/1.1's chunked coding, as one chunk.
    pub frame: fn(Vec<u8>) -> Vec<u8>,
}

impl fmt::Debug for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Format").field("name", &self.name).finish()
    }
}

impl Format {
    pub(super) fn same_bytes(&self, other: &Format) -> bool {
        self.name == other.name && self.frame as usize == other.frame as usize
    }

    /// The bytes owed from `batch`, which was taken after `taken_at`, to a
    /// reader at `cursor` (`taken_at` itself, or a later id up to the batch's
    /// `next`): its messages after `cursor`, with a gap first if they do not
    /// continue from it; framed, or empty if nothing is owed.
    pub fn encode(&self, batch: &Batch, taken_at: u64, cursor: u64) -> Vec<u8> {
        let gap = if cursor == taken_at {
            batch.gap
        } else {
            // `id - 1` cannot wrap: ids start at 1.
            batch.messages.first().is_some_and(|m| m.id - 1 > cursor)
        };
        let mut out = Vec::new();
        if gap {
            (self.item)(
                &mut out,
                Item::Gap {
                    oldest: batch.oldest,
                },
            );
        }
        for message in &batch.messages {
            if gap || message.id > cursor {
                (self.item)(&mut out, Item::Message(message));
            }
        }
        if out.is_empty() {
            return out;
        }
        (self.frame)(out)
    }

    /// A heartbeat in this format, framed (empty if the format has none).
    pub fn heartbeat(&self) -> Vec<u8> {
        let mut out = Vec::new();
        (self.item)(&mut out, Item::Heartbeat);
        if out.is_empty() {
            return out;
        }
        (self.frame)(out)
    }
}

/// Why a subscription ended from the server's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The channel closed (server shutdown): no message will follow.
    Closed,
    /// A write failed or timed out: the connection is lost.
    Failed,
    /// The broadcaster could not be started (the server's thread limit): the
    /// subscription never joined. Only [`Channel::subscribe`](crate::hub::Channel::subscribe) returns it, and
    /// the sink is not told, so the transport can refuse in its own words.
    Busy,
}

/// One subscriber's connection, as the broadcaster sees it. Implemented by
/// each transport over its socket; every method may be called from any thread.
pub trait Sink: Send + Sync {
    /// Writes what of `bytes` the connection takes without waiting longer than
    /// about [`WRITE_NOW_TIMEOUT`](super::WRITE_NOW_TIMEOUT); returns how many bytes that was (0 if
    /// none).
    ///
    /// # Errors
    ///
    /// The connection failed (the peer left).
    fn write_now(&self, bytes: &[u8]) -> io::Result<usize>;

    /// Writes all of `bytes`, waiting as long as the connection's own write
    /// timeout allows: how a subscriber that fell behind catches up.
    ///
    /// # Errors
    ///
    /// The connection failed, or did not take the bytes in time.
    fn write_all(&self, bytes: &[u8]) -> io::Result<()>;

    /// Ends the connection the transport's way (see [`End`]), and wakes the
    /// subscription's own thread if it is blocked reading.
    fn end(&self, why: End);
}

/// How a subscription starts helper threads (the server's, counted against its
/// thread limit): the broadcaster, and the catch-up of a subscriber that fell
/// behind.
pub type Spawn = Arc<dyn Fn(Box<dyn FnOnce() + Send>) -> io::Result<()> + Send + Sync>;
