//! A Redis client of the crate's own: one blocking TCP connection speaking
//! RESP2 ([`crate::codec::resp`]), with timeouts, for the few commands the
//! hub's shared store needs (see `hub/store.rs`).
//!
//! A [`Url`] is `redis://[:PASSWORD@]HOST:PORT[/DB]`; opening a connection
//! authenticates (`AUTH`) and selects the database (`SELECT`) when the URL
//! says so. Every call writes one command and reads one reply, within the
//! connection's timeouts; a connection whose call failed on the socket is
//! spent, and its owner opens another (with backoff: see the store).

use crate::codec::resp::{self, Reply, RespError};
use crate::codec::Parsed;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// The largest bulk string accepted in a reply: far above a message (64 KiB
/// by default), far below what would hurt.
const MAX_BULK: usize = 16 << 20;
/// How much one read asks for.
const READ_CHUNK: usize = 64 * 1024;

/// Where a Redis server is, and how to log in: `redis://[:PASSWORD@]HOST:PORT[/DB]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Url {
    /// `HOST:PORT`.
    pub address: String,
    /// The `AUTH` password, if any.
    pub password: Option<String>,
    /// The database to `SELECT` (0 by default).
    pub db: u32,
}

impl fmt::Debug for Url {
    /// Like `Display`: the password never reaches a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Url {
    /// The URL without its password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "redis://{}/{}", self.address, self.db)
    }
}

impl Url {
    /// Parses `redis://[:PASSWORD@]HOST:PORT[/DB]` (the port is required;
    /// the password may not contain `@`).
    ///
    /// # Errors
    ///
    /// A sentence saying what is wrong.
    pub fn parse(text: &str) -> Result<Url, String> {
        let rest = text
            .strip_prefix("redis://")
            .ok_or_else(|| format!("'{text}' does not start with redis://"))?;
        let (password, rest) = match rest.rsplit_once('@') {
            Some((login, rest)) => {
                let password = login.strip_prefix(':').unwrap_or(login);
                (Some(password.to_owned()).filter(|p| !p.is_empty()), rest)
            }
            None => (None, rest),
        };
        let (address, db) = match rest.split_once('/') {
            Some((address, "")) => (address, 0),
            Some((address, db)) => (
                address,
                db.parse()
                    .map_err(|_| format!("database '{db}' is not a number"))?,
            ),
            None => (rest, 0),
        };
        let port_ok = address
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !port_ok {
            return Err(format!("'{address}' is not HOST:PORT"));
        }
        Ok(Url {
            address: address.to_owned(),
            password,
            db,
        })
    }
}

/// One connection to a Redis server.
#[derive(Debug)]
pub struct Connection {
    stream: TcpStream,
    buf: Vec<u8>,
    out: Vec<u8>,
}

impl Connection {
    /// Connects to `url`, logs in and selects its database, each step within
    /// `timeout`, which then bounds every call's read and write.
    ///
    /// # Errors
    ///
    /// The connection's error, or `PermissionDenied`/`InvalidData` when the
    /// server refuses `AUTH` or `SELECT`.
    pub fn open(url: &Url, timeout: Duration) -> io::Result<Connection> {
        let address = url.address.to_socket_addrs()?.next().ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, "the host resolves to no address")
        })?;
        let stream = TcpStream::connect_timeout(&address, timeout)?;
        // A connect to a local port nothing listens on can meet itself (TCP
        // simultaneous open, when the kernel picks that very port as the
        // source): such a socket echoes every command back.
        if stream.local_addr()? == stream.peer_addr()? {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                "connected to itself: nothing listens there",
            ));
        }
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        let mut connection = Connection {
            stream,
            buf: Vec::new(),
            out: Vec::new(),
        };
        if let Some(password) = &url.password {
            if let Reply::Error(error) = connection.call(&[b"AUTH", password.as_bytes()])? {
                return Err(io::Error::new(io::ErrorKind::PermissionDenied, error));
            }
        }
        if url.db != 0 {
            let db = url.db.to_string();
            if let Reply::Error(error) = connection.call(&[b"SELECT", db.as_bytes()])? {
                return Err(io::Error::new(io::ErrorKind::InvalidData, error));
            }
        }
        // Whatever answered must speak Redis.
        match connection.call(&[b"PING"])? {
            Reply::Simple(pong) if pong == "PONG" => Ok(connection),
            other => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("not a Redis server: it answered PING with {other:?}"),
            )),
        }
    }

    /// How long a call may wait for its reply: for a blocking command
    /// (`XREAD BLOCK`), longer than what it blocks.
    ///
    /// # Errors
    ///
    /// As the socket reports them.
    pub fn set_timeout(&self, timeout: Duration) -> io::Result<()> {
        self.stream.set_read_timeout(Some(timeout))
    }

    /// Sends one command and reads its reply. A Redis error (`-ERR …`) is a
    /// reply, for the caller to judge; only the connection's failures are
    /// errors.
    ///
    /// # Errors
    ///
    /// The socket's error, a timeout, `UnexpectedEof` when the server closed,
    /// or `InvalidData` for bytes that are not RESP.
    pub fn call(&mut self, args: &[&[u8]]) -> io::Result<Reply> {
        self.out.clear();
        resp::command(&mut self.out, args);
        self.stream.write_all(&self.out)?;
        let invalid = |error| io::Error::new(io::ErrorKind::InvalidData, error);
        // Read until the reply is whole (a cheap scan after each read), then
        // parse it once: a reply of many megabytes costs one pass.
        while resp::scan(&self.buf, MAX_BULK).map_err(invalid)?.is_none() {
            let start = self.buf.len();
            self.buf.resize(start + READ_CHUNK, 0);
            let read = self.stream.read(&mut self.buf[start..]);
            self.buf.truncate(start + *read.as_ref().unwrap_or(&0));
            if read? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        match resp::parse(&self.buf, MAX_BULK).map_err(invalid)? {
            Parsed::Complete { value, consumed } => {
                self.buf.drain(..consumed);
                Ok(value)
            }
            // The scan and the parser check the same rules; should they ever
            // disagree, the connection is dropped, not the thread.
            Parsed::NeedMore => Err(invalid(RespError::MissingCrlf)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let url = Url::parse("redis://:s3cret@127.0.0.1:6380/2").unwrap();
        assert_eq!(url.address, "127.0.0.1:6380");
        assert_eq!(url.password.as_deref(), Some("s3cret"));
        assert_eq!(url.db, 2);
        assert_eq!(
            url.to_string(),
            "redis://127.0.0.1:6380/2",
            "no password shown"
        );
        assert_eq!(format!("{url:?}"), "redis://127.0.0.1:6380/2");
        let plain = Url::parse("redis://localhost:6379").unwrap();
        assert_eq!((plain.password, plain.db), (None, 0));
        for bad in [
            "http://h:1",
            "redis://host",
            "redis://:1",
            "redis://h:99999",
            "redis://h:1/x",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
    }

    /// A fake server that answers each command with a canned reply, to see
    /// the bytes of `AUTH`, `SELECT` and a call, and a reply split in pieces.
    #[test]
    fn a_connection_logs_in_and_reads_split_replies() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let server = std::thread::spawn(move || {
            let (mut peer, _) = listener.accept().unwrap();
            let mut seen = Vec::new();
            let mut buf = [0u8; 256];
            for reply in [
                &b"+OK\r\n"[..],
                b"+OK\r\n",
                b"+PONG\r\n",
                b"$5\r\nhel",
                b"lo\r\n",
            ] {
                if reply != b"lo\r\n" {
                    let n = peer.read(&mut buf).unwrap();
                    seen.extend_from_slice(&buf[..n]);
                }
                peer.write_all(reply).unwrap();
                peer.flush().unwrap();
                std::thread::sleep(Duration::from_millis(5));
            }
            seen
        });
        let url = Url::parse(&format!("redis://:pw@{address}/3")).unwrap();
        let mut connection = Connection::open(&url, Duration::from_secs(10)).unwrap();
        let reply = connection.call(&[b"GET", b"k"]).unwrap();
        assert_eq!(reply, Reply::Bulk(Some(b"hello".to_vec())));
        assert_eq!(
            server.join().unwrap(),
            b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
        );
    }
}
