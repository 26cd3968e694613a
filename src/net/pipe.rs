//! An in-memory [`Socket`] pair: what one end writes, the other reads, with
//! TCP's rules for the parts this crate relies on, and no network.
//!
//! - Each direction holds at most `capacity` bytes in flight; a writer finds
//!   it full when its peer stops reading, and blocks until its write timeout
//!   (an error for which [`is_timeout`](super::is_timeout) is true), like a
//!   socket whose buffers filled up.
//! - A read waits for bytes, its timeout, or the end of input: the peer shut
//!   its writing side (FIN) or went away.
//! - `shutdown(Read)` ends this end's reads at once, including one blocked in
//!   another thread; the peer's later writes are accepted and dropped.
//!   `shutdown(Both)` and dropping the end also make the peer's writes fail
//!   (`BrokenPipe`), as a reset would.
//!
//! The keep-alive loop and the WebSocket session are tested over it, so that
//! their tests need no ports and no sleeps.
//!
//! ```
//! use realtime_web::net::{pipe, Socket};
//! use std::net::Shutdown;
//!
//! let (client, server) = pipe(1024);
//! client.write(b"ping").unwrap();
//! client.shutdown(Shutdown::Write).unwrap();
//! let mut buf = [0u8; 16];
//! assert_eq!(server.read(&mut buf).unwrap(), 4);
//! assert_eq!(&buf[..4], b"ping");
//! assert_eq!(server.read(&mut buf).unwrap(), 0); // end of input
//! ```

use super::Socket;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Two connected ends, each holding at most `capacity` bytes in flight
/// towards it.
pub fn pipe(capacity: usize) -> (PipeEnd, PipeEnd) {
    let (a_to_b, b_to_a) = (
        Arc::new(Direction::default()),
        Arc::new(Direction::default()),
    );
    let end = |incoming: &Arc<Direction>, outgoing: &Arc<Direction>| PipeEnd {
        incoming: Arc::clone(incoming),
        outgoing: Arc::clone(outgoing),
        capacity: capacity.max(1),
        read_timeout: Mutex::new(None),
        write_timeout: Mutex::new(None),
    };
    (end(&b_to_a, &a_to_b), end(&a_to_b, &b_to_a))
}

/// One end of a [`pipe`].
#[derive(Debug)]
pub struct PipeEnd {
    incoming: Arc<Direction>,
    outgoing: Arc<Direction>,
    capacity: usize,
    read_timeout: Mutex<Option<Duration>>,
    write_timeout: Mutex<Option<Duration>>,
}

/// The bytes travelling one way, and what each side has shut.
#[derive(Debug, Default)]
struct Direction {
    state: Mutex<Flow>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct Flow {
    bytes: VecDeque<u8>,
    /// The writer sent its end of input.
    writer_done: bool,
    reader: Reader,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Reader {
    #[default]
    Reading,
    /// Shut for reading: bytes that come are dropped.
    Shut,
    /// Gone: a write fails.
    Gone,
}

impl Direction {
    fn lock(&self) -> std::sync::MutexGuard<'_, Flow> {
        crate::sync::lock(&self.state)
    }

    /// Waits for a change, until `deadline` if there is one; false when it
    /// passed.
    fn wait<'a>(
        &self,
        flow: std::sync::MutexGuard<'a, Flow>,
        deadline: Option<Instant>,
    ) -> (std::sync::MutexGuard<'a, Flow>, bool) {
        match deadline {
            None => (
                self.changed
                    .wait(flow)
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
                true,
            ),
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return (flow, false);
                }
                let (flow, _) = self
                    .changed
                    .wait_timeout(flow, left)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                (flow, true)
            }
        }
    }
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::WouldBlock, "pipe timeout")
}

impl Socket for PipeEnd {
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let deadline = crate::sync::lock(&self.read_timeout).map(|t| Instant::now() + t);
        let mut flow = self.incoming.lock();
        loop {
            if flow.reader != Reader::Reading || (flow.bytes.is_empty() && flow.writer_done) {
                return Ok(0);
            }
            if !flow.bytes.is_empty() && !buf.is_empty() {
                let n = buf.len().min(flow.bytes.len());
                for (slot, byte) in buf.iter_mut().zip(flow.bytes.drain(..n)) {
                    *slot = byte;
                }
                self.incoming.changed.notify_all();
                return Ok(n);
            }
            if buf.is_empty() {
                return Ok(0);
            }
            let (next, in_time) = self.incoming.wait(flow, deadline);
            if !in_time {
                return Err(timed_out());
            }
            flow = next;
        }
    }

    fn write(&self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let deadline = crate::sync::lock(&self.write_timeout).map(|t| Instant::now() + t);
        let mut flow = self.outgoing.lock();
        loop {
            if flow.writer_done || flow.reader == Reader::Gone {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            if flow.reader == Reader::Shut {
                return Ok(buf.len());
            }
            let room = self.capacity.saturating_sub(flow.bytes.len());
            if room > 0 {
                let n = room.min(buf.len());
                flow.bytes.extend(&buf[..n]);
                self.outgoing.changed.notify_all();
                return Ok(n);
            }
            let (next, in_time) = self.outgoing.wait(flow, deadline);
            if !in_time {
                return Err(timed_out());
            }
            flow = next;
        }
    }

    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        if matches!(how, Shutdown::Write | Shutdown::Both) {
            self.outgoing.lock().writer_done = true;
            self.outgoing.changed.notify_all();
        }
        let reader = match how {
            Shutdown::Read => Reader::Shut,
            Shutdown::Both => Reader::Gone,
            Shutdown::Write => return Ok(()),
        };
        let mut flow = self.incoming.lock();
        if flow.reader != Reader::Gone {
            flow.reader = reader;
        }
        flow.bytes.clear();
        self.incoming.changed.notify_all();
        Ok(())
    }

    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        *crate::sync::lock(&self.read_timeout) = timeout;
        Ok(())
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        *crate::sync::lock(&self.write_timeout) = timeout;
        Ok(())
    }

    fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(*crate::sync::lock(&self.write_timeout))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Err(no_address())
    }

    fn peer_addr(&self) -> io::Result<SocketAddr> {
        Err(no_address())
    }
}

fn no_address() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "an in-memory pipe has no address",
    )
}

impl Drop for PipeEnd {
    fn drop(&mut self) {
        let _ = self.shutdown(Shutdown::Both);
    }
}

impl Read for &PipeEnd {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Socket::read(*self, buf)
    }
}

impl Write for &PipeEnd {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Socket::write(*self, buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::is_timeout;

    #[test]
    fn bytes_cross_in_order_both_ways() {
        let (a, b) = pipe(8);
        (&a).write_all(b"hello").unwrap();
        (&b).write_all(b"back").unwrap();
        let mut buf = [0u8; 5];
        (&b).read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hello");
        (&a).read_exact(&mut buf[..4]).unwrap();
        assert_eq!(&buf[..4], b"back");
    }

    #[test]
    fn a_full_pipe_times_out_the_writer_and_drains_to_the_reader() {
        let (a, b) = pipe(4);
        a.set_write_timeout(Some(Duration::from_millis(1))).unwrap();
        assert_eq!(a.write(b"abcdef").unwrap(), 4);
        assert!(is_timeout(&a.write(b"ef").unwrap_err()));
        let mut buf = [0u8; 8];
        assert_eq!(b.read(&mut buf).unwrap(), 4);
        assert_eq!(a.write(b"ef").unwrap(), 2);
    }

    #[test]
    fn a_read_times_out_then_sees_the_end() {
        let (a, b) = pipe(4);
        b.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
        let mut buf = [0u8; 4];
        assert!(is_timeout(&b.read(&mut buf).unwrap_err()));
        a.shutdown(Shutdown::Write).unwrap();
        assert_eq!(b.read(&mut buf).unwrap(), 0);
        assert_eq!(b.write(b"x").unwrap(), 1, "the other way stays open");
    }

    #[test]
    fn shutting_reading_wakes_a_blocked_reader_and_dropping_breaks_writes() {
        let (a, b) = pipe(4);
        let b = Arc::new(b);
        let reader = {
            let b = Arc::clone(&b);
            std::thread::spawn(move || b.read(&mut [0u8; 4]).unwrap())
        };
        b.shutdown(Shutdown::Read).unwrap();
        assert_eq!(reader.join().unwrap(), 0);
        assert_eq!(a.write(b"dropped").unwrap(), 7, "accepted, never read");
        drop(b);
        assert_eq!(a.write(b"x").unwrap_err().kind(), io::ErrorKind::BrokenPipe);
        assert_eq!(a.read(&mut [0u8; 4]).unwrap(), 0);
    }
}
