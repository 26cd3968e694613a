//! Messages and the closing handshake over frames (RFC 6455 §5.4–§5.6, §7).
//!
//! A [`WebSocket`] is one open connection, on either end ([`Role`]). Reading
//! assembles frames into messages and handles control frames on the way:
//!
//! - **Fragmentation (§5.4).** A message is a first frame (text or binary)
//!   followed by continuation frames until one has FIN. Control frames may come
//!   between fragments; a new message may not start inside one, nor may a
//!   continuation come outside one (1002).
//! - **Text is UTF-8 (§5.6, §8.1).** It is validated *as it arrives*, fragment by
//!   fragment, so an invalid sequence fails the connection (1007) at once, not
//!   when the message ends; a sequence cut between two fragments is carried over.
//! - **Limits.** A frame or message over [`WsConfig`]'s limits closes with 1009
//!   before anything is allocated for it.
//! - **Ping and pong (§5.5.2, §5.5.3).** A ping is answered with a pong carrying
//!   the same payload; an unsolicited pong is ignored. When the peer is silent
//!   for [`WsConfig::ping_interval`] the server pings it, and after
//!   [`WsConfig::idle_timeout`] of silence gives up (1001).
//! - **Closing (§5.5.1, §7).** The close code is checked (1000–1003, 1007–1011,
//!   3000–4999; anything else, or a 1-byte payload, is 1002) and the reason must
//!   be UTF-8 (1007). A close from the peer is echoed, and the server then closes
//!   the TCP connection (§7.1.1). A close we send first waits up to
//!   [`WsConfig::close_timeout`] for the peer's.
//!
//! The connection's state is the [`State`] enum below; a protocol violation
//! sends its close code with a short reason and ends the connection (§7.1.7,
//! "Fail the WebSocket Connection").
//!
//! Writing goes through a [`Sender`], a cloneable handle around one `Mutex`, so
//! that two threads can send on one socket (the channel endpoint's reader
//! answers pings while the channel's broadcaster writes channel messages) and
//! no frame is ever interleaved with another.

use super::frame::{self, Frame, OpCode, Role};
use crate::codec::sha1::Sha1;
use crate::http::request::Parsed;
use crate::http::stats::Meter;
use crate::http::{is_timeout, write_all_before, write_now};
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Close codes of RFC 6455 §7.4.1 used by this crate.
pub mod code {
    /// 1000: normal closure.
    pub const NORMAL: u16 = 1000;
    /// 1001: going away (server shutdown, idle peer).
    pub const GOING_AWAY: u16 = 1001;
    /// 1002: protocol error.
    pub const PROTOCOL: u16 = 1002;
    /// 1003: a data type the endpoint does not accept.
    pub const UNSUPPORTED: u16 = 1003;
    /// 1005: no status code was present (never sent, only reported).
    pub const NO_STATUS: u16 = 1005;
    /// 1007: a text message that is not UTF-8.
    pub const INVALID_DATA: u16 = 1007;
    /// 1009: a message too big to process.
    pub const TOO_BIG: u16 = 1009;
    /// 1011: an unexpected condition on the server.
    pub const INTERNAL: u16 = 1011;
}

/// The close codes a peer may send (§7.4.1, §7.4.2): the defined ones that may
/// appear on the wire, and the ranges for libraries (3000–3999) and
/// applications (4000–4999).
pub fn valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999)
}

/// Reads a close frame's payload (RFC 6455 §5.5.1): empty, or a status code of
/// two bytes that a peer may send (§7.4) and a UTF-8 reason. A pure function
/// over the peer's bytes, so every payload can be checked without a socket.
///
/// # Errors
///
/// The close code to fail the connection with, and its reason: 1002 for a
/// payload of one byte or a code a peer may not send, 1007 for a reason that is
/// not UTF-8.
pub fn parse_close(payload: &[u8]) -> Result<Option<CloseFrame>, (u16, &'static str)> {
    match payload {
        [] => Ok(None),
        [_] => Err((code::PROTOCOL, "close payload of one byte")),
        [high, low, reason @ ..] => {
            let code = u16::from_be_bytes([*high, *low]);
            if !valid_close_code(code) {
                return Err((code::PROTOCOL, "invalid close code"));
            }
            let Ok(reason) = std::str::from_utf8(reason) else {
                return Err((code::INVALID_DATA, "close reason is not UTF-8"));
            };
            Ok(Some(CloseFrame {
                code,
                reason: reason.to_owned(),
            }))
        }
    }
}

/// Limits and timeouts of a WebSocket connection. Every field has a safe
/// default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WsConfig {
    /// The largest frame payload accepted. Default 16 MiB; past it, close 1009.
    pub max_frame: usize,
    /// The largest message (all its fragments) accepted. Default 16 MiB; past
    /// it, close 1009.
    pub max_message: usize,
    /// How long to wait for the peer's close frame after sending ours. Default
    /// 5 s.
    pub close_timeout: Duration,
    /// Silence after which the server pings the peer; `None` for no pings.
    /// Default 30 s.
    pub ping_interval: Option<Duration>,
    /// Silence after which the connection is given up (close 1001). Default
    /// 75 s, so a live peer answers at least two pings first.
    pub idle_timeout: Duration,
    /// The subprotocols the server speaks, in its order of preference; the
    /// handshake answers the first of the client's offers found here.
    pub protocols: Vec<String>,
    /// How much one read asks for while no large frame is under way, in a
    /// buffer on the reading thread's stack: 4 KiB by default. At most
    /// [`QUIET_READ`] (512 bytes) it is a smaller buffer, one stack page less
    /// for a thread that mostly waits (a channel subscriber: 4 KiB of its
    /// ~20 KiB of resident memory, measured with 5,000 subscribers), at the
    /// cost of more reads for messages larger than it.
    pub read_buffer: usize,
}

impl Default for WsConfig {
    fn default() -> Self {
        WsConfig {
            max_frame: 16 << 20,
            max_message: 16 << 20,
            close_timeout: Duration::from_secs(5),
            ping_interval: Some(Duration::from_secs(30)),
            idle_timeout: Duration::from_secs(75),
            protocols: Vec::new(),
            read_buffer: SMALL_READ,
        }
    }
}

/// A message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A text message: valid UTF-8.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
    /// The peer closed (with the code and reason it sent, if any), and the
    /// closing handshake is complete. No message follows.
    Close(Option<CloseFrame>),
}

/// The body of a close frame (§5.5.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseFrame {
    /// The status code.
    pub code: u16,
    /// The reason, UTF-8, at most 123 bytes.
    pub reason: String,
}

/// Why a WebSocket operation failed.
#[derive(Debug)]
pub enum Error {
    /// The peer broke a rule; the connection was failed with this close code.
    Protocol {
        /// The close code sent (1002, 1003, 1007, 1009, 1001 for idleness).
        code: u16,
        /// The reason sent with it.
        reason: &'static str,
    },
    /// The connection is closed (the handshake finished, or it was failed).
    Closed,
    /// The socket failed, or the peer left without a closing handshake (1006).
    Io(io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Protocol { code, reason } => write!(f, "WebSocket failed with {code}: {reason}"),
            Error::Closed => f.write_str("WebSocket closed"),
            Error::Io(e) => write!(f, "WebSocket I/O: {e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        Error::Io(e)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

// ---------------------------------------------------------------------------
// Sending.

/// The writing half: cloneable, so several threads can send on one connection.
/// Each frame is written whole under the lock.
#[derive(Clone)]
pub struct Sender {
    writer: Arc<Mutex<Writer>>,
}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("closing", &self.is_closing())
            .finish()
    }
}

struct Writer {
    stream: Arc<TcpStream>,
    /// How long one frame may take to write, at most: the socket's write
    /// timeout when the session began. A subscription shortens the socket's
    /// own timeout for its broadcaster's writes; frames sent here still get
    /// this long.
    patience: Option<Duration>,
    meter: Option<Meter>,
    role: Role,
    /// When our close frame went out; nothing but that may follow it (§5.5.1).
    close_sent: Option<Instant>,
    /// A write of [`Sender::encoded_now`] stopped inside a frame: its rest is
    /// owed (through [`Sender::encoded`]) before any other frame may start.
    owed: bool,
    /// Frames sent while the rest was owed (pongs, a close), written after it.
    deferred: Vec<u8>,
    /// A client's masking keys; a server sends its frames unmasked (§5.1),
    /// so it never reads `/dev/urandom` for them.
    masks: Option<MaskKeys>,
    frame: Vec<u8>,
}

/// The most frame bytes that may wait behind an owed rest: pongs and a close
/// frame are small, and a peer that pings while it reads nothing is not kept.
const MAX_DEFERRED: usize = 16 * 1024;

impl Sender {
    fn new(stream: Arc<TcpStream>, role: Role) -> Sender {
        Sender {
            writer: Arc::new(Mutex::new(Writer {
                patience: stream.write_timeout().ok().flatten(),
                stream,
                meter: None,
                role,
                close_sent: None,
                owed: false,
                deferred: Vec::new(),
                masks: (role == Role::Client).then(MaskKeys::new),
                frame: Vec::new(),
            })),
        }
    }

    /// Sends a text message in one frame.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] after a close frame was sent; [`Error::Io`] if the write
    /// fails (or times out: the peer stopped reading).
    pub fn text(&self, text: &str) -> Result<(), Error> {
        self.send(OpCode::Text, text.as_bytes())
    }

    /// Sends a binary message in one frame. Errors as [`Sender::text`].
    pub fn binary(&self, data: &[u8]) -> Result<(), Error> {
        self.send(OpCode::Binary, data)
    }

    /// Sends a ping (at most 125 bytes of payload). Errors as [`Sender::text`].
    pub fn ping(&self, payload: &[u8]) -> Result<(), Error> {
        self.send(
            OpCode::Ping,
            &payload[..payload.len().min(frame::MAX_CONTROL_PAYLOAD)],
        )
    }

    /// Sends one frame of a message: with `fin` false, more must follow as
    /// [`OpCode::Continuation`] frames (§5.4). Errors as [`Sender::text`].
    pub fn fragment(&self, opcode: OpCode, payload: &[u8], fin: bool) -> Result<(), Error> {
        self.send_frame(opcode, payload, fin)
    }

    fn send(&self, opcode: OpCode, payload: &[u8]) -> Result<(), Error> {
        self.send_frame(opcode, payload, true)
    }

    fn send_frame(&self, opcode: OpCode, payload: &[u8], fin: bool) -> Result<(), Error> {
        let mut writer = lock(&self.writer);
        if writer.close_sent.is_some() {
            return Err(Error::Closed);
        }
        writer.write_frame(opcode, payload, fin)?;
        Ok(())
    }

    /// Sends a close frame with `code` and `reason` (cut to the 123 bytes that
    /// fit, at a character boundary), unless one was sent already. Returns
    /// whether this call sent it.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the write fails.
    pub fn close(&self, code: u16, reason: &str) -> Result<bool, Error> {
        let mut payload = code.to_be_bytes().to_vec();
        let mut end = reason.len().min(frame::MAX_CONTROL_PAYLOAD - 2);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        payload.extend_from_slice(&reason.as_bytes()[..end]);
        self.close_with(&payload)
    }

    fn close_with(&self, payload: &[u8]) -> Result<bool, Error> {
        let mut writer = lock(&self.writer);
        if writer.close_sent.is_some() {
            return Ok(false);
        }
        writer.close_sent = Some(Instant::now());
        writer.write_frame(OpCode::Close, payload, true)?;
        Ok(true)
    }

    /// Writes frames encoded elsewhere (a channel broadcaster's text frames,
    /// the same bytes for every subscriber) whole, as [`Sender::text`] would.
    /// After a close frame was sent nothing may follow it (§5.5.1), so they
    /// are dropped.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the write fails or times out.
    ///
    /// After [`Sender::encoded_now`] stopped inside a frame, the next call
    /// must carry the rest: it is written first (even after a close frame,
    /// which then waits behind it), then the frames deferred meanwhile.
    pub fn encoded(&self, frames: &[u8]) -> Result<(), Error> {
        let mut writer = lock(&self.writer);
        if writer.owed {
            writer.write(frames)?;
            writer.owed = false;
            let deferred = std::mem::take(&mut writer.deferred);
            writer.write(&deferred)?;
        } else if writer.close_sent.is_none() {
            writer.write(frames)?;
        }
        Ok(())
    }

    /// Writes what of `frames` (as in [`Sender::encoded`]) the socket takes
    /// within its own write timeout, and returns how many bytes that was; a
    /// caller that gets less must write the rest before anything else.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the socket failed.
    pub fn encoded_now(&self, frames: &[u8]) -> Result<usize, Error> {
        let mut writer = lock(&self.writer);
        if writer.close_sent.is_some() {
            return Ok(frames.len());
        }
        let written = write_now(&mut &*writer.stream, frames)?;
        if let Some(meter) = &writer.meter {
            meter.written(written);
        }
        // Stopped inside the frames: no other frame may start before the rest.
        writer.owed = 0 < written && written < frames.len();
        Ok(written)
    }

    /// Gives up on the connection: shuts the socket both ways, so that the
    /// thread reading it stops too. For a write that failed half-way (a peer
    /// that stopped reading until the write timeout), after which no frame
    /// boundary can be trusted.
    pub fn abort(&self) {
        let _ = lock(&self.writer).stream.shutdown(Shutdown::Both);
    }

    /// True once a close frame was sent.
    pub fn is_closing(&self) -> bool {
        lock(&self.writer).close_sent.is_some()
    }

    fn close_sent_at(&self) -> Option<Instant> {
        lock(&self.writer).close_sent
    }

    fn pong(&self, payload: &[u8]) -> Result<(), Error> {
        self.send(OpCode::Pong, payload)
    }
}

impl Writer {
    fn write_frame(&mut self, opcode: OpCode, payload: &[u8], fin: bool) -> io::Result<()> {
        let mask = match self.role {
            Role::Client => Some(self.masks.get_or_insert_with(MaskKeys::new).next()),
            Role::Server => None,
        };
        let mut frame = std::mem::take(&mut self.frame);
        frame.clear();
        frame::encode(&mut frame, fin, opcode, payload, mask);
        let written = if self.owed {
            // Behind a half-written frame: this one waits for the rest.
            if self.deferred.len() + frame.len() > MAX_DEFERRED {
                Err(io::Error::other("peer not reading"))
            } else {
                self.deferred.extend_from_slice(&frame);
                Ok(())
            }
        } else {
            self.write(&frame)
        };
        // Keep a buffer for frames up to 64 KiB, not a 16 MiB one for the next
        // 16-byte frame.
        if frame.capacity() <= 64 * 1024 + 16 {
            self.frame = frame;
        }
        written
    }

    /// Writes `bytes` whole within the writer's patience, and counts them.
    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self.patience {
            Some(patience) => {
                write_all_before(&mut &*self.stream, bytes, Instant::now() + patience)?
            }
            None => (&*self.stream).write_all(bytes)?,
        }
        if let Some(meter) = &self.meter {
            meter.written(bytes.len());
        }
        Ok(())
    }
}

/// Masking keys for a client (§5.3: "derived from a strong source of entropy",
/// so that a page's script cannot choose the bytes on the wire and poison a
/// proxy's cache). The seed is 16 bytes of `/dev/urandom`; each key is the first
/// four bytes of SHA-1(seed, counter), which nobody without the seed can
/// predict. Where `/dev/urandom` does not exist, the seed falls back to the
/// clock, the process id and a stack address: unique, but not secret — fine
/// for a device talking to its own server, not against a hostile page.
struct MaskKeys {
    seed: [u8; 16],
    counter: u64,
}

impl MaskKeys {
    fn new() -> MaskKeys {
        MaskKeys {
            seed: random_seed(),
            counter: 0,
        }
    }

    fn next(&mut self) -> [u8; 4] {
        self.counter += 1;
        let mut hash = Sha1::new();
        hash.update(&self.seed);
        hash.update(&self.counter.to_le_bytes());
        let digest = hash.finish();
        [digest[0], digest[1], digest[2], digest[3]]
    }
}

/// 16 unpredictable bytes from `/dev/urandom`, or, where it does not exist, a
/// unique but guessable fallback (the clock, the process id, a stack address).
/// Seeds the client's masking keys (RFC 6455 §5.3).
pub fn random_seed() -> [u8; 16] {
    let mut seed = [0u8; 16];
    let from_system = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut seed));
    if from_system.is_err() {
        let mut hash = Sha1::new();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        hash.update(&now.to_le_bytes());
        hash.update(&std::process::id().to_le_bytes());
        let here = &seed as *const _ as usize;
        hash.update(&here.to_le_bytes());
        seed.copy_from_slice(&hash.finish()[..16]);
    }
    seed
}

// ---------------------------------------------------------------------------
// Receiving.

/// Where the connection is in its life (§7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Messages flow both ways.
    Open,
    /// We sent a close frame and wait for the peer's (data is discarded).
    Closing,
    /// The closing handshake is over or the connection failed; TCP is closed.
    Closed,
}

/// A text or binary message being assembled from fragments.
struct Partial {
    text: bool,
    data: Vec<u8>,
    utf8: Utf8Stream,
}

/// How far the frame still arriving has been checked (text frames only).
struct InFlight {
    checked: usize,
    utf8: Option<Utf8Stream>,
}

/// One WebSocket connection: the reading half, and a [`Sender`] for writing.
pub struct WebSocket {
    stream: Arc<TcpStream>,
    sender: Sender,
    role: Role,
    config: WsConfig,
    buf: Vec<u8>,
    partial: Option<Partial>,
    in_flight: Option<InFlight>,
    state: State,
    last_heard: Instant,
    read_timeout: Option<Duration>,
    meter: Option<Meter>,
}

impl fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocket")
            .field("role", &self.role)
            .field("state", &self.state)
            .finish()
    }
}

/// A read asks for this much when no large frame is under way (the default of
/// [`WsConfig::read_buffer`]).
const SMALL_READ: usize = 4096;
/// The smaller stack buffer of [`WsConfig::read_buffer`], for sessions that
/// mostly wait.
pub const QUIET_READ: usize = 512;
/// The most one read asks for while a large frame arrives.
const LARGE_READ: usize = 1 << 20;

impl WebSocket {
    /// Wraps a connection whose handshake is done. `leftover` holds bytes read
    /// past the handshake (the first frames, if the peer did not wait).
    pub fn new(
        stream: Arc<TcpStream>,
        role: Role,
        config: WsConfig,
        leftover: Vec<u8>,
    ) -> WebSocket {
        WebSocket {
            sender: Sender::new(Arc::clone(&stream), role),
            stream,
            role,
            config,
            buf: leftover,
            partial: None,
            in_flight: None,
            state: State::Open,
            last_heard: Instant::now(),
            read_timeout: None,
            meter: None,
        }
    }

    /// Counts the bytes read and written (frames, after the handshake) under
    /// `meter`'s label.
    pub fn metered(mut self, meter: Option<Meter>) -> WebSocket {
        lock(&self.sender.writer).meter.clone_from(&meter);
        self.meter = meter;
        self
    }

    /// True when the next message is already here whole, in one frame: the
    /// next [`WebSocket::read`] returns it without waiting for the socket. A
    /// server answering a burst of messages can gather its replies while this
    /// holds, and write them in one go when it does not (before `read` would
    /// wait), which saves a `write` per message.
    pub fn has_next_message(&self) -> bool {
        match frame::parse_header(&self.buf, self.role, self.config.max_frame) {
            Ok(Parsed::Complete { value, .. }) => {
                value.fin
                    && matches!(value.opcode, OpCode::Text | OpCode::Binary)
                    && self.buf.len() - value.size >= value.length as usize
            }
            _ => false,
        }
    }

    /// The connection's socket.
    pub fn socket(&self) -> &TcpStream {
        &self.stream
    }

    /// A handle for sending, from this thread or another.
    pub fn sender(&self) -> Sender {
        self.sender.clone()
    }

    /// The connection's state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Sends a text message (see [`Sender::text`]).
    ///
    /// # Errors
    ///
    /// As [`Sender::text`].
    pub fn send_text(&self, text: &str) -> Result<(), Error> {
        self.sender.text(text)
    }

    /// Sends a binary message (see [`Sender::binary`]).
    ///
    /// # Errors
    ///
    /// As [`Sender::text`].
    pub fn send_binary(&self, data: &[u8]) -> Result<(), Error> {
        self.sender.binary(data)
    }

    /// Reads the next message, answering pings and handling the closing
    /// handshake on the way. Returns [`Message::Close`] once, when the
    /// handshake is complete.
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`] when the peer broke a rule (the connection was failed
    /// with that code); [`Error::Closed`] after the connection closed;
    /// [`Error::Io`] when the socket failed or the peer left without closing.
    pub fn read(&mut self) -> Result<Message, Error> {
        loop {
            if self.state == State::Closed {
                return Err(Error::Closed);
            }
            match frame::parse(&self.buf, self.role, self.config.max_frame) {
                Err(error) => return Err(self.fail(error.code(), error.reason())),
                Ok(Parsed::Complete { value, consumed }) => {
                    self.buf.drain(..consumed);
                    self.in_flight = None;
                    self.last_heard = Instant::now();
                    if let Some(message) = self.handle(value)? {
                        return Ok(message);
                    }
                    continue;
                }
                Ok(Parsed::NeedMore) => self.check_partial_text()?,
            }
            self.fill()?;
        }
    }

    /// Starts the closing handshake with `code` and `reason`, and waits (up to
    /// the close timeout) for the peer's close frame, discarding any data that
    /// arrives first. Returns the peer's close frame, if it sent one in time.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the socket fails.
    pub fn close(&mut self, code: u16, reason: &str) -> Result<Option<CloseFrame>, Error> {
        if self.state == State::Closed {
            return Ok(None);
        }
        self.sender.close(code, reason)?;
        self.state = State::Closing;
        loop {
            match self.read() {
                Ok(Message::Close(frame)) => return Ok(frame),
                Ok(_) => {}
                Err(Error::Closed) => return Ok(None),
                Err(Error::Protocol { .. }) => return Ok(None),
                Err(Error::Io(e)) => return Err(Error::Io(e)),
            }
        }
    }

    /// Reads more bytes, with a timeout that serves the keep-alive and closing
    /// rules: on expiry, ping the peer, give up on an idle one, or stop waiting
    /// for a close frame that does not come.
    fn fill(&mut self) -> Result<(), Error> {
        let timeout = self.next_timeout();
        if self.read_timeout != Some(timeout) {
            self.stream.set_read_timeout(Some(timeout))?;
            self.read_timeout = Some(timeout);
        }
        // Small reads go through a stack buffer (an idle connection keeps no
        // read buffer); the rest of a large frame is read straight into `buf`.
        let wanted = self.frame_bytes_missing();
        let read = if wanted > self.config.read_buffer.min(SMALL_READ) {
            let start = self.buf.len();
            self.buf.resize(start + wanted.min(LARGE_READ), 0);
            let read = (&*self.stream).read(&mut self.buf[start..]);
            self.buf.truncate(start + *read.as_ref().unwrap_or(&0));
            read
        } else if self.config.read_buffer <= QUIET_READ {
            read_through::<QUIET_READ>(&self.stream, &mut self.buf)
        } else {
            read_through::<SMALL_READ>(&self.stream, &mut self.buf)
        };
        if let (Ok(n), Some(meter)) = (&read, &self.meter) {
            meter.read(*n);
        }
        match read {
            Ok(0) => {
                // The peer left without a closing handshake (1006, §7.1.5).
                self.abandon();
                Err(Error::Io(io::ErrorKind::UnexpectedEof.into()))
            }
            Ok(_) => Ok(()),
            Err(e) if is_timeout(&e) => self.on_timeout(),
            Err(e) => {
                self.abandon();
                Err(Error::Io(e))
            }
        }
    }

    /// How many bytes the frame at the start of `buf` still lacks, if its
    /// header is there (0 otherwise).
    fn frame_bytes_missing(&self) -> usize {
        match frame::parse_header(&self.buf, self.role, self.config.max_frame) {
            Ok(Parsed::Complete { value, .. }) => {
                (value.size + value.length as usize).saturating_sub(self.buf.len())
            }
            _ => 0,
        }
    }

    fn next_timeout(&self) -> Duration {
        let floor = Duration::from_millis(10);
        if let Some(sent) = self.sender.close_sent_at() {
            return self
                .config
                .close_timeout
                .saturating_sub(sent.elapsed())
                .max(floor);
        }
        let idle_left = self
            .config
            .idle_timeout
            .saturating_sub(self.last_heard.elapsed());
        match self.config.ping_interval {
            Some(interval) => interval.min(idle_left).max(floor),
            None => idle_left.max(floor),
        }
    }

    fn on_timeout(&mut self) -> Result<(), Error> {
        if let Some(sent) = self.sender.close_sent_at() {
            if sent.elapsed() >= self.config.close_timeout {
                // The peer never answered our close: close TCP and stop (§7.1.1).
                self.finish_tcp();
                return Err(Error::Closed);
            }
            return Ok(());
        }
        if self.last_heard.elapsed() >= self.config.idle_timeout {
            return Err(self.fail(code::GOING_AWAY, "idle"));
        }
        if self.config.ping_interval.is_some() {
            // Keep-alive: a live peer answers with a pong, which counts as heard.
            let _ = self.sender.ping(b"");
        }
        Ok(())
    }

    /// Acts on one frame; returns a message when one is complete.
    fn handle(&mut self, frame: Frame) -> Result<Option<Message>, Error> {
        match frame.opcode {
            OpCode::Ping => {
                if self.state == State::Open && !self.sender.is_closing() {
                    let _ = self.sender.pong(&frame.payload);
                }
                Ok(None)
            }
            OpCode::Pong => Ok(None), // solicited or not: the peer is alive
            OpCode::Close => self.on_close(&frame.payload).map(Some),
            OpCode::Text | OpCode::Binary => {
                if self.partial.is_some() {
                    return Err(self.fail(code::PROTOCOL, "new message inside a fragmented one"));
                }
                let mut partial = Partial {
                    text: frame.opcode == OpCode::Text,
                    data: Vec::new(),
                    utf8: Utf8Stream::default(),
                };
                self.append(&mut partial, frame.payload)?;
                self.complete_or_keep(partial, frame.fin)
            }
            OpCode::Continuation => {
                let Some(mut partial) = self.partial.take() else {
                    return Err(self.fail(code::PROTOCOL, "continuation without a message"));
                };
                self.append(&mut partial, frame.payload)?;
                self.complete_or_keep(partial, frame.fin)
            }
        }
    }

    /// Checks a fragment against the message limit and (for text) UTF-8, and
    /// adds it to the message. The first fragment's buffer becomes the
    /// message's, so an unfragmented message is never copied.
    fn append(&mut self, partial: &mut Partial, payload: Vec<u8>) -> Result<(), Error> {
        if partial.data.len() + payload.len() > self.config.max_message {
            return Err(self.fail(code::TOO_BIG, "message too large"));
        }
        if partial.text && partial.utf8.feed(&payload).is_err() {
            return Err(self.fail(code::INVALID_DATA, "invalid UTF-8 in a text message"));
        }
        if partial.data.is_empty() {
            partial.data = payload;
        } else {
            partial.data.extend_from_slice(&payload);
        }
        Ok(())
    }

    fn complete_or_keep(&mut self, partial: Partial, fin: bool) -> Result<Option<Message>, Error> {
        if !fin {
            self.partial = Some(partial);
            return Ok(None);
        }
        if self.state != State::Open {
            return Ok(None); // closing: data is discarded
        }
        if !partial.text {
            return Ok(Some(Message::Binary(partial.data)));
        }
        if !partial.utf8.is_complete() {
            return Err(self.fail(code::INVALID_DATA, "text message ends inside a character"));
        }
        match String::from_utf8(partial.data) {
            Ok(text) => Ok(Some(Message::Text(text))),
            Err(_) => Err(self.fail(code::INVALID_DATA, "invalid UTF-8 in a text message")),
        }
    }

    /// Validates, before the frame is complete, the part of a text frame's
    /// payload that has arrived: invalid UTF-8 fails the connection as soon as
    /// its bytes are here, even in the middle of a large frame. Only the bytes
    /// new since the last call are checked.
    fn check_partial_text(&mut self) -> Result<(), Error> {
        let header = match frame::parse_header(&self.buf, self.role, self.config.max_frame) {
            Ok(Parsed::Complete { value, .. }) => value,
            _ => return Ok(()),
        };
        let in_flight = self.in_flight.get_or_insert_with(|| InFlight {
            checked: 0,
            utf8: match (header.opcode, &self.partial) {
                (OpCode::Text, _) => Some(Utf8Stream::default()),
                (OpCode::Continuation, Some(partial)) if partial.text => Some(partial.utf8.clone()),
                _ => None, // not text: nothing to check
            },
        });
        let Some(utf8) = in_flight.utf8.as_mut() else {
            return Ok(());
        };
        let arrived = (self.buf.len() - header.size).min(header.length as usize);
        let start = header.size + in_flight.checked;
        let mut new = self.buf[start..header.size + arrived].to_vec();
        if let Some(key) = header.mask {
            frame::apply_mask(&mut new, key, in_flight.checked);
        }
        in_flight.checked = arrived;
        if utf8.feed(&new).is_err() {
            return Err(self.fail(code::INVALID_DATA, "invalid UTF-8 in a text message"));
        }
        Ok(())
    }

    /// The peer's close frame (§5.5.1): check it, echo it if we had not closed,
    /// and close TCP.
    fn on_close(&mut self, payload: &[u8]) -> Result<Message, Error> {
        let frame = match parse_close(payload) {
            Ok(frame) => frame,
            Err((code, reason)) => return Err(self.fail(code, reason)),
        };
        // Echo the status code (§5.5.1), without the reason.
        let echo = frame
            .as_ref()
            .map_or_else(Vec::new, |f| f.code.to_be_bytes().to_vec());
        let _ = self.sender.close_with(&echo);
        self.finish_tcp();
        Ok(Message::Close(frame))
    }

    /// Fails the connection (§7.1.7): sends a close frame with `code`, closes
    /// TCP, and returns the error to report.
    fn fail(&mut self, code: u16, reason: &'static str) -> Error {
        let _ = self.sender.close(code, reason);
        self.finish_tcp();
        Error::Protocol { code, reason }
    }

    /// Stops reading a connection whose input ended without a closing
    /// handshake: the peer left, or the server is shutting down and ended the
    /// reads itself. Only the reading side is shut: another thread may still be
    /// sending a last close frame (a channel broadcaster's 1001), and the socket closes
    /// when the last handle to it is dropped.
    fn abandon(&mut self) {
        self.state = State::Closed;
        self.partial = None;
        self.buf = Vec::new();
        let _ = self.stream.shutdown(Shutdown::Read);
    }

    /// Closes TCP, server first (§7.1.1): our FIN goes out after the close
    /// frame, then what the peer still sends is read and dropped for a moment,
    /// so that closing with unread input does not reset the connection and
    /// destroy the close frame before the peer reads it.
    fn finish_tcp(&mut self) {
        self.state = State::Closed;
        self.partial = None;
        let _ = self.stream.shutdown(Shutdown::Write);
        let deadline = Instant::now() + self.config.close_timeout.min(Duration::from_secs(1));
        let mut sink = [0u8; 4096];
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            if left.is_zero() || self.stream.set_read_timeout(Some(left)).is_err() {
                break;
            }
            match (&*self.stream).read(&mut sink) {
                Ok(1..) => {}
                _ => break,
            }
        }
        let _ = self.stream.shutdown(Shutdown::Both);
        self.buf = Vec::new();
    }
}

/// One read through an `N`-byte buffer on the stack, appended to `buf`. Not
/// inlined, so that only the buffer asked for is on the stack: the pages of
/// a larger one are never touched by a thread that does not use it.
#[inline(never)]
fn read_through<const N: usize>(stream: &TcpStream, buf: &mut Vec<u8>) -> io::Result<usize> {
    let mut chunk = [0u8; N];
    let read = (&*stream).read(&mut chunk);
    if let Ok(n) = read {
        buf.extend_from_slice(&chunk[..n]);
    }
    read
}

/// Incremental UTF-8 validation across fragments (§8.1: "if the data is found
/// not to be valid UTF-8, fail the connection" — as soon as it is found).
#[derive(Clone, Debug, Default)]
struct Utf8Stream {
    /// The start of a character cut off at the end of the last piece.
    pending: [u8; 4],
    len: usize,
}

impl Utf8Stream {
    /// Checks the next piece; `Err` as soon as the text so far cannot be UTF-8.
    fn feed(&mut self, mut bytes: &[u8]) -> Result<(), ()> {
        // First finish the character the last piece cut off.
        while self.len > 0 {
            let Some((&b, rest)) = bytes.split_first() else {
                return Ok(());
            };
            self.pending[self.len] = b;
            self.len += 1;
            bytes = rest;
            match std::str::from_utf8(&self.pending[..self.len]) {
                Ok(_) => self.len = 0,
                Err(e) if e.error_len().is_some() => return Err(()),
                Err(_) if self.len == 4 => return Err(()),
                Err(_) => {}
            }
        }
        match std::str::from_utf8(bytes) {
            Ok(_) => Ok(()),
            // Cut off in the middle of a character that can still be valid.
            Err(e) if e.error_len().is_none() => {
                let tail = &bytes[e.valid_up_to()..];
                self.pending[..tail.len()].copy_from_slice(tail);
                self.len = tail.len();
                Ok(())
            }
            Err(_) => Err(()),
        }
    }

    fn is_complete(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(pieces: &[&[u8]]) -> Result<bool, usize> {
        let mut utf8 = Utf8Stream::default();
        for (i, piece) in pieces.iter().enumerate() {
            utf8.feed(piece).map_err(|_| i)?;
        }
        Ok(utf8.is_complete())
    }

    /// A broadcaster's write that stops inside a frame leaves the rest owed:
    /// a ping sent meanwhile waits behind it, so the peer reads whole frames.
    #[test]
    fn a_frame_cut_by_a_short_write_is_finished_before_the_next() {
        use std::net::TcpListener;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (socket, _) = listener.accept().unwrap();
        socket
            .set_write_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let sender = Sender::new(Arc::new(socket), Role::Server);
        // The broadcaster's bound: writes give up after a few milliseconds.
        let socket = Arc::clone(&lock(&sender.writer).stream);
        socket
            .set_write_timeout(Some(Duration::from_millis(2)))
            .unwrap();
        let payload = vec![b'x'; 256 * 1024];
        let mut frames = Vec::new();
        frame::encode(&mut frames, true, OpCode::Text, &payload, None);
        // The peer reads nothing, so the socket's buffers fill up; stop at the
        // first write that took part of the frame (bounded: buffers are finite).
        let mut whole = 0;
        let rest = loop {
            assert!(whole < 1000, "no short write in 1000 frames");
            let written = sender.encoded_now(&frames).unwrap();
            if written == frames.len() {
                whole += 1;
            } else if written > 0 {
                break frames[written..].to_vec();
            }
        };
        assert!(lock(&sender.writer).owed);
        sender.ping(b"between").unwrap(); // deferred, not written into the cut
        let reader = std::thread::spawn(move || {
            peer.set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut wire = Vec::new();
            let mut chunk = vec![0u8; 64 * 1024];
            // Every whole frame, the cut one, then the ping (2 + 7 bytes).
            let expected = (whole + 1) * frames.len() + 9;
            while wire.len() < expected {
                let n = peer.read(&mut chunk).unwrap();
                assert!(n > 0, "closed early");
                wire.extend_from_slice(&chunk[..n]);
            }
            wire
        });
        sender.encoded(&rest).unwrap();
        assert!(!lock(&sender.writer).owed);
        let wire = reader.join().unwrap();
        let mut at = 0;
        for _ in 0..=whole {
            let Ok(Parsed::Complete { value, consumed }) =
                frame::parse(&wire[at..], Role::Client, 1 << 20)
            else {
                panic!("a whole frame at {at}");
            };
            assert_eq!(
                (value.opcode, value.payload.len()),
                (OpCode::Text, payload.len())
            );
            at += consumed;
        }
        let Ok(Parsed::Complete { value, .. }) = frame::parse(&wire[at..], Role::Client, 125)
        else {
            panic!("the ping after the frames");
        };
        assert_eq!(
            (value.opcode, &value.payload[..]),
            (OpCode::Ping, &b"between"[..])
        );
    }

    #[test]
    fn utf8_split_anywhere() {
        let text = "κόσμε ☃ 𝄞 done".as_bytes();
        for split in 0..=text.len() {
            assert_eq!(
                feed_all(&[&text[..split], &text[split..]]),
                Ok(true),
                "split {split}"
            );
        }
        for i in 0..text.len() {
            let pieces: Vec<&[u8]> = text.chunks(1).collect();
            assert_eq!(feed_all(&pieces), Ok(true), "{i}");
        }
    }

    #[test]
    fn utf8_fails_at_the_piece_that_breaks_it() {
        // Autobahn 6.4.1: a valid first piece, then the invalid F4 90 (> U+10FFFF).
        assert_eq!(
            feed_all(&["κόσμε".as_bytes(), &[0xF4, 0x90, 0x80, 0x80], b"edited"]),
            Err(1)
        );
        // The invalid continuation arrives one byte later than the lead byte.
        assert_eq!(feed_all(&[b"ab\xF0", b"\x28", b"cd"]), Err(1));
        assert_eq!(feed_all(&[b"\xC0\xAF"]), Err(0), "overlong");
        assert_eq!(feed_all(&[b"\xED\xA0\x80"]), Err(0), "surrogate");
        assert_eq!(
            feed_all(&[b"abc\xE2\x82"]),
            Ok(false),
            "incomplete at the end"
        );
    }

    #[test]
    fn close_codes() {
        for ok in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
        ] {
            assert!(valid_close_code(ok), "{ok}");
        }
        for bad in [
            0, 999, 1004, 1005, 1006, 1012, 1013, 1014, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ] {
            assert!(!valid_close_code(bad), "{bad}");
        }
    }

    #[test]
    fn mask_keys_differ() {
        let mut keys = MaskKeys::new();
        let a = keys.next();
        let b = keys.next();
        assert_ne!(a, b);
        assert_ne!(MaskKeys::new().seed, MaskKeys::new().seed);
    }
}
