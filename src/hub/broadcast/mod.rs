//! Broadcast: one thread writes a channel's messages to every subscriber that
//! has caught up, encoded once per wire format.
//!
//! # Why
//!
//! The first design had every streaming subscriber's thread wait on the
//! channel's `Condvar`: one publish woke 5,000 threads, each took the lock,
//! copied the batch, encoded the same message in its wire format and wrote it.
//! Profiled at 5,000 SSE subscribers (`perf`, README "Performance"), 40% of the
//! server's time went to waking and re-sleeping those threads, 8% to
//! allocation, and only 37% to the writes themselves; fan-out to the last
//! subscriber took 3–5 times Nchan's. Here one broadcaster per channel waits
//! instead, encodes each message once per [`Format`], and writes the shared
//! bytes to each caught-up subscriber's socket in turn.
//!
//! The subscriber's own thread does what only it can do: it reads its socket,
//! so it sees at once that its peer left (a WebSocket's reader also gets the
//! client's frames), and it leaves the broadcast when it does.
//!
//! # The cursor protocol
//!
//! The ring is still the only backlog and the cursor still the only state; the
//! broadcast adds one cursor of its own, `delivered`: every *live* subscriber
//! has seen everything up to it.
//!
//! 1. **Catch up.** A new subscription writes what it is owed from the ring
//!    itself (a replay after `since`, a gap), with blocking writes.
//! 2. **Join.** Once the ring has nothing more after its cursor, it joins
//!    under the broadcast's lock — if its cursor is not behind `delivered`;
//!    otherwise the broadcaster delivered something meanwhile, and it catches
//!    up again. The first subscriber starts the broadcaster at its own cursor.
//! 3. **Pass.** The broadcaster waits on the channel after `delivered`, then,
//!    under the lock, writes to each live subscriber what comes after *its*
//!    cursor (normally the same bytes for all: encoded once per format and
//!    cursor), and moves `delivered` to the batch's `next`.
//! 4. **Fall behind.** The broadcaster's write to a subscriber is bounded
//!    ([`Sink::write_now`] blocks a few milliseconds at most). A subscriber
//!    whose socket does not take the whole delivery leaves the live set with
//!    the unwritten rest; a helper thread writes that rest with the ordinary
//!    write timeout, catches up from the ring by cursor (with the gap rule, if
//!    it fell out of the window) and joins again (step 2). So a stalled client
//!    costs the others one short write, once.
//! 5. **Leave.** When the subscription's own thread ends (its peer left), the
//!    [`Subscription`] is dropped and removed. The broadcaster ends when no
//!    subscriber is left, and a later subscriber starts another.
//! 6. **Close.** When the channel closes (server shutdown), the broadcaster
//!    writes what is left and ends every subscription the transport's way
//!    ([`Sink::end`]): the last chunk of a stream, a WebSocket's close 1001.
//!
//! A message is written to a subscriber once, in id order, without a hole: it
//! goes out either in a catch-up (ids after the subscriber's cursor, from the
//! ring) or in a pass (ids after `delivered`, which the subscriber's cursor
//! equals or passes), and the cursor moves past what was written, under the
//! subscriber's own lock, before anything else is written to it.

mod subscriber;

pub use subscriber::{End, Format, Item, Sink, Spawn};

use super::{Batch, Channel};
use crate::sync::lock;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long [`Sink::write_now`] may block, at most: the broadcaster's bound for
/// one subscriber. A socket timeout this short is rounded up by Linux to one
/// scheduler tick (1–4 ms).
pub const WRITE_NOW_TIMEOUT: Duration = Duration::from_millis(2);

/// How many subscribers each writer of a pass has at least: below twice this,
/// the broadcaster writes alone (see `Pass::deliver_in_parallel`).
const SPLIT_FROM: usize = 1_000;

/// How many subscribers a writer takes at a time from a pass's list: enough
/// that taking them is nothing beside their writes (a `send` each), few enough
/// that the writers finish within a few of them of each other.
const TURN: usize = 64;

/// How long the broadcaster sleeps at most when nothing happens, before it
/// looks whether any subscriber is left (and ends if none is).
const IDLE_WAKE: Duration = Duration::from_secs(1);

/// A channel's broadcast: its live subscribers and how far it delivered.
#[derive(Debug, Default)]
pub(super) struct Broadcast {
    registry: Mutex<Registry>,
}

impl Broadcast {
    /// How many subscribers are live (caught up, written to by the
    /// broadcaster).
    pub(super) fn live(&self) -> usize {
        let registry = lock(&self.registry);
        registry
            .subscribers
            .iter()
            .filter(|s| lock(&s.state).mode == Mode::Live)
            .count()
    }
}

#[derive(Debug, Default)]
struct Registry {
    /// Every subscription of the channel, live or catching up.
    subscribers: Vec<Arc<Subscriber>>,
    /// Every live subscriber has seen every id up to this one.
    delivered: u64,
    /// The channel's [`Batch::generation`] that `delivered` counts in.
    generation: u64,
    /// Whether a broadcaster thread is running for the channel.
    running: bool,
}

struct Subscriber {
    sink: Arc<dyn Sink>,
    format: Format,
    heartbeat: Option<Duration>,
    spawn: Spawn,
    state: Mutex<State>,
    /// Held by a catch-up for each of its writes, so that leaving waits for
    /// the one under way and nothing of it lands after the subscription's own
    /// last bytes (the end of a stream, a close frame).
    catching_up: Mutex<()>,
}

impl fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscriber")
            .field("format", &self.format)
            .finish()
    }
}

#[derive(Debug)]
struct State {
    /// The last id written to this subscriber.
    cursor: u64,
    mode: Mode,
    last_write: Instant,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Writing from the ring itself; the broadcaster passes it by.
    CatchingUp,
    /// Caught up: the broadcaster writes to it.
    Live,
    /// Over; the broadcaster passes it by until it leaves.
    Ended(End),
}

/// A subscriber's place in a channel's broadcast. Dropping it leaves.
pub struct Subscription {
    channel: Arc<Channel>,
    subscriber: Arc<Subscriber>,
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("ended", &self.ended())
            .finish()
    }
}

impl Subscription {
    /// Why the subscription ended from the server's side, if it did: the
    /// subscription's own thread asks when its read was interrupted.
    pub fn ended(&self) -> Option<End> {
        match lock(&self.subscriber.state).mode {
            Mode::Ended(why) => Some(why),
            Mode::Live | Mode::CatchingUp => None,
        }
    }

    /// The last id written to the subscriber.
    pub fn cursor(&self) -> u64 {
        lock(&self.subscriber.state).cursor
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        {
            let mut registry = lock(&self.channel.broadcast.registry);
            registry
                .subscribers
                .retain(|s| !Arc::ptr_eq(s, &self.subscriber));
            lock(&self.subscriber.state).mode = Mode::Ended(End::Failed);
        }
        // A catch-up's write under way finishes first; it writes no more.
        drop(lock(&self.subscriber.catching_up));
    }
}

impl Channel {
    /// Subscribes a connection to this channel's broadcast, after `cursor`:
    /// writes what it is owed from the ring first (on this thread, through
    /// `sink`), then joins the live subscribers, to whom the broadcaster
    /// writes each message in `format`, and a heartbeat after `heartbeat` of
    /// silence if it is given. See the module docs for the protocol.
    ///
    /// The subscription's own thread should then read its connection until
    /// the peer leaves or [`Sink::end`] interrupts it, and drop the
    /// subscription.
    ///
    /// # Errors
    ///
    /// The [`End`] that stopped it before it joined: the channel is closed or
    /// a write failed (`sink.end` was called with it), or the broadcaster
    /// could not be started ([`End::Busy`]: `spawn` refused at the server's
    /// thread limit).
    pub fn subscribe(
        self: &Arc<Channel>,
        cursor: u64,
        format: Format,
        sink: Arc<dyn Sink>,
        heartbeat: Option<Duration>,
        spawn: Spawn,
    ) -> Result<Subscription, End> {
        let subscriber = Arc::new(Subscriber {
            sink,
            format,
            heartbeat,
            spawn,
            state: Mutex::new(State {
                cursor,
                mode: Mode::CatchingUp,
                last_write: Instant::now(),
            }),
            catching_up: Mutex::new(()),
        });
        let subscription = Subscription {
            channel: Arc::clone(self),
            subscriber: Arc::clone(&subscriber),
        };
        catch_up(self, &subscriber, Vec::new())?;
        Ok(subscription)
    }
}

/// Steps 1 and 2 of the protocol: writes `pending` and whatever the ring holds
/// after the subscriber's cursor, then joins the live subscribers. On failure
/// the subscriber is ended and its sink told.
fn catch_up(
    channel: &Arc<Channel>,
    subscriber: &Arc<Subscriber>,
    pending: Vec<u8>,
) -> Result<(), End> {
    let fail = |why: End| {
        lock(&subscriber.state).mode = Mode::Ended(why);
        subscriber.sink.end(why);
        Err(why)
    };
    // One write of the catch-up, unless the subscription ended meanwhile
    // (then its own thread has the connection: leave it alone).
    let write = |bytes: &[u8]| -> Result<(), Option<End>> {
        let _writing = lock(&subscriber.catching_up);
        if let Mode::Ended(why) = lock(&subscriber.state).mode {
            return Err(Some(why));
        }
        subscriber.sink.write_all(bytes).map_err(|_| None)
    };
    match write(&pending) {
        Ok(()) => {}
        Err(None) => return fail(End::Failed),
        Err(Some(why)) => return Err(why),
    }
    loop {
        let cursor = lock(&subscriber.state).cursor;
        let batch = channel.read_after(cursor);
        let bytes = subscriber.format.encode(&batch, cursor, cursor);
        if !bytes.is_empty() {
            match write(&bytes) {
                Ok(()) => {}
                Err(None) => return fail(End::Failed),
                Err(Some(why)) => return Err(why),
            }
            let mut state = lock(&subscriber.state);
            state.cursor = batch.next;
            state.last_write = Instant::now();
            continue;
        }
        if batch.closed {
            return fail(End::Closed);
        }
        let mut registry = lock(&channel.broadcast.registry);
        if let Mode::Ended(why) = lock(&subscriber.state).mode {
            // Left while a helper caught it up: it must not join again.
            return Err(why);
        }
        if registry.running
            && (cursor < registry.delivered || batch.generation != registry.generation)
        {
            // The broadcaster delivered more meanwhile (read it), or has not
            // yet passed over a ring that was replaced (wait for that).
            drop(registry);
            std::thread::yield_now();
            continue;
        }
        if !registry.running {
            // A broadcaster runs while any subscriber is registered (or until
            // the channel closes), so this is the first: it starts the
            // broadcaster at its own cursor.
            let broadcaster = Arc::clone(channel);
            if (subscriber.spawn)(Box::new(move || broadcast(&broadcaster))).is_err() {
                lock(&subscriber.state).mode = Mode::Ended(End::Busy);
                return Err(End::Busy);
            }
            registry.running = true;
            registry.delivered = cursor;
            registry.generation = batch.generation;
        }
        if !registry
            .subscribers
            .iter()
            .any(|s| Arc::ptr_eq(s, subscriber))
        {
            registry.subscribers.push(Arc::clone(subscriber));
        }
        let mut state = lock(&subscriber.state);
        if state.mode == Mode::CatchingUp {
            state.mode = Mode::Live;
        }
        return Ok(());
    }
}

/// The broadcaster of one channel (steps 3, 4 and 6 of the protocol); runs
/// while the channel has subscribers.
fn broadcast(channel: &Arc<Channel>) {
    let mut wake_at = Instant::now() + IDLE_WAKE;
    loop {
        let delivered = {
            let mut registry = lock(&channel.broadcast.registry);
            if registry.subscribers.is_empty() {
                registry.running = false;
                return;
            }
            registry.delivered
        };
        let batch = channel.wait(delivered, wake_at, 0);
        let mut registry = lock(&channel.broadcast.registry);
        let now = Instant::now();
        // The ring was replaced (its shared store restarted empty; feature
        // `redis`): every live subscriber is ahead of it, or on another run.
        let restarted = batch.generation != registry.generation || batch.next < delivered;
        let pass = Pass {
            channel,
            batch: &batch,
            delivered,
            restarted,
            now,
        };
        wake_at = pass.deliver_in_parallel(&registry.subscribers);
        registry.generation = batch.generation;
        registry.delivered = if restarted {
            batch.next
        } else {
            registry.delivered.max(batch.next)
        };
        if batch.closed {
            for subscriber in &registry.subscribers {
                let mut state = lock(&subscriber.state);
                if state.mode == Mode::Live {
                    state.mode = Mode::Ended(End::Closed);
                    drop(state);
                    subscriber.sink.end(End::Closed);
                }
            }
            registry.running = false;
            return;
        }
    }
}

/// One pass of a broadcaster: the batch it delivers, taken after `delivered`.
struct Pass<'a> {
    channel: &'a Arc<Channel>,
    batch: &'a Batch,
    delivered: u64,
    /// The channel's ring was replaced since `delivered`: its shared store
    /// restarted empty and ids began again (feature `redis`). Every live
    /// subscriber then gets the gap rule: the gap, the whole window, and its
    /// cursor set to the batch's.
    restarted: bool,
    now: Instant,
}

impl Pass<'_> {
    /// The pass over every subscriber, shared among up to one writer thread
    /// per processor when there are many: the writes are the work (a `send`
    /// each, which on loopback also runs the client's side of TCP), and one
    /// thread leaves the other cores idle. Measured in the shared harness on
    /// 2 cores, 9,000 WebSocket subscribers: fan-out p50 141 ms with one
    /// writer, 95 ms with two.
    ///
    /// The writers take the subscribers [`TURN`] at a time from one list
    /// rather than a half each: timed inside the broadcaster at 9,000
    /// WebSocket subscribers, the writer started for the pass took 57–77 ms
    /// over its half where the broadcaster took 26–50 over its own, and waited
    /// idle for the slower one a fifth of the pass. The extra writers live
    /// for one pass; if one cannot be started, the others write its share.
    /// Returns when the broadcaster should wake next at the latest.
    fn deliver_in_parallel(&self, subscribers: &[Arc<Subscriber>]) -> Instant {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let writers = cores.min(subscribers.len() / SPLIT_FROM).max(1);
        let turns = Turns::new(subscribers);
        if writers == 1 {
            return self.deliver(&turns);
        }
        std::thread::scope(|scope| {
            let turns = &turns;
            let others: Vec<_> = (1..writers)
                .filter_map(|_| {
                    std::thread::Builder::new()
                        .name("rtw-writer".into())
                        .spawn_scoped(scope, move || self.deliver(turns))
                        .ok()
                })
                .collect();
            let mut wake_at = self.deliver(turns);
            for writer in others {
                wake_at = wake_at.min(writer.join().unwrap_or(wake_at));
            }
            wake_at
        })
    }

    /// This thread's share of the pass: takes subscribers from `turns` until
    /// none is left, and writes to each live one what the batch owes it, or a
    /// heartbeat when one is due.
    fn deliver(&self, turns: &Turns<'_, Arc<Subscriber>>) -> Instant {
        let Pass {
            channel,
            batch,
            delivered,
            restarted,
            now,
        } = *self;
        let mut wake_at = now + IDLE_WAKE;
        // The bytes of this pass, encoded once per (cursor, format).
        let mut encoded: Vec<(u64, Format, Arc<[u8]>)> = Vec::new();
        let mut heartbeats: Vec<(Format, Arc<[u8]>)> = Vec::new();
        while let Some(subscribers) = turns.take() {
            for subscriber in subscribers {
                let mut state = lock(&subscriber.state);
                if state.mode != Mode::Live {
                    continue;
                }
                // After a restart every live subscriber is where `delivered`
                // was, ahead of the ring: encoded at the batch's own cursor, the
                // batch is the gap and the whole window.
                let cursor = if restarted { delivered } else { state.cursor };
                let bytes = if cursor < batch.next || batch.gap {
                    bytes_for(&mut encoded, &subscriber.format, batch, delivered, cursor)
                } else {
                    None
                };
                let due = subscriber.heartbeat.map(|every| state.last_write + every);
                let bytes = match bytes {
                    Some(bytes) => bytes,
                    None if due.is_some_and(|due| due <= now) => {
                        heartbeat_for(&mut heartbeats, &subscriber.format)
                    }
                    None => {
                        if let Some(due) = due {
                            wake_at = wake_at.min(due);
                        }
                        continue;
                    }
                };
                state.cursor = if restarted {
                    batch.next
                } else {
                    state.cursor.max(batch.next)
                };
                if bytes.is_empty() {
                    continue;
                }
                state.last_write = now;
                if let Some(every) = subscriber.heartbeat {
                    wake_at = wake_at.min(now + every);
                }
                match subscriber.sink.write_now(&bytes) {
                    Ok(written) if written == bytes.len() => {}
                    Ok(written) => {
                        // Step 4: the rest goes with the subscriber's catch-up.
                        state.mode = Mode::CatchingUp;
                        drop(state);
                        fall_behind(channel, subscriber, bytes[written..].to_vec());
                    }
                    Err(_) => {
                        state.mode = Mode::Ended(End::Failed);
                        drop(state);
                        subscriber.sink.end(End::Failed);
                    }
                }
            }
        }
        wake_at
    }
}

/// A pass's subscribers, handed out [`TURN`] at a time to whichever writer
/// asks next.
struct Turns<'a, T> {
    items: &'a [T],
    /// Where the next turn starts.
    next: AtomicUsize,
}

impl<'a, T> Turns<'a, T> {
    fn new(items: &'a [T]) -> Self {
        Turns {
            items,
            next: AtomicUsize::new(0),
        }
    }

    /// The next [`TURN`] items (fewer at the end), or `None` when every one
    /// was taken.
    fn take(&self) -> Option<&'a [T]> {
        // Only which writer gets which turn depends on this count, and each
        // value is handed out once: no other memory is ordered by it.
        let start = self.next.fetch_add(TURN, Ordering::Relaxed);
        let end = self.items.len().min(start.checked_add(TURN)?);
        self.items.get(start..end).filter(|turn| !turn.is_empty())
    }
}

/// Hands a subscriber whose socket did not take a whole delivery to a helper
/// thread, which writes the rest and catches up (step 4).
fn fall_behind(channel: &Arc<Channel>, subscriber: &Arc<Subscriber>, rest: Vec<u8>) {
    let (channel, helper_subscriber) = (Arc::clone(channel), Arc::clone(subscriber));
    let started = (subscriber.spawn)(Box::new(move || {
        let _ = catch_up(&channel, &helper_subscriber, rest);
    }));
    if started.is_err() {
        lock(&subscriber.state).mode = Mode::Ended(End::Failed);
        subscriber.sink.end(End::Failed);
    }
}

/// The pass's bytes for a subscriber at `cursor` in `format`, encoded the
/// first time they are asked for; `None` if it is owed nothing.
fn bytes_for(
    encoded: &mut Vec<(u64, Format, Arc<[u8]>)>,
    format: &Format,
    batch: &Batch,
    taken_at: u64,
    cursor: u64,
) -> Option<Arc<[u8]>> {
    let found = encoded
        .iter()
        .find(|(c, f, _)| *c == cursor && f.same_bytes(format))
        .map(|(_, _, bytes)| Arc::clone(bytes));
    let bytes = found.unwrap_or_else(|| {
        let bytes: Arc<[u8]> = format.encode(batch, taken_at, cursor).into();
        encoded.push((cursor, *format, Arc::clone(&bytes)));
        bytes
    });
    (!bytes.is_empty()).then_some(bytes)
}

fn heartbeat_for(heartbeats: &mut Vec<(Format, Arc<[u8]>)>, format: &Format) -> Arc<[u8]> {
    if let Some((_, bytes)) = heartbeats.iter().find(|(f, _)| f.same_bytes(format)) {
        return Arc::clone(bytes);
    }
    let bytes: Arc<[u8]> = format.heartbeat().into();
    heartbeats.push((*format, Arc::clone(&bytes)));
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writers taking turns from one list get every item once between them,
    /// however their takes interleave, and the last turn may be short.
    #[test]
    fn turns_hand_out_every_item_once() {
        let items: Vec<usize> = (0..10 * TURN + 7).collect();
        let turns = Turns::new(&items);
        let mut taken: Vec<usize> = std::thread::scope(|scope| {
            let writers: Vec<_> = (0..3)
                .map(|_| {
                    scope.spawn(|| {
                        let mut mine = Vec::new();
                        while let Some(turn) = turns.take() {
                            assert!(!turn.is_empty() && turn.len() <= TURN);
                            mine.extend_from_slice(turn);
                        }
                        mine
                    })
                })
                .collect();
            writers
                .into_iter()
                .flat_map(|writer| writer.join().unwrap())
                .collect()
        });
        taken.sort_unstable();
        assert_eq!(taken, items);
        assert!(turns.take().is_none(), "nothing after the end");
        assert!(Turns::<u8>::new(&[]).take().is_none());
    }
}
