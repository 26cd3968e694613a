//! Channels shared by every node through Redis (feature `redis`): one id
//! sequence and one retained window per channel, whichever node publishes,
//! and every node's subscribers fed from them.
//!
//! # Keys and commands
//!
//! Per channel `ch`, on the Redis server its name hashes to:
//!
//! - `rtw:{ch}:seq`, a counter: the channel's last id;
//! - `rtw:{ch}:log`, a stream: one entry per message, whose entry id is
//!   `<message id>-0` and whose fields are `e` (event), `d` (data) and `j`
//!   (`1` for a JSON message), trimmed to the hub's window.
//!
//! Publishing is one `EVAL` of a script that `INCR`s the counter and `XADD`s
//! the entry under the id it returned, so ids are assigned and appended in
//! one step on the server: `1, 2, 3, …` without holes, whichever node
//! publishes, and the stream holds them in id order. (`{ch}` is a hash tag:
//! both keys are in one slot, as a script's keys must be in a cluster.)
//!
//! Each node keeps its local channels as before — a ring, a `Condvar`, a
//! broadcaster — as a cache of the stream. A channel is loaded when it is
//! first used (`XRANGE`), and then one reader thread per Redis server
//! follows every channel the node holds with one blocking `XREAD … BLOCK`
//! over all their streams, and appends what it reads to the local rings
//! ([`Channel::receive`]). So a node has two connections per Redis server
//! (commands, and the reader), not one per subscriber, and each message
//! crosses from Redis to a node once, however many subscribers it has there.
//! A node's own publish also appends its message locally at once when the
//! ring is right behind it, so a publisher reads its own write.
//!
//! # Failures
//!
//! - **Unreachable at start**: [`Hub::connect`](super::Hub::connect) fails
//!   with the address; the binary says so and exits 1.
//! - **Lost while running**: publishing and loading a new channel fail
//!   ([`Error::Unavailable`], `503`); what is open stays open (streams and
//!   WebSockets keep their heartbeats, long-polls time out as usual). The
//!   reader reconnects with backoff, says so once on stderr each way, and
//!   then reads on from the last id it had: what was published meanwhile
//!   arrives, once.
//! - **Restarted empty**: the counter starts again at 1. On reconnecting, the
//!   reader compares each channel's counter with its local last id; when
//!   Redis is behind, the local ring is replaced by Redis's window, and
//!   clients whose cursors are now ahead get the gap rule (the whole window,
//!   `gap: true`), as after the restart of a single node.
//!
//! # Several Redis servers
//!
//! With more than one URL, a channel lives on the server its name hashes to
//! (FNV-1a, stable across nodes and runs), so every node finds it there.

use super::{valid_event_name, Channel, Error, Message};
use crate::codec::json;
use crate::codec::resp::Reply;
use crate::redis::{Connection, Url};
use crate::sync::lock;
use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// How long one Redis call may take before the connection is given up.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the reader's `XREAD` blocks when nothing comes.
const READ_BLOCK: Duration = Duration::from_millis(1000);
/// The first and the longest wait before connecting again.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(2));
/// The most entries one `XREAD` returns per stream.
const READ_COUNT: &[u8] = b"512";

/// Assigns the next id and appends the entry, in one step on the server.
const PUBLISH_SCRIPT: &[u8] = b"local id = redis.call('INCR', KEYS[1]) \
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[1], id .. '-0', 'e', ARGV[2], 'd', ARGV[3], 'j', ARGV[4]) \
return id";

/// A hub's link to its Redis servers.
#[derive(Debug)]
pub(super) struct Store {
    links: Vec<Arc<Link>>,
    window: usize,
    /// Entries over this (from a node with other limits, or written by
    /// something else) are skipped, not trusted.
    max_message_bytes: usize,
}

/// One Redis server: a connection for commands, and the channels its
/// reader follows.
#[derive(Debug)]
struct Link {
    url: Url,
    commands: Mutex<Commands>,
    followed: Mutex<HashMap<String, Followed>>,
    /// Where the reader is told to look again at `followed` (its own stream,
    /// which `XREAD` watches beside the channels').
    wake_key: String,
    closed: AtomicBool,
}

#[derive(Debug, Default)]
struct Commands {
    connection: Option<Connection>,
    /// No connection is tried before this, after a failure.
    retry_at: Option<Instant>,
    backoff: Option<Duration>,
}

#[derive(Debug)]
struct Followed {
    channel: Weak<Channel>,
    /// The last id read for it.
    last: u64,
}

impl Store {
    /// Links to `urls`, and starts each one's reader. With `check`, each
    /// server must answer now.
    pub(super) fn open(
        urls: &[Url],
        window: usize,
        max_message_bytes: usize,
        check: bool,
    ) -> io::Result<Store> {
        let node = node_id();
        let mut store = Store {
            links: Vec::new(),
            window,
            max_message_bytes,
        };
        for (i, url) in urls.iter().enumerate() {
            let link = Arc::new(Link {
                url: url.clone(),
                commands: Mutex::new(Commands::default()),
                followed: Mutex::new(HashMap::new()),
                wake_key: format!("rtw:wake:{node}:{i}"),
                closed: AtomicBool::new(false),
            });
            // Kept first: if a later step fails, dropping `store` stops the
            // readers already started.
            store.links.push(Arc::clone(&link));
            if check {
                let connection = Connection::open(url, CALL_TIMEOUT).map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("cannot reach Redis at {}: {e}", url.address),
                    )
                })?;
                lock(&link.commands).connection = Some(connection);
            }
            std::thread::Builder::new()
                .name("rtw-redis-reader".into())
                .spawn(move || link.read_loop(max_message_bytes))?;
        }
        Ok(store)
    }

    fn link(&self, name: &str) -> &Arc<Link> {
        // FNV-1a: stable across nodes and runs, unlike std's hasher.
        let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        &self.links[(hash % self.links.len() as u64) as usize]
    }

    /// The channel's retained window and its counter, to load a new local
    /// channel with ([`Channel::restart`]).
    ///
    /// # Errors
    ///
    /// [`Error::Unavailable`] when Redis does not answer.
    pub(super) fn fetch(&self, name: &str) -> Result<(Vec<Message>, u64), Error> {
        let link = self.link(name);
        let seq = link.seq(name)?;
        Ok((link.window(name, self.max_message_bytes)?, seq))
    }

    /// Has the reader follow `channel` after `last`, and tells it so (without
    /// waiting on the network: the reader's next `XREAD`, at most one block
    /// later, includes it anyway).
    pub(super) fn follow(&self, name: &str, channel: &Arc<Channel>, last: u64) {
        let link = self.link(name);
        lock(&link.followed).insert(
            name.to_owned(),
            Followed {
                channel: Arc::downgrade(channel),
                last,
            },
        );
        link.wake_if_connected();
    }

    /// Publishes on the server; returns the id it got.
    ///
    /// # Errors
    ///
    /// [`Error::Unavailable`] when Redis does not answer.
    pub(super) fn publish(
        &self,
        name: &str,
        event: &str,
        data: &str,
        json: bool,
    ) -> Result<u64, Error> {
        let window = self.window.to_string();
        let (seq, log) = keys(name);
        let json = if json { &b"1"[..] } else { b"0" };
        let reply = self.link(name).call(&[
            b"EVAL",
            PUBLISH_SCRIPT,
            b"2",
            seq.as_bytes(),
            log.as_bytes(),
            window.as_bytes(),
            event.as_bytes(),
            data.as_bytes(),
            json,
        ])?;
        match reply {
            Reply::Integer(id) if id > 0 => Ok(id as u64),
            _ => Err(Error::Unavailable),
        }
    }

    /// Stops the readers (within one `XREAD` block), without waiting on the
    /// network.
    pub(super) fn close(&self) {
        for link in &self.links {
            link.closed.store(true, Ordering::SeqCst);
            link.wake_if_connected();
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.close();
    }
}

/// The keys of channel `name`: its counter and its stream.
fn keys(name: &str) -> (String, String) {
    (format!("rtw:{{{name}}}:seq"), format!("rtw:{{{name}}}:log"))
}

/// A name for this node's wake-up streams: unique across the nodes of one
/// Redis (a process id and the start time).
fn node_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}-{nanos:x}", std::process::id())
}

impl Link {
    /// One command on the commands connection, opening it if need be (not
    /// before the backoff after a failure).
    fn call(&self, args: &[&[u8]]) -> Result<Reply, Error> {
        let mut commands = lock(&self.commands);
        if commands.connection.is_none() {
            if commands.retry_at.is_some_and(|at| Instant::now() < at) {
                return Err(Error::Unavailable);
            }
            match Connection::open(&self.url, CALL_TIMEOUT) {
                Ok(connection) => {
                    commands.connection = Some(connection);
                    commands.backoff = None;
                    commands.retry_at = None;
                }
                Err(_) => {
                    let backoff = next_backoff(commands.backoff);
                    commands.backoff = Some(backoff);
                    commands.retry_at = Some(Instant::now() + backoff);
                    return Err(Error::Unavailable);
                }
            }
        }
        let connection = commands.connection.as_mut().expect("opened above");
        match connection.call(args) {
            Ok(Reply::Error(_)) => Err(Error::Unavailable),
            Ok(reply) => Ok(reply),
            Err(_) => {
                // Spent: the next call reconnects, after the backoff, so
                // that a server that stopped answering (dropped packets, no
                // reset) costs each caller nothing instead of a timeout.
                let backoff = next_backoff(commands.backoff);
                *commands = Commands {
                    connection: None,
                    retry_at: Some(Instant::now() + backoff),
                    backoff: Some(backoff),
                };
                Err(Error::Unavailable)
            }
        }
    }

    /// The channel's counter: its last id (0 if it has none).
    fn seq(&self, name: &str) -> Result<u64, Error> {
        seq_reply(&self.call(&[b"GET", keys(name).0.as_bytes()])?)
    }

    /// The channel's retained messages, oldest first.
    fn window(&self, name: &str, max_bytes: usize) -> Result<Vec<Message>, Error> {
        let (_, log) = keys(name);
        let reply = self.call(&[b"XRANGE", log.as_bytes(), b"-", b"+"])?;
        Ok(entries(&reply, max_bytes))
    }

    /// Tells the reader to look at the followed channels again, if the
    /// commands connection is open and free: never waits on the network or
    /// a publish (the reader's next `XREAD`, at most one block later,
    /// includes every followed channel anyway).
    fn wake_if_connected(&self) {
        let Ok(mut commands) = self.commands.try_lock() else {
            return;
        };
        let Some(connection) = commands.connection.as_mut() else {
            return;
        };
        let woken = connection.call(&[
            b"XADD",
            self.wake_key.as_bytes(),
            b"MAXLEN",
            b"1",
            b"*",
            b"w",
            b"1",
        ]);
        if woken.is_err() {
            commands.connection = None;
        }
    }

    /// The reader: follows every channel of this server, until the hub
    /// closes. Any failure — the connection, a refusal, a reply it cannot
    /// use — drops the connection and waits before the next one, 100 ms
    /// doubling to 2 s, and is said once on stderr until a read succeeds.
    fn read_loop(&self, max_bytes: usize) {
        let mut connection: Option<Connection> = None;
        let mut backoff = None;
        let mut lost = false;
        // The server's run, once a resync against it succeeded.
        let mut run_id = None;
        while !self.closed.load(Ordering::SeqCst) {
            let result = match connection.as_mut() {
                Some(reader) => self.read_once(reader, max_bytes),
                None => self.reconnect(&mut run_id, max_bytes).map(|opened| {
                    connection = Some(opened);
                }),
            };
            match result {
                Ok(()) => {
                    backoff = None;
                    if lost && connection.is_some() {
                        eprintln!("realtime-web: Redis at {} is back", self.url.address);
                        lost = false;
                    }
                }
                Err(_) => {
                    connection = None;
                    // The commands connection went with the server: the next
                    // publish should open a new one, not fail on the old.
                    lock(&self.commands).connection = None;
                    if !lost {
                        eprintln!(
                            "realtime-web: lost Redis at {}; reconnecting",
                            self.url.address
                        );
                        lost = true;
                    }
                    let wait = next_backoff(backoff);
                    backoff = Some(wait);
                    std::thread::sleep(wait);
                }
            }
        }
    }

    /// Opens the reader's connection and brings every followed channel up to
    /// date with the server: a server of another run (it restarted) or a
    /// counter behind the ring replaces the ring ([`Link::resync`]).
    fn reconnect(&self, run_id: &mut Option<String>, max_bytes: usize) -> io::Result<Connection> {
        let mut opened = Connection::open(&self.url, CALL_TIMEOUT)?;
        let run = server_run(&mut opened)?;
        let restarted = run_id.as_ref().is_some_and(|id| *id != run);
        self.resync(&mut opened, restarted, max_bytes)?;
        *run_id = Some(run);
        opened.set_timeout(READ_BLOCK + CALL_TIMEOUT)?;
        Ok(opened)
    }

    /// One `XREAD` over every followed channel, and the wake-up stream.
    fn read_once(&self, reader: &mut Connection, max_bytes: usize) -> io::Result<()> {
        let block = READ_BLOCK.as_millis().to_string();
        let followed: Vec<(String, u64)> = {
            let mut followed = lock(&self.followed);
            followed.retain(|_, f| f.channel.strong_count() > 0);
            followed
                .iter()
                .map(|(name, f)| (keys(name).1, f.last))
                .collect()
        };
        let ids: Vec<String> = followed
            .iter()
            .map(|(_, last)| format!("{last}-0"))
            .collect();
        let mut args: Vec<&[u8]> = vec![
            b"XREAD",
            b"COUNT",
            READ_COUNT,
            b"BLOCK",
            block.as_bytes(),
            b"STREAMS",
        ];
        args.extend(followed.iter().map(|(key, _)| key.as_bytes()));
        args.push(self.wake_key.as_bytes());
        args.extend(ids.iter().map(String::as_bytes));
        args.push(b"$");
        let reply = reader.call(&args)?;
        if let Reply::Error(error) = reply {
            return Err(io::Error::other(error));
        }
        for stream in reply.items().unwrap_or_default() {
            let Some([key, entries_reply]) =
                stream.items().and_then(|s| <&[Reply; 2]>::try_from(s).ok())
            else {
                continue;
            };
            let Some(name) = key
                .bytes()
                .and_then(|k| std::str::from_utf8(k).ok())
                .and_then(|k| k.strip_prefix("rtw:{")?.strip_suffix("}:log"))
            else {
                continue; // the wake-up stream
            };
            let mut followed = lock(&self.followed);
            let Some(follow) = followed.get_mut(name) else {
                continue;
            };
            let Some(channel) = follow.channel.upgrade() else {
                continue;
            };
            for message in entries(entries_reply, max_bytes) {
                follow.last = follow.last.max(message.id);
                channel.receive(message);
            }
        }
        Ok(())
    }

    /// After a reconnection, on the reader's new connection: a channel whose
    /// counter is behind its local last id was lost by Redis (restarted
    /// empty), and every channel of a server that restarted may hold another
    /// run's messages; their rings become Redis's windows.
    fn resync(&self, reader: &mut Connection, restarted: bool, max_bytes: usize) -> io::Result<()> {
        let names: Vec<String> = lock(&self.followed).keys().cloned().collect();
        let failed = |_| io::Error::other("Redis refused a read");
        for name in names {
            let (seq, log) = keys(&name);
            let seq = seq_reply(&reader.call(&[b"GET", seq.as_bytes()])?).map_err(failed)?;
            let behind = lock(&self.followed)
                .get(&name)
                .is_some_and(|f| seq < f.last);
            if !restarted && !behind {
                continue;
            }
            let window = entries(
                &reader.call(&[b"XRANGE", log.as_bytes(), b"-", b"+"])?,
                max_bytes,
            );
            let mut followed = lock(&self.followed);
            if let Some(follow) = followed.get_mut(&name) {
                if let Some(channel) = follow.channel.upgrade() {
                    follow.last = channel.restart(window, seq);
                }
            }
        }
        Ok(())
    }
}

/// A counter's value from `GET`: 0 when it does not exist.
fn seq_reply(reply: &Reply) -> Result<u64, Error> {
    match reply {
        Reply::Bulk(None) => Ok(0),
        reply => reply
            .bytes()
            .and_then(|b| std::str::from_utf8(b).ok()?.parse().ok())
            .ok_or(Error::Unavailable),
    }
}

/// The server's `run_id` (`INFO server`), which changes when it restarts.
fn server_run(connection: &mut Connection) -> io::Result<String> {
    let reply = connection.call(&[b"INFO", b"server"])?;
    reply
        .bytes()
        .and_then(|info| std::str::from_utf8(info).ok())
        .and_then(|info| info.lines().find_map(|line| line.strip_prefix("run_id:")))
        .map(|id| id.trim().to_owned())
        .ok_or_else(|| io::Error::other("INFO server gave no run_id"))
}

/// The messages of an `XRANGE` reply, or of one stream of an `XREAD` reply:
/// `[[id, [field, value, …]], …]`. Entries that are not the store's are
/// skipped.
///
/// What Redis holds is checked as a publish is, not trusted: an entry whose
/// event name breaks the contract's rule or whose data is over `max_bytes`
/// is skipped (readers get the gap rule for it), and data marked JSON that
/// is not JSON is carried as text.
fn entries(reply: &Reply, max_bytes: usize) -> Vec<Message> {
    let mut messages = Vec::new();
    for entry in reply.items().unwrap_or_default() {
        let Some([id, fields]) = entry.items().and_then(|e| <&[Reply; 2]>::try_from(e).ok()) else {
            continue;
        };
        let Some(id) = id.bytes().and_then(|id| {
            std::str::from_utf8(id)
                .ok()?
                .strip_suffix("-0")?
                .parse()
                .ok()
        }) else {
            continue;
        };
        let (mut event, mut data, mut json) = (None, None, false);
        for pair in fields.items().unwrap_or_default().chunks(2) {
            let [name, value] = pair else { continue };
            let value = value.bytes().and_then(|v| std::str::from_utf8(v).ok());
            match name.bytes() {
                Some(b"e") => event = value,
                Some(b"d") => data = value,
                Some(b"j") => json = value == Some("1"),
                _ => {}
            }
        }
        let (Some(event), Some(data)) = (event, data) else {
            continue;
        };
        if !valid_event_name(event) || data.len() > max_bytes {
            continue;
        }
        messages.push(Message {
            id,
            event: event.into(),
            data: data.into(),
            json: json && json::is_json(data),
        });
    }
    messages
}

fn next_backoff(last: Option<Duration>) -> Duration {
    last.map_or(BACKOFF.0, |last| (last * 2).min(BACKOFF.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_read_from_xrange_replies() {
        let bulk = |b: &str| Reply::Bulk(Some(b.as_bytes().to_vec()));
        let entry = |id: &str, fields: &[&str]| {
            Reply::Array(Some(vec![
                bulk(id),
                Reply::Array(Some(fields.iter().map(|f| bulk(f)).collect())),
            ]))
        };
        let reply = Reply::Array(Some(vec![
            entry("7-0", &["e", "message", "d", "hi", "j", "0"]),
            entry("8-0", &["e", "reading", "d", "{\"c\":1}", "j", "1"]),
            entry("9-1", &["e", "x", "d", "not ours"]),
            entry("10-0", &["d", "no event"]),
            entry("11-0", &["e", "bad\ndata: injected", "d", "x", "j", "0"]),
            entry("12-0", &["e", "message", "d", &"x".repeat(65), "j", "0"]),
            entry("13-0", &["e", "message", "d", "1);alert(1);(", "j", "1"]),
        ]));
        let messages = entries(&reply, 64);
        assert_eq!(
            messages.len(),
            3,
            "a bad event name and an oversized text are skipped"
        );
        assert_eq!(
            (messages[2].id, messages[2].json),
            (13, false),
            "not JSON: text"
        );
        assert_eq!(
            (messages[0].id, &*messages[0].data, messages[0].json),
            (7, "hi", false)
        );
        assert_eq!(
            (messages[1].id, &*messages[1].event, messages[1].json),
            (8, "reading", true)
        );
    }

    #[test]
    fn keys_share_a_hash_tag_and_backoff_doubles_to_a_bound() {
        assert_eq!(
            keys("news"),
            ("rtw:{news}:seq".into(), "rtw:{news}:log".into())
        );
        let mut wait = None;
        let mut waits = Vec::new();
        for _ in 0..7 {
            wait = Some(next_backoff(wait));
            waits.push(wait.unwrap().as_millis());
        }
        assert_eq!(waits, [100, 200, 400, 800, 1600, 2000, 2000]);
    }
}
