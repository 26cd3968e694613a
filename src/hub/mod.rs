//! The hub: named channels of ordered messages, read through cursors.
//!
//! Every transport in this crate is the same loop: hold a cursor (the id of the
//! last message seen), ask the channel for the batch after it, deliver the batch in
//! the transport's own wire format, move the cursor to the batch's `next`. The hub
//! is that one shared piece.
//!
//! # No per-client queues
//!
//! A [`Channel`] is a `Mutex` around a ring of its most recent messages, plus one
//! `Condvar`. Publishing appends to the ring, evicts the oldest messages past the
//! window, and wakes every waiter with `notify_all` — the long-polls, and one
//! broadcaster per channel that writes to its streaming subscribers
//! ([`broadcast`]). A reader owns nothing but its
//! cursor. So a slow client never grows a queue and never slows the publisher: it
//! only falls behind in the ring and, if it falls out of it, is told so by the
//! batch's `gap` flag. Memory is bounded by the window (a count and a byte budget
//! per channel) times the channel limit, whatever the number of clients.
//!
//! # Cursor semantics
//!
//! Ids are 1, 2, 3, … per channel, without holes; cursor 0 means "nothing seen".
//! A [`Batch`] after cursor `c` holds the retained messages with `id > c`, in
//! order, and `next`, the cursor to use next time. When messages after `c` were
//! already evicted, the batch starts at the oldest retained message and says
//! `gap: true`. A cursor *ahead* of the channel (a client that saw ids from an
//! earlier run of the server) is treated the same way: it gets the whole retained
//! window with `gap: true`, so a client never silently skips the new run's
//! messages.
//!
//! # Concurrency
//!
//! [`Channel::wait_after`] is one `Condvar::wait_timeout_while`: the predicate is
//! checked under the same lock that `publish` takes to append, so a message
//! published between a client's two requests is never missed (no lost wake-up),
//! and the time left is recomputed by std on every spurious wake-up.
//! [`Hub::close`] sets every channel's `closed` flag and wakes all waiters, which
//! is how server shutdown ends long-polls and streams at once.
//!
//! # Examples
//!
//! ```
//! use realtime_web::hub::{Hub, HubConfig};
//! use std::time::{Duration, Instant};
//!
//! let hub = Hub::new(HubConfig::default());
//! let news = hub.channel("news").unwrap();
//! assert_eq!(news.publish("message", "first").unwrap(), 1);
//! assert_eq!(news.publish("alert", "second").unwrap(), 2);
//!
//! let batch = news.read_after(1);
//! assert_eq!(batch.messages.len(), 1);
//! assert_eq!(&*batch.messages[0].data, "second");
//! assert_eq!(batch.next, 2);
//!
//! // Nothing after 2 yet: waits until the deadline, then returns empty.
//! let batch = news.wait_after(2, Instant::now() + Duration::from_millis(10));
//! assert!(batch.messages.is_empty());
//! ```

pub mod broadcast;
#[cfg(feature = "redis")]
mod store;

use crate::codec::json;
use crate::sync::lock;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Instant;

/// The longest channel name, in bytes (`docs/PROTOCOL.md`, "Messages and channels").
pub const MAX_NAME_LEN: usize = 64;
/// The name of the default event.
pub const DEFAULT_EVENT: &str = "message";

/// Limits of a [`Hub`]. Every field has a safe default.
#[derive(Clone, Debug)]
pub struct HubConfig {
    /// How many recent messages a channel retains for replay. Default 1024.
    /// Values below 1 are treated as 1.
    pub window: usize,
    /// How many bytes of event names and data a channel retains at most; the
    /// oldest messages are evicted past it, but the newest is always kept.
    /// Default 4 MiB.
    pub max_channel_bytes: usize,
    /// The largest message `data`, in bytes. Default 65,536.
    pub max_message_bytes: usize,
    /// How many channels may exist. At the limit, a channel that was never
    /// published to and that nobody holds makes room; if there is none,
    /// creating one more fails with [`Error::TooManyChannels`]. Default 1024.
    pub max_channels: usize,
    /// Redis servers that every node of a deployment shares its channels
    /// through (see `hub/store.rs`); empty (the default) for a hub of its
    /// own. With several, channels are spread over them by a hash of their
    /// name. Feature `redis`.
    #[cfg(feature = "redis")]
    pub redis: Vec<crate::redis::Url>,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            window: 1024,
            max_channel_bytes: 4 << 20,
            max_message_bytes: 65_536,
            max_channels: 1024,
            #[cfg(feature = "redis")]
            redis: Vec::new(),
        }
    }
}

/// Why the hub refused an operation. Each variant is one rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// A channel name is not `[A-Za-z0-9_-]{1,64}`.
    BadChannelName,
    /// An event name is not `[A-Za-z0-9_.-]{1,64}`.
    BadEventName,
    /// Message data is longer than [`HubConfig::max_message_bytes`].
    MessageTooLarge,
    /// Data published as JSON is not one JSON value (RFC 8259).
    NotJson,
    /// Creating the channel would pass [`HubConfig::max_channels`].
    TooManyChannels,
    /// The hub or channel is closed (the server is shutting down).
    Closed,
    /// The shared store (Redis) did not answer: the message was not
    /// published, or the channel could not be loaded. Feature `redis`.
    Unavailable,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::BadChannelName => "bad channel name",
            Error::BadEventName => "bad event name",
            Error::MessageTooLarge => "message too large",
            Error::NotJson => "message is not JSON",
            Error::TooManyChannels => "too many channels",
            Error::Closed => "shutting down",
            Error::Unavailable => "channel store unavailable",
        })
    }
}

impl std::error::Error for Error {}

/// One published message. Cloning is cheap: the text is shared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The per-channel id: 1, 2, 3, … without holes.
    pub id: u64,
    /// The event name, `message` by default.
    pub event: Arc<str>,
    /// The message text: a JSON value's text when `json` is set.
    pub data: Arc<str>,
    /// Whether `data` is a JSON value ([`Channel::publish_json`]): the
    /// transports then carry it as a value in the message JSON
    /// (`"data":{"celsius":20.1}`), not as a string.
    pub json: bool,
}

/// What a reader gets after its cursor.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    /// The retained messages after the cursor, in id order, shared with the
    /// channel's ring: 8 bytes and one reference count a message. (A batch
    /// of 48-byte messages was a block of a new size for each batch length a
    /// long-poll's thread was answered with, and glibc keeps a block of
    /// every size a thread frees in that thread's cache.)
    pub messages: Vec<Arc<Message>>,
    /// The cursor to ask with next time: the id of the last message in the
    /// channel when this batch was taken.
    pub next: u64,
    /// True when messages after the cursor were evicted (or the cursor was ahead
    /// of the channel), so `messages` does not continue from the cursor.
    pub gap: bool,
    /// The oldest id the channel still retains (or the next id to be assigned, if
    /// it retains none). Streaming transports announce it with a gap.
    pub oldest: u64,
    /// True when the channel is closed: no message will follow.
    pub closed: bool,
    /// How many times the channel's ring was replaced because its shared
    /// store restarted empty (feature `redis`): a change means ids began
    /// again. Always 0 for a channel of its own.
    pub generation: u64,
}

/// Checks a channel name against the contract: `[A-Za-z0-9_-]{1,64}`.
pub fn valid_channel_name(name: &str) -> bool {
    valid_name(name, b"_-")
}

/// Checks an event name against the contract: `[A-Za-z0-9_.-]{1,64}`. Such a
/// name can never hold a line break, so it is safe in an SSE `event:` field.
pub fn valid_event_name(name: &str) -> bool {
    valid_name(name, b"_.-")
}

fn valid_name(name: &str, extra: &[u8]) -> bool {
    (1..=MAX_NAME_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || extra.contains(&b))
}

/// A set of named channels, created on first use.
#[derive(Debug)]
pub struct Hub {
    config: HubConfig,
    channels: Mutex<Channels>,
    default_event: Arc<str>,
    #[cfg(feature = "redis")]
    store: Option<Arc<store::Store>>,
}

#[derive(Debug, Default)]
struct Channels {
    by_name: HashMap<Box<str>, Arc<Channel>>,
    closed: bool,
}

impl Channels {
    /// Removes one channel that was never published to and that nobody holds
    /// (no reader waits on it, no handler has it): one that only a read created.
    /// Without this, reading 1024 made-up names would fill the table for good.
    /// Channels with messages are kept: their history is what replay serves.
    fn evict_one_unused(&mut self) -> bool {
        let unused = self
            .by_name
            .iter()
            .find(|(_, channel)| Arc::strong_count(channel) == 1 && channel.last_id() == 0)
            .map(|(name, _)| name.clone());
        match unused {
            Some(name) => self.by_name.remove(&name).is_some(),
            None => false,
        }
    }
}

impl Hub {
    /// Creates an empty hub with these limits. With Redis servers in the
    /// configuration, it links to them without waiting for them to answer
    /// (see `Hub::connect`, feature `redis`).
    ///
    /// # Panics
    ///
    /// With Redis servers, if no thread can be started to read from them.
    pub fn new(config: HubConfig) -> Hub {
        #[cfg(feature = "redis")]
        let store = (!config.redis.is_empty()).then(|| {
            let store = store::Store::open(
                &config.redis,
                config.window.max(1),
                config.max_message_bytes,
                false,
            );
            Arc::new(store.expect("a thread to read from Redis"))
        });
        Hub {
            config,
            channels: Mutex::new(Channels::default()),
            default_event: Arc::from(DEFAULT_EVENT),
            #[cfg(feature = "redis")]
            store,
        }
    }

    /// Creates a hub whose channels are shared through the Redis servers of
    /// its configuration, each of which must answer now. Feature `redis`.
    ///
    /// # Errors
    ///
    /// The first server that cannot be reached, named in the error's text.
    #[cfg(feature = "redis")]
    pub fn connect(config: HubConfig) -> std::io::Result<Hub> {
        let store = store::Store::open(
            &config.redis,
            config.window.max(1),
            config.max_message_bytes,
            true,
        )?;
        Ok(Hub {
            channels: Mutex::new(Channels::default()),
            default_event: Arc::from(DEFAULT_EVENT),
            store: (!config.redis.is_empty()).then(|| Arc::new(store)),
            config,
        })
    }

    /// The limits this hub was created with.
    pub fn config(&self) -> &HubConfig {
        &self.config
    }

    /// Returns the channel called `name`, creating it if it does not exist.
    ///
    /// # Errors
    ///
    /// [`Error::BadChannelName`] for a name outside the contract's syntax,
    /// [`Error::TooManyChannels`] when creating it would pass the limit,
    /// [`Error::Closed`] after [`Hub::close`].
    pub fn channel(&self, name: &str) -> Result<Arc<Channel>, Error> {
        if !valid_channel_name(name) {
            return Err(Error::BadChannelName);
        }
        if let Some(channel) = self.existing(name)? {
            return Ok(channel);
        }
        // A shared channel's window is fetched before the table is locked:
        // the network never holds up the other channels' requests.
        #[cfg(feature = "redis")]
        let fetched = match &self.store {
            Some(store) => Some(store.fetch(name)?),
            None => None,
        };
        let mut channels = lock(&self.channels);
        if channels.closed {
            return Err(Error::Closed);
        }
        if let Some(channel) = channels.by_name.get(name) {
            return Ok(Arc::clone(channel)); // created meanwhile
        }
        if channels.by_name.len() >= self.config.max_channels && !channels.evict_one_unused() {
            return Err(Error::TooManyChannels);
        }
        #[cfg_attr(not(feature = "redis"), allow(unused_mut))]
        let mut channel = Channel::new(&self.config, &self.default_event);
        #[cfg(feature = "redis")]
        {
            channel.shared = self.store.clone().map(|store| (store, name.into()));
        }
        let channel = Arc::new(channel);
        // Filled before anyone else can see it; followed once the table is
        // free again.
        #[cfg(feature = "redis")]
        let follow = fetched.map(|(window, seq)| channel.restart(window, seq));
        channels.by_name.insert(name.into(), Arc::clone(&channel));
        drop(channels);
        #[cfg(feature = "redis")]
        if let (Some(store), Some(last)) = (&self.store, follow) {
            store.follow(name, &channel, last);
        }
        Ok(channel)
    }

    /// The channel called `name` if it exists; an error after [`Hub::close`].
    fn existing(&self, name: &str) -> Result<Option<Arc<Channel>>, Error> {
        let channels = lock(&self.channels);
        if channels.closed {
            return Err(Error::Closed);
        }
        Ok(channels.by_name.get(name).cloned())
    }

    /// Returns the channel called `name` if it exists.
    pub fn find(&self, name: &str) -> Option<Arc<Channel>> {
        lock(&self.channels).by_name.get(name).cloned()
    }

    /// How many channels exist.
    pub fn channel_count(&self) -> usize {
        lock(&self.channels).by_name.len()
    }

    /// Closes every channel and wakes every waiter; no channel can be created
    /// or published to afterwards. Used by server shutdown. Idempotent.
    pub fn close(&self) {
        #[cfg(feature = "redis")]
        if let Some(store) = &self.store {
            store.close();
        }
        let channels = {
            let mut channels = lock(&self.channels);
            channels.closed = true;
            channels.by_name.values().cloned().collect::<Vec<_>>()
        };
        for channel in channels {
            channel.close();
        }
    }

    /// True after [`Hub::close`].
    pub fn is_closed(&self) -> bool {
        lock(&self.channels).closed
    }
}

/// One channel: a ring of recent messages behind a `Mutex`, and a `Condvar`
/// that publishing signals.
#[derive(Debug)]
pub struct Channel {
    log: Mutex<Log>,
    published: Condvar,
    window: usize,
    max_bytes: usize,
    max_message_bytes: usize,
    default_event: Arc<str>,
    /// The subscribers a broadcaster writes to (see [`broadcast`]).
    broadcast: broadcast::Broadcast,
    /// The shared store the channel lives in, and its name there.
    #[cfg(feature = "redis")]
    shared: Option<(Arc<store::Store>, Box<str>)>,
}

#[derive(Debug)]
struct Log {
    /// Retained messages; ids are contiguous, so the position of id `i` is
    /// `i - ring[0].id`.
    ring: VecDeque<Arc<Message>>,
    /// Bytes of event names and data in `ring`.
    bytes: usize,
    /// The id the next published message gets.
    next_id: u64,
    /// How many readers are inside `wait_after` now.
    waiting: usize,
    closed: bool,
    /// See [`Batch::generation`].
    generation: u64,
}

impl Log {
    /// Appends `message` (whose id is `next_id`), and evicts the oldest
    /// messages past the window or the byte budget; the newest always stays.
    fn push(&mut self, message: Arc<Message>, window: usize, max_bytes: usize) {
        self.next_id = message.id + 1;
        self.bytes += message.event.len() + message.data.len();
        self.ring.push_back(message);
        while self.ring.len() > window || (self.bytes > max_bytes && self.ring.len() > 1) {
            if let Some(old) = self.ring.pop_front() {
                self.bytes -= old.event.len() + old.data.len();
            }
        }
    }

    fn last_id(&self) -> u64 {
        self.next_id - 1
    }

    fn oldest_id(&self) -> u64 {
        self.ring.front().map_or(self.next_id, |m| m.id)
    }

    /// True when a reader at `cursor` has seen everything: the one state in which
    /// `wait_after` sleeps.
    fn is_caught_up(&self, cursor: u64) -> bool {
        cursor == self.last_id()
    }

    /// The batch after `cursor`. The cursor is the client's, so any `u64`
    /// may arrive here (`u64::MAX` included): the arithmetic is on ids the
    /// channel holds, never `cursor + 1`, so no cursor can overflow it.
    fn batch_after(&self, cursor: u64) -> Batch {
        let oldest = self.oldest_id();
        let last = self.last_id();
        // `oldest` is at least 1 (ids start at 1), so `oldest - 1` cannot wrap:
        // it is the cursor of a reader that has seen everything evicted.
        let seen_evicted = oldest - 1;
        let continuous = (seen_evicted..=last).contains(&cursor);
        let start = if continuous {
            // How many retained messages the cursor has seen: in range by the
            // check above, and at most the ring's length.
            (cursor - seen_evicted) as usize
        } else {
            0
        };
        Batch {
            messages: self.ring.range(start..).cloned().collect(),
            next: last,
            gap: !continuous,
            oldest,
            closed: self.closed,
            generation: self.generation,
        }
    }
}

impl Channel {
    fn new(config: &HubConfig, default_event: &Arc<str>) -> Channel {
        Channel {
            log: Mutex::new(Log {
                ring: VecDeque::new(),
                bytes: 0,
                next_id: 1,
                waiting: 0,
                closed: false,
                generation: 0,
            }),
            published: Condvar::new(),
            window: config.window.max(1),
            max_bytes: config.max_channel_bytes,
            max_message_bytes: config.max_message_bytes,
            default_event: Arc::clone(default_event),
            broadcast: broadcast::Broadcast::default(),
            #[cfg(feature = "redis")]
            shared: None,
        }
    }

    /// Appends a message and wakes every waiter. Returns its id.
    ///
    /// The oldest messages are evicted while the ring holds more than the window,
    /// or more bytes than the channel's budget (the new message itself is always
    /// kept).
    ///
    /// # Errors
    ///
    /// [`Error::BadEventName`] unless `event` matches `[A-Za-z0-9_.-]{1,64}`,
    /// [`Error::MessageTooLarge`] for data over the limit, [`Error::Closed`] after
    /// the channel was closed.
    pub fn publish(&self, event: &str, data: &str) -> Result<u64, Error> {
        self.append(event, data, false)
    }

    /// Appends a JSON value, such as `{"celsius":20.1}`, as [`Channel::publish`]
    /// appends text: clients get it as a value (`"data":{"celsius":20.1}` in
    /// the message JSON, the text itself in SSE `data:` lines), so they parse
    /// once.
    ///
    /// # Errors
    ///
    /// [`Error::NotJson`] unless `json` is one JSON value (RFC 8259, nested at
    /// most [`json::MAX_DEPTH`] deep); otherwise as [`Channel::publish`].
    pub fn publish_json(&self, event: &str, json: &str) -> Result<u64, Error> {
        if !json::is_json(json) {
            return Err(Error::NotJson);
        }
        self.append(event, json, true)
    }

    fn append(&self, event: &str, data: &str, json: bool) -> Result<u64, Error> {
        if !valid_event_name(event) {
            return Err(Error::BadEventName);
        }
        if data.len() > self.max_message_bytes {
            return Err(Error::MessageTooLarge);
        }
        // Allocate outside the lock: publishing holds it only to append.
        let event = if event == DEFAULT_EVENT {
            Arc::clone(&self.default_event)
        } else {
            Arc::from(event)
        };
        #[cfg(feature = "redis")]
        if let Some((store, name)) = &self.shared {
            if self.is_closed() {
                return Err(Error::Closed);
            }
            // The store assigns the id; the message joins the ring here only
            // when the ring is right behind it, or else when the reader
            // brings it after the ones before it.
            let id = store.publish(name, &event, data, json)?;
            let mut log = lock(&self.log);
            if !log.closed && id == log.next_id {
                let message = Arc::new(Message {
                    id,
                    event,
                    data: Arc::from(data),
                    json,
                });
                log.push(message, self.window, self.max_bytes);
                drop(log);
                self.published.notify_all();
            }
            return Ok(id);
        }
        // Its id is the log's, given under the lock.
        let mut message = Arc::new(Message {
            id: 0,
            event,
            data: Arc::from(data),
            json,
        });
        let mut log = lock(&self.log);
        if log.closed {
            return Err(Error::Closed);
        }
        let id = log.next_id;
        // Ids are counted by publishes, one at a time: `u64::MAX` of them is
        // out of reach (584 years at a billion a second), so this cannot wrap.
        Arc::get_mut(&mut message)
            .expect("bug: a message is shared before it is published")
            .id = id;
        log.push(message, self.window, self.max_bytes);
        drop(log);
        self.published.notify_all();
        Ok(id)
    }

    /// Appends a message whose id the shared store assigned: the next one
    /// goes on the ring, an older one (already here) is dropped, and a later
    /// one means the ones between were trimmed from the store before this
    /// node read them, so the ring starts again at it (a reader behind gets
    /// the gap rule). Feature `redis`.
    #[cfg(feature = "redis")]
    fn receive(&self, message: Message) {
        let message = Arc::new(message);
        let mut log = lock(&self.log);
        if log.closed || message.id < log.next_id {
            return;
        }
        if message.id > log.next_id {
            log.ring.clear();
            log.bytes = 0;
        }
        log.push(message, self.window, self.max_bytes);
        drop(log);
        self.published.notify_all();
    }

    /// Replaces the ring with `window`, the store's retained messages (oldest
    /// first), after the channel's counter `seq`: when the channel is loaded,
    /// and when the store was found to have lost it (restarted empty).
    /// Returns the id to follow the store from. Readers whose cursor is now
    /// ahead get the gap rule. Feature `redis`.
    #[cfg(feature = "redis")]
    fn restart(&self, window: Vec<Message>, seq: u64) -> u64 {
        let window: Vec<Arc<Message>> = window.into_iter().map(Arc::new).collect();
        let mut log = lock(&self.log);
        log.generation += 1;
        log.ring.clear();
        log.bytes = 0;
        let last = window.last().map_or(seq, |m| m.id);
        for message in window {
            log.push(message, self.window, self.max_bytes);
        }
        log.next_id = last + 1;
        drop(log);
        self.published.notify_all();
        last
    }

    /// The batch after `cursor`, at once (see the module docs for the rules).
    pub fn read_after(&self, cursor: u64) -> Batch {
        lock(&self.log).batch_after(cursor)
    }

    /// The batch after `cursor`, waiting until it holds at least one message,
    /// the channel closes, or `deadline` passes (then the batch is empty).
    ///
    /// This is one `Condvar::wait_timeout_while`: the check and the sleep happen
    /// under the lock that `publish` appends under, so no message published
    /// before or during the call is missed.
    pub fn wait_after(&self, cursor: u64, deadline: Instant) -> Batch {
        self.wait(cursor, deadline, 1)
    }

    /// [`Channel::wait_after`], counted as `counted` waiters (the broadcaster
    /// waits for its subscribers, who are counted themselves).
    fn wait(&self, cursor: u64, deadline: Instant, counted: usize) -> Batch {
        let mut log = lock(&self.log);
        log.waiting += counted;
        let timeout = deadline.saturating_duration_since(Instant::now());
        let (mut log, _timed_out) = self
            .published
            .wait_timeout_while(log, timeout, |log| !log.closed && log.is_caught_up(cursor))
            .unwrap_or_else(PoisonError::into_inner);
        log.waiting -= counted;
        log.batch_after(cursor)
    }

    /// How many readers wait for the channel's next message right now: those
    /// in [`Channel::wait_after`] (long-polls), and the live subscribers of its
    /// broadcast (streams, WebSockets).
    pub fn waiters(&self) -> usize {
        let waiting = lock(&self.log).waiting;
        waiting + self.broadcast.live()
    }

    /// The id of the newest message, 0 if none was published: the cursor of a
    /// reader that wants only what comes next.
    pub fn last_id(&self) -> u64 {
        lock(&self.log).last_id()
    }

    /// True once the channel is closed.
    pub fn is_closed(&self) -> bool {
        lock(&self.log).closed
    }

    /// Marks the channel closed and wakes every waiter.
    pub fn close(&self) {
        lock(&self.log).closed = true;
        self.published.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;
    use std::time::Duration;

    fn hub(window: usize) -> Hub {
        Hub::new(HubConfig {
            window,
            ..HubConfig::default()
        })
    }

    fn ids(batch: &Batch) -> Vec<u64> {
        batch.messages.iter().map(|m| m.id).collect()
    }

    #[test]
    fn names_follow_the_contract() {
        assert!(valid_channel_name("a"));
        assert!(valid_channel_name("Room_42-b"));
        assert!(valid_channel_name(&"x".repeat(64)));
        assert!(!valid_channel_name(""));
        assert!(!valid_channel_name(&"x".repeat(65)));
        assert!(!valid_channel_name("a.b"));
        assert!(!valid_channel_name("a%2Fb"));
        assert!(!valid_channel_name("é"));
        assert!(valid_event_name("price.update"));
        assert!(!valid_event_name("two words"));
        assert!(!valid_event_name("line\nbreak"));
        assert!(!valid_event_name(""));
        let hub = hub(8);
        assert_eq!(hub.channel("a/b").unwrap_err(), Error::BadChannelName);
        let ch = hub.channel("ok").unwrap();
        assert_eq!(ch.publish("bad name", "x"), Err(Error::BadEventName));
    }

    #[test]
    fn ids_start_at_one_without_holes() {
        let hub = hub(8);
        let ch = hub.channel("c").unwrap();
        for expected in 1..=20 {
            assert_eq!(ch.publish("message", "x").unwrap(), expected);
        }
        assert_eq!(ch.last_id(), 20);
    }

    #[test]
    fn read_after_returns_messages_after_the_cursor() {
        let hub = hub(8);
        let ch = hub.channel("c").unwrap();
        let empty = ch.read_after(0);
        assert_eq!((empty.messages.len(), empty.next, empty.gap), (0, 0, false));
        for text in ["a", "b", "c"] {
            ch.publish("message", text).unwrap();
        }
        let all = ch.read_after(0);
        assert_eq!(ids(&all), [1, 2, 3]);
        assert_eq!((all.next, all.gap, all.oldest), (3, false, 1));
        let rest = ch.read_after(2);
        assert_eq!(ids(&rest), [3]);
        assert_eq!(&*rest.messages[0].data, "c");
        let none = ch.read_after(3);
        assert_eq!((ids(&none), none.next, none.gap), (vec![], 3, false));
    }

    #[test]
    fn evicted_cursor_gets_the_window_and_a_gap() {
        let hub = hub(4);
        let ch = hub.channel("c").unwrap();
        for _ in 0..10 {
            ch.publish("message", "x").unwrap();
        }
        // Retained: 7..=10. Cursor 6 still continues without a gap.
        let ok = ch.read_after(6);
        assert_eq!((ids(&ok), ok.gap), (vec![7, 8, 9, 10], false));
        let gap = ch.read_after(5);
        assert_eq!(
            (ids(&gap), gap.gap, gap.oldest, gap.next),
            (vec![7, 8, 9, 10], true, 7, 10)
        );
        let from_zero = ch.read_after(0);
        assert!(from_zero.gap);
    }

    #[test]
    fn cursor_ahead_of_the_channel_is_a_gap() {
        let hub = hub(4);
        let ch = hub.channel("c").unwrap();
        let fresh = ch.read_after(9);
        assert_eq!((ids(&fresh), fresh.gap, fresh.next), (vec![], true, 0));
        ch.publish("message", "x").unwrap();
        let batch = ch.read_after(9);
        assert_eq!((ids(&batch), batch.gap, batch.next), (vec![1], true, 1));
        // And waiting with such a cursor does not sleep.
        let start = Instant::now();
        let waited = ch.wait_after(9, start + Duration::from_secs(30));
        assert!(waited.gap);
        assert!(start.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn the_largest_cursors_are_a_gap_not_an_overflow() {
        let hub = hub(4);
        let ch = hub.channel("c").unwrap();
        for cursor in [u64::MAX, u64::MAX - 1] {
            let empty = ch.read_after(cursor);
            assert_eq!((ids(&empty), empty.gap, empty.oldest), (vec![], true, 1));
        }
        for i in 1..=6 {
            ch.publish("message", &i.to_string()).unwrap();
        }
        for cursor in [u64::MAX, u64::MAX - 1] {
            let batch = ch.read_after(cursor);
            assert_eq!(
                (ids(&batch), batch.gap, batch.next),
                (vec![3, 4, 5, 6], true, 6)
            );
            let waited = ch.wait_after(cursor, Instant::now() + Duration::from_secs(30));
            assert_eq!(ids(&waited), vec![3, 4, 5, 6]);
        }
        // The edges of the window are unchanged: 2 saw everything evicted, 6 all.
        let edge = ch.read_after(2);
        assert_eq!((ids(&edge), edge.gap), (vec![3, 4, 5, 6], false));
        let gap = ch.read_after(1);
        assert_eq!((ids(&gap), gap.gap), (vec![3, 4, 5, 6], true));
        assert_eq!(ch.read_after(6).messages, vec![]);
    }

    #[test]
    #[allow(clippy::needless_update)] // not needless with the `redis` feature
    fn byte_budget_evicts_but_keeps_the_newest() {
        let hub = Hub::new(HubConfig {
            window: 100,
            max_channel_bytes: 30,
            max_message_bytes: 100,
            max_channels: 4,
            ..HubConfig::default()
        });
        let ch = hub.channel("c").unwrap();
        ch.publish("e", "123456789").unwrap(); // 10 bytes
        ch.publish("e", "123456789").unwrap(); // 20
        ch.publish("e", "123456789").unwrap(); // 30
        assert_eq!(ids(&ch.read_after(0)), [1, 2, 3]);
        ch.publish("e", "123456789").unwrap(); // 40 > 30: evict id 1
        assert_eq!(ids(&ch.read_after(0)), [2, 3, 4]);
        ch.publish("e", &"x".repeat(99)).unwrap(); // alone over budget, still kept
        assert_eq!(ids(&ch.read_after(0)), [5]);
    }

    #[test]
    fn limits_are_enforced() {
        let hub = Hub::new(HubConfig {
            max_message_bytes: 5,
            max_channels: 2,
            ..HubConfig::default()
        });
        let ch = hub.channel("a").unwrap();
        assert_eq!(ch.publish("message", "12345").unwrap(), 1);
        assert_eq!(ch.publish("message", "123456"), Err(Error::MessageTooLarge));
        assert_eq!(ch.publish("message", "").unwrap(), 2);
        let b = hub.channel("b").unwrap();
        assert_eq!(hub.channel("c").unwrap_err(), Error::TooManyChannels);
        // Existing channels are still returned at the limit.
        assert!(Arc::ptr_eq(&hub.channel("a").unwrap(), &ch));
        assert_eq!(hub.channel_count(), 2);
        // Once nobody holds "b" (never published to), it makes room.
        drop(b);
        let _c = hub.channel("c").unwrap();
        assert!(hub.find("b").is_none());
        // "a" has messages: it is never evicted, even unheld.
        drop(ch);
        assert_eq!(hub.channel("d").unwrap_err(), Error::TooManyChannels);
        assert!(hub.find("a").is_some());
    }

    #[test]
    fn wait_after_wakes_on_publish() {
        let hub = Arc::new(hub(8));
        let ch = hub.channel("c").unwrap();
        let waiter = {
            let ch = Arc::clone(&ch);
            thread::spawn(move || ch.wait_after(0, Instant::now() + Duration::from_secs(30)))
        };
        while ch.waiters() == 0 {
            thread::sleep(Duration::from_millis(1));
        }
        ch.publish("message", "hello").unwrap();
        let batch = waiter.join().unwrap();
        assert_eq!(ids(&batch), [1]);
        assert_eq!(batch.next, 1);
        assert_eq!(ch.waiters(), 0);
    }

    #[test]
    fn wait_after_returns_at_once_when_behind() {
        let hub = hub(8);
        let ch = hub.channel("c").unwrap();
        ch.publish("message", "early").unwrap();
        let start = Instant::now();
        let batch = ch.wait_after(0, start + Duration::from_secs(30));
        assert_eq!(ids(&batch), [1]);
        assert!(start.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn wait_after_times_out_empty() {
        let hub = hub(8);
        let ch = hub.channel("c").unwrap();
        let start = Instant::now();
        let batch = ch.wait_after(0, start + Duration::from_millis(50));
        assert!(batch.messages.is_empty());
        assert!(!batch.closed);
        assert!(start.elapsed() >= Duration::from_millis(50));
    }

    #[test]
    fn close_wakes_waiters_and_refuses_more() {
        let hub = Arc::new(hub(8));
        let ch = hub.channel("c").unwrap();
        let waiter = {
            let ch = Arc::clone(&ch);
            thread::spawn(move || ch.wait_after(0, Instant::now() + Duration::from_secs(60)))
        };
        thread::sleep(Duration::from_millis(20));
        hub.close();
        let batch = waiter.join().unwrap();
        assert!(batch.closed);
        assert!(batch.messages.is_empty());
        assert_eq!(ch.publish("message", "late"), Err(Error::Closed));
        assert_eq!(hub.channel("new").unwrap_err(), Error::Closed);
        assert!(hub.is_closed());
    }

    #[test]
    fn concurrent_publishers_make_one_gapless_sequence() {
        const PUBLISHERS: usize = 4;
        const EACH: usize = 10_000;
        const TOTAL: u64 = (PUBLISHERS * EACH) as u64;
        let hub = Arc::new(hub(TOTAL as usize));
        let ch = hub.channel("c").unwrap();

        let readers: Vec<_> = (0..3)
            .map(|_| {
                let ch = Arc::clone(&ch);
                thread::spawn(move || {
                    let mut cursor = 0;
                    let deadline = Instant::now() + Duration::from_secs(60);
                    while cursor < TOTAL && Instant::now() < deadline {
                        let batch = ch.wait_after(cursor, deadline);
                        assert!(
                            !batch.gap,
                            "a reader fell out of a window that holds everything"
                        );
                        for m in &batch.messages {
                            assert_eq!(m.id, cursor + 1, "ids must arrive in order without holes");
                            cursor = m.id;
                        }
                    }
                    cursor
                })
            })
            .collect();

        let publishers: Vec<_> = (0..PUBLISHERS)
            .map(|p| {
                let ch = Arc::clone(&ch);
                thread::spawn(move || {
                    let mut mine = Vec::with_capacity(EACH);
                    for i in 0..EACH {
                        mine.push(ch.publish("message", &format!("{p}:{i}")).unwrap());
                    }
                    mine
                })
            })
            .collect();

        let mut all: Vec<u64> = publishers
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        all.sort_unstable();
        assert_eq!(all, (1..=TOTAL).collect::<Vec<_>>());
        for reader in readers {
            assert_eq!(reader.join().unwrap(), TOTAL);
        }
        // Each publisher's own messages are in its publishing order.
        let batch = ch.read_after(0);
        for p in 0..PUBLISHERS {
            let prefix = format!("{p}:");
            let seq: Vec<usize> = batch
                .messages
                .iter()
                .filter_map(|m| m.data.strip_prefix(&prefix).map(|n| n.parse().unwrap()))
                .collect();
            assert_eq!(seq, (0..EACH).collect::<Vec<_>>());
        }
    }
}
