//! What the showcase counts per transport: the figures behind `GET /stats` and
//! the page's charts.
//!
//! Routes carry a label (`poll`, `sse`, `ws`, …; see [`Router::label`]). For each
//! label:
//!
//! - `requests`: requests answered by a route with that label;
//! - `open`: those in progress now — a long-poll waiting, a stream or a
//!   WebSocket open;
//! - `connections`: TCP connections that carried at least one of them;
//! - `bytes_read` and `bytes_written`: bytes on the wire, request and response
//!   heads included (and chunk framing, and WebSocket frames after the
//!   handshake).
//!
//! Counting happens at the edge, in two places only: [`Counted`] wraps each
//! connection's socket ([`Router::wrap_sockets`]) and counts the bytes under
//! the label the router tags it with ([`Socket::tag`]), and [`Stats::start`]
//! runs where a route is chosen ([`Router::on_route`]). Counters are atomics,
//! so counting a byte costs no shared lock.
//!
//! [`Router::label`]: crate::http::Router::label
//! [`Router::wrap_sockets`]: crate::http::Router::wrap_sockets
//! [`Router::on_route`]: crate::http::Router::on_route

use crate::net::Socket;
use crate::sync::lock;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The counters of one label.
#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    open: AtomicU64,
    connections: AtomicU64,
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
}

impl Counters {
    fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// All labels' counters.
#[derive(Debug, Default)]
pub struct Stats {
    labels: Mutex<BTreeMap<&'static str, Arc<Counters>>>,
}

impl Stats {
    /// An empty registry.
    pub fn new() -> Stats {
        Stats::default()
    }

    /// Lists `label` at zero (each is also created on first use).
    pub fn list(&self, label: &'static str) {
        self.counters(label);
    }

    fn counters(&self, label: &'static str) -> Arc<Counters> {
        Arc::clone(lock(&self.labels).entry(label).or_default())
    }

    /// Counts a request that took `label`'s route, and counts it in progress
    /// until the returned guard is dropped.
    pub fn start(&self, label: &'static str) -> InProgress {
        let counters = self.counters(label);
        Counters::add(&counters.requests, 1);
        Counters::add(&counters.open, 1);
        InProgress(counters)
    }

    /// Every label's counters as JSON:
    /// `{"poll":{"requests":3,"open":0,"connections":1,"bytes_read":300,"bytes_written":600},…}`.
    pub fn to_json(&self) -> String {
        let labels = lock(&self.labels);
        let mut out = String::from("{");
        for (i, (label, c)) in labels.iter().enumerate() {
            let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
            let _ = write!(
                out,
                "{}\"{label}\":{{\"requests\":{},\"open\":{},\"connections\":{},\"bytes_read\":{},\"bytes_written\":{}}}",
                if i == 0 { "" } else { "," },
                get(&c.requests),
                get(&c.open),
                get(&c.connections),
                get(&c.bytes_read),
                get(&c.bytes_written)
            );
        }
        out.push('}');
        out
    }
}

/// A request in progress; see [`Stats::start`].
#[derive(Debug)]
pub struct InProgress(Arc<Counters>);

impl Drop for InProgress {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A connection's socket, counting what passes under the label it is tagged
/// with. Bytes read before a tag (a request's head and body, read before its
/// route is known) wait and go to the label the tag names; with no label they
/// count nowhere.
#[derive(Debug)]
pub struct Counted {
    inner: Arc<dyn Socket>,
    stats: Arc<Stats>,
    now: Mutex<Tally>,
}

#[derive(Debug, Default)]
struct Tally {
    label: Option<Arc<Counters>>,
    /// Bytes read while untagged, for the next tag.
    unclaimed: usize,
    /// The labels this connection has carried, to count each one's
    /// connections once.
    seen: Vec<&'static str>,
}

impl Counted {
    /// Counts `inner`'s bytes into `stats`.
    pub fn new(inner: Arc<dyn Socket>, stats: Arc<Stats>) -> Counted {
        Counted {
            inner,
            stats,
            now: Mutex::new(Tally::default()),
        }
    }
}

impl Socket for Counted {
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut now = lock(&self.now);
        match &now.label {
            Some(counters) => Counters::add(&counters.bytes_read, n),
            None => now.unclaimed += n,
        }
        Ok(n)
    }

    fn write(&self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        if let Some(counters) = &lock(&self.now).label {
            Counters::add(&counters.bytes_written, n);
        }
        Ok(n)
    }

    fn tag(&self, label: Option<&'static str>) {
        let mut now = lock(&self.now);
        let unclaimed = std::mem::take(&mut now.unclaimed);
        now.label = label.map(|label| {
            let counters = self.stats.counters(label);
            Counters::add(&counters.bytes_read, unclaimed);
            counters
        });
        if let Some(label) = label.filter(|label| !now.seen.contains(label)) {
            now.seen.push(label);
            Counters::add(&self.stats.counters(label).connections, 1);
        }
    }

    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.shutdown(how)
    }

    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner.set_read_timeout(timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner.set_write_timeout(timeout)
    }

    fn write_timeout(&self) -> io::Result<Option<Duration>> {
        self.inner.write_timeout()
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::pipe;

    #[test]
    fn counts_by_the_tag_and_json() {
        let stats = Arc::new(Stats::new());
        stats.list("publish");
        let (client, server) = pipe(1024);
        let server = Counted::new(Arc::new(server), Arc::clone(&stats));
        client.write(b"GET /poll").unwrap();
        assert_eq!(server.read(&mut [0u8; 64]).unwrap(), 9);
        server.tag(Some("poll"));
        let request = stats.start("poll");
        server.write(b"200 OK").unwrap();
        drop(request);
        server.tag(None);
        client.write(b"GET /").unwrap(); // no labelled route: counts nowhere
        server.read(&mut [0u8; 64]).unwrap();
        server.tag(None);
        server.write(b"404").unwrap();
        server.tag(Some("poll")); // the same label again: one connection
        let open = stats.start("sse");
        assert_eq!(
            stats.to_json(),
            r#"{"poll":{"requests":1,"open":0,"connections":1,"bytes_read":9,"bytes_written":6},"publish":{"requests":0,"open":0,"connections":0,"bytes_read":0,"bytes_written":0},"sse":{"requests":1,"open":1,"connections":0,"bytes_read":0,"bytes_written":0}}"#
        );
        drop(open);
        assert!(stats.to_json().contains(r#""sse":{"requests":1,"open":0,"#));
    }
}
