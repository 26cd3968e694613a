//! What the server counts per transport: the figures behind `GET /stats` and the
//! showcase's charts.
//!
//! Routes carry a label (`poll`, `sse`, `ws`, …; see [`Router::label`]). For each
//! label the server counts:
//!
//! - `requests`: requests answered by a route with that label;
//! - `open`: those in progress now — a long-poll waiting, a stream or a
//!   WebSocket open;
//! - `connections`: TCP connections that carried at least one of them;
//! - `bytes_read` and `bytes_written`: bytes on the wire, request and response
//!   heads included (and chunk framing, and WebSocket frames after the
//!   handshake).
//!
//! Counters are atomics, so counting costs no lock on the request path.
//!
//! [`Router::label`]: super::Router::label

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// The counters of one label.
#[derive(Debug, Default)]
pub struct Counters {
    requests: AtomicU64,
    open: AtomicU64,
    connections: AtomicU64,
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
}

/// A handle on one label's counters, carried by a response while it is served.
#[derive(Clone, Debug)]
pub struct Meter {
    label: &'static str,
    counters: Arc<Counters>,
}

impl Meter {
    /// The label counted.
    pub fn label(&self) -> &'static str {
        self.label
    }

    /// Counts one request.
    pub fn request(&self) {
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one more connection that carried this label.
    pub fn connection(&self) {
        self.counters.connections.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts bytes received.
    pub fn read(&self, bytes: usize) {
        self.counters
            .bytes_read
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Counts bytes sent.
    pub fn written(&self, bytes: usize) {
        self.counters
            .bytes_written
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Counts one more thing in progress until the guard is dropped.
    pub fn open(&self) -> OpenGuard {
        self.counters.open.fetch_add(1, Ordering::Relaxed);
        OpenGuard(Arc::clone(&self.counters))
    }
}

/// Counts something in progress; see [`Meter::open`].
#[derive(Debug)]
pub struct OpenGuard(Arc<Counters>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
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

    /// The meter of `label`, created at zero on first use.
    pub fn meter(&self, label: &'static str) -> Meter {
        let mut labels = self.labels.lock().unwrap_or_else(PoisonError::into_inner);
        let counters = Arc::clone(labels.entry(label).or_default());
        Meter { label, counters }
    }

    /// Every label's counters as JSON:
    /// `{"poll":{"requests":3,"open":0,"connections":1,"bytes_read":300,"bytes_written":600},…}`.
    pub fn to_json(&self) -> String {
        let labels = self.labels.lock().unwrap_or_else(PoisonError::into_inner);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_json() {
        let stats = Stats::new();
        let poll = stats.meter("poll");
        poll.request();
        poll.connection();
        poll.read(100);
        poll.written(250);
        let guard = stats.meter("sse").open();
        assert_eq!(
            stats.to_json(),
            r#"{"poll":{"requests":1,"open":0,"connections":1,"bytes_read":100,"bytes_written":250},"sse":{"requests":0,"open":1,"connections":0,"bytes_read":0,"bytes_written":0}}"#
        );
        drop(guard);
        assert!(stats.to_json().contains(r#""sse":{"requests":0,"open":0,"#));
    }
}
