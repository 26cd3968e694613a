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
//! ([`Violation`]) sends its close code with a short reason and ends the
//! connection (§7.1.7, "Fail the WebSocket Connection"). The closing
//! handshake is in `close.rs`, the sending half ([`Sender`]) in `sender.rs`.
//!
//! The session runs over any [`Socket`], so its tests use an in-memory pipe.

use super::close::{code, CloseFrame};
use super::frame::{self, Frame, FrameError, Header, OpCode, Role};
pub use super::sender::Sender;
use crate::codec::utf8::Utf8Stream;
use crate::codec::Parsed;
use crate::net::{is_timeout, Socket, Stopping};
use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    /// Whether permessage-deflate (RFC 7692) is negotiated when the peer
    /// offers it (a server) or offered (a client). Default true; feature
    /// `deflate`.
    #[cfg(feature = "deflate")]
    pub deflate: bool,
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
            #[cfg(feature = "deflate")]
            deflate: true,
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

/// Why a WebSocket operation failed.
#[derive(Debug)]
pub enum Error {
    /// The peer broke a rule; the connection was failed with the violation's
    /// close code.
    Protocol(Violation),
    /// The peer was silent past [`WsConfig::idle_timeout`]; the connection
    /// was closed with 1001 (going away).
    Idle,
    /// The server is shutting down: the session sent close 1001 (going away)
    /// and closed the connection.
    ShuttingDown,
    /// The connection is closed (the handshake finished, or it was failed).
    Closed,
    /// The socket failed, or the peer left without a closing handshake (1006).
    Io(io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Protocol(violation) => write!(f, "WebSocket failed: {violation}"),
            Error::Idle => f.write_str("WebSocket closed: the peer was idle"),
            Error::ShuttingDown => f.write_str("WebSocket closed: the server is shutting down"),
            Error::Closed => f.write_str("WebSocket closed"),
            Error::Io(e) => write!(f, "WebSocket I/O: {e}"),
        }
    }
}

/// A rule of RFC 6455, or a limit, that the peer broke, above the frame
/// format (whose rules are [`FrameError`]'s). Each fails the connection
/// (§7.1.7) with its close code (§7.4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Violation {
    /// A frame that breaks the frame format (§5.2, §5.5) or the frame limit.
    Frame(FrameError),
    /// A text or binary frame inside a fragmented message (§5.4): 1002.
    MessageInsideMessage,
    /// A continuation frame with no message to continue (§5.4): 1002.
    ContinuationOutsideMessage,
    /// A message over [`WsConfig::max_message`] (§10.4): 1009.
    MessageTooBig,
    /// Text that is not UTF-8 (§5.6, §8.1), found as soon as its bytes
    /// arrived: 1007.
    InvalidUtf8,
    /// A text message that ends inside a character (§8.1): 1007.
    TextEndsInsideCharacter,
    /// A close payload of one byte, which cannot hold a code (§5.5.1): 1002.
    CloseOfOneByte,
    /// A close code a peer may not send (§7.4.1, §7.4.2): 1002.
    InvalidCloseCode,
    /// A close reason that is not UTF-8 (§5.5.1): 1007.
    CloseReasonNotUtf8,
    /// A compressed message that does not inflate (RFC 7692 §6.2, RFC 1951):
    /// 1007.
    BadCompression,
}

impl Violation {
    /// The close code the connection is failed with (§7.4.1).
    pub fn code(self) -> u16 {
        use Violation::*;
        match self {
            Frame(error) => error.code(),
            MessageInsideMessage
            | ContinuationOutsideMessage
            | CloseOfOneByte
            | InvalidCloseCode => code::PROTOCOL,
            MessageTooBig => code::TOO_BIG,
            InvalidUtf8 | TextEndsInsideCharacter | CloseReasonNotUtf8 | BadCompression => {
                code::INVALID_DATA
            }
        }
    }

    /// The short reason sent in the close frame (at most 123 bytes).
    pub fn reason(self) -> &'static str {
        use Violation::*;
        match self {
            Frame(error) => error.reason(),
            MessageInsideMessage => "new message inside a fragmented one",
            ContinuationOutsideMessage => "continuation without a message",
            MessageTooBig => "message too large",
            InvalidUtf8 => "invalid UTF-8 in a text message",
            TextEndsInsideCharacter => "text message ends inside a character",
            CloseOfOneByte => "close payload of one byte",
            InvalidCloseCode => "invalid close code",
            CloseReasonNotUtf8 => "close reason is not UTF-8",
            BadCompression => "invalid compressed data",
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.reason(), self.code())
    }
}

impl std::error::Error for Error {}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        Error::Io(e)
    }
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
pub(super) struct Partial {
    text: bool,
    /// RSV1 on its first frame: the payload is compressed (RFC 7692).
    compressed: bool,
    data: Vec<u8>,
    utf8: Utf8Stream,
}

/// A frame whose header is here and whose payload is still arriving. The
/// payload is read straight into its own buffer, unmasked in place and (for
/// text) checked as it comes: a large frame is copied once, from the kernel,
/// and invalid UTF-8 fails the connection as soon as its bytes are here, even
/// in the middle of a frame (§8.1).
struct Arriving {
    header: Header,
    /// Room for the payload, grown [`LARGE_READ`] at a time; the first
    /// `received` bytes have arrived and are unmasked.
    payload: Vec<u8>,
    received: usize,
    /// For text: the UTF-8 state after the bytes received, the message's
    /// earlier fragments included.
    utf8: Option<Utf8Stream>,
}

impl Arriving {
    /// Unmasks and checks the `n` bytes just read after `received`.
    fn arrived(&mut self, n: usize) -> Result<(), Violation> {
        let new = &mut self.payload[self.received..self.received + n];
        if let Some(key) = self.header.mask {
            frame::apply_mask(new, key, self.received);
        }
        self.received += n;
        match self.utf8.as_mut().map(|utf8| utf8.feed(new)) {
            Some(Err(_)) => Err(Violation::InvalidUtf8),
            _ => Ok(()),
        }
    }

    fn is_complete(&self) -> bool {
        self.received as u64 == self.header.length
    }
}

/// One WebSocket connection: the reading half, and a [`Sender`] for writing.
pub struct WebSocket {
    pub(super) socket: Arc<dyn Socket>,
    pub(super) sender: Sender,
    role: Role,
    pub(super) config: WsConfig,
    pub(super) buf: Vec<u8>,
    pub(super) partial: Option<Partial>,
    arriving: Option<Arriving>,
    pub(super) state: State,
    last_heard: Instant,
    read_timeout: Option<Duration>,
    stopping: Option<Stopping>,
    /// permessage-deflate's receiving half, when negotiated.
    #[cfg(feature = "deflate")]
    decompressor: Option<super::deflate::Decompressor>,
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
/// The most one read asks for while a frame's payload arrives (the payload's
/// buffer grows by this much at most per read, so a peer that announces a
/// huge frame and sends little gets little memory).
const LARGE_READ: usize = 1 << 20;
/// The shortest read timeout the session sets: a timer due now still waits
/// this long, so that a late timer never spins.
const MIN_READ_TIMEOUT: Duration = Duration::from_millis(10);

impl WebSocket {
    /// Wraps a connection whose handshake is done. `leftover` holds bytes read
    /// past the handshake (the first frames, if the peer did not wait).
    pub fn new(
        socket: Arc<dyn Socket>,
        role: Role,
        config: WsConfig,
        leftover: Vec<u8>,
    ) -> WebSocket {
        WebSocket {
            sender: Sender::new(Arc::clone(&socket), role),
            socket,
            role,
            config,
            buf: leftover,
            partial: None,
            arriving: None,
            state: State::Open,
            last_heard: Instant::now(),
            read_timeout: None,
            stopping: None,
            #[cfg(feature = "deflate")]
            decompressor: None,
        }
    }

    /// Speaks permessage-deflate, as negotiated in the handshake: messages
    /// with RSV1 are inflated, and whole text and binary messages sent are
    /// compressed ([`super::deflate`]). Feature `deflate`.
    #[cfg(feature = "deflate")]
    pub fn with_deflate(
        mut self,
        (compressor, decompressor): (super::deflate::Compressor, super::deflate::Decompressor),
    ) -> WebSocket {
        self.sender.set_compressor(compressor);
        self.decompressor = Some(decompressor);
        self
    }

    /// Whether permessage-deflate was negotiated on this connection.
    pub fn deflate(&self) -> bool {
        self.rsv1()
    }

    /// Whether frames may carry RSV1: permessage-deflate was negotiated.
    fn rsv1(&self) -> bool {
        #[cfg(feature = "deflate")]
        return self.decompressor.is_some();
        #[cfg(not(feature = "deflate"))]
        false
    }

    /// Watches `stopping`, the server's shutdown signal: when shutdown ends
    /// this connection's reads, the session sends close 1001 (going away)
    /// and [`WebSocket::read`] returns [`Error::ShuttingDown`], instead of
    /// taking the end of input for a peer that left. [`accept`] does this
    /// for every server session.
    ///
    /// [`accept`]: super::accept
    pub fn watch_shutdown(mut self, stopping: Stopping) -> WebSocket {
        self.stopping = Some(stopping);
        self
    }

    /// True when the next message is already here whole, in one frame: the
    /// next [`WebSocket::read`] returns it without waiting for the socket. A
    /// server answering a burst of messages can gather its replies while this
    /// holds, and write them in one go when it does not (before `read` would
    /// wait), which saves a `write` per message.
    pub fn has_next_message(&self) -> bool {
        match frame::parse_header_with(&self.buf, self.role, self.config.max_frame, self.rsv1()) {
            Ok(Parsed::Complete { value, .. }) => {
                value.fin
                    && matches!(value.opcode, OpCode::Text | OpCode::Binary)
                    && self.buf.len() - value.size >= value.length as usize
            }
            _ => false,
        }
    }

    /// The connection's socket.
    pub fn socket(&self) -> &dyn Socket {
        &*self.socket
    }

    /// The peer's address (see [`Request::peer_addr`] for what it is behind
    /// a proxy); `None` over an in-memory socket.
    ///
    /// [`Request::peer_addr`]: crate::http::Request::peer_addr
    pub fn peer_addr(&self) -> Option<std::net::SocketAddr> {
        self.socket.peer_addr().ok()
    }

    /// The connection's socket, shared: for a thread that must reach it
    /// while this one reads.
    pub fn socket_handle(&self) -> Arc<dyn Socket> {
        Arc::clone(&self.socket)
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
            if let Some((frame, checked)) = self.next_frame()? {
                self.last_heard = Instant::now();
                if let Some(message) = self.handle(frame, checked)? {
                    return Ok(message);
                }
                continue;
            }
            self.fill()?;
        }
    }

    /// The next frame if it is here whole, with the UTF-8 state its payload
    /// was already checked to (a text frame that arrived in pieces). A frame
    /// whose header is here but not all its payload becomes the one
    /// [`Arriving`].
    fn next_frame(&mut self) -> Result<Option<(Frame, Option<Utf8Stream>)>, Error> {
        if let Some(arriving) = &self.arriving {
            if !arriving.is_complete() {
                return Ok(None);
            }
            let Arriving {
                header,
                payload,
                utf8,
                ..
            } = self.arriving.take().expect("bug: checked just above");
            let frame = Frame {
                fin: header.fin,
                opcode: header.opcode,
                compressed: header.compressed,
                payload,
            };
            return Ok(Some((frame, utf8)));
        }
        let header = match frame::parse_header_with(
            &self.buf,
            self.role,
            self.config.max_frame,
            self.rsv1(),
        ) {
            Err(error) => return Err(self.fail(Violation::Frame(error))),
            Ok(Parsed::NeedMore) => return Ok(None),
            Ok(Parsed::Complete { value, .. }) => value,
        };
        let here = self.buf.len() - header.size;
        if here as u64 >= header.length {
            // Whole in the buffer (small frames, and bursts of them).
            return match frame::parse_with(&self.buf, self.role, self.config.max_frame, self.rsv1())
            {
                Ok(Parsed::Complete { value, consumed }) => {
                    self.buf.drain(..consumed);
                    Ok(Some((value, None)))
                }
                _ => unreachable!("bug: a frame whose header parsed and whose bytes are all here"),
            };
        }
        // The payload continues past the buffer: it gets its own, and the
        // bytes already here move into it.
        let utf8 = match header.opcode {
            // Compressed text can only be checked once inflated.
            _ if header.compressed => None,
            OpCode::Text => Some(Utf8Stream::default()),
            OpCode::Continuation => self
                .partial
                .as_ref()
                .filter(|partial| partial.text && !partial.compressed)
                .map(|partial| partial.utf8.clone()),
            _ => None,
        };
        let mut payload = std::mem::take(&mut self.buf);
        payload.drain(..header.size);
        let mut arriving = Arriving {
            header,
            payload,
            received: 0,
            utf8,
        };
        let checked = arriving.arrived(here);
        self.arriving = Some(arriving);
        checked.map_err(|violation| self.fail(violation))?;
        Ok(None)
    }

    /// Reads more bytes, with a timeout that serves the keep-alive and closing
    /// rules: on expiry, ping the peer, give up on an idle one, or stop waiting
    /// for a close frame that does not come.
    fn fill(&mut self) -> Result<(), Error> {
        let timeout = self.next_timeout();
        if self.read_timeout != Some(timeout) {
            self.socket.set_read_timeout(Some(timeout))?;
            self.read_timeout = Some(timeout);
        }
        // A payload under way is read straight into its buffer; other reads
        // go through a buffer on the stack (an idle connection keeps no read
        // buffer).
        let read = if let Some(arriving) = self.arriving.as_mut() {
            let total = usize::try_from(arriving.header.length).expect("bug: at most max_frame");
            if arriving.received == arriving.payload.len() {
                let room = (total - arriving.received).min(LARGE_READ);
                arriving.payload.resize(arriving.received + room, 0);
            }
            match self.socket.read(&mut arriving.payload[arriving.received..]) {
                Ok(n) => match arriving.arrived(n) {
                    Ok(()) => Ok(n),
                    Err(violation) => return Err(self.fail(violation)),
                },
                Err(e) => Err(e),
            }
        } else if self.config.read_buffer <= QUIET_READ {
            read_through::<QUIET_READ>(&*self.socket, &mut self.buf)
        } else {
            read_through::<SMALL_READ>(&*self.socket, &mut self.buf)
        };
        match read {
            Ok(0) if self.stopping.as_ref().is_some_and(Stopping::is_set) => {
                Err(self.go_away_shutting_down())
            }
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

    fn next_timeout(&self) -> Duration {
        let floor = MIN_READ_TIMEOUT;
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
            return Err(self.go_away_idle());
        }
        if self.config.ping_interval.is_some() {
            // Keep-alive: a live peer answers with a pong, which counts as heard.
            let _ = self.sender.ping(b"");
        }
        Ok(())
    }

    /// Acts on one frame; returns a message when one is complete.
    /// `checked` is the UTF-8 state a text frame's payload was already
    /// checked to as it arrived.
    fn handle(
        &mut self,
        frame: Frame,
        checked: Option<Utf8Stream>,
    ) -> Result<Option<Message>, Error> {
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
                    return Err(self.fail(Violation::MessageInsideMessage));
                }
                let mut partial = Partial {
                    text: frame.opcode == OpCode::Text,
                    compressed: frame.compressed,
                    data: Vec::new(),
                    utf8: Utf8Stream::default(),
                };
                self.append(&mut partial, frame.payload, checked)?;
                self.complete_or_keep(partial, frame.fin)
            }
            OpCode::Continuation => {
                if frame.compressed {
                    // RSV1 belongs on a message's first frame only (RFC 7692 §6.1).
                    return Err(self.fail(Violation::Frame(FrameError::ReservedBits)));
                }
                let Some(mut partial) = self.partial.take() else {
                    return Err(self.fail(Violation::ContinuationOutsideMessage));
                };
                self.append(&mut partial, frame.payload, checked)?;
                self.complete_or_keep(partial, frame.fin)
            }
        }
    }

    /// Checks a fragment against the message limit and (for text) UTF-8,
    /// unless it was `checked` as it arrived, and adds it to the message. The
    /// first fragment's buffer becomes the message's, so an unfragmented
    /// message is never copied.
    fn append(
        &mut self,
        partial: &mut Partial,
        payload: Vec<u8>,
        checked: Option<Utf8Stream>,
    ) -> Result<(), Error> {
        if partial.data.len() + payload.len() > self.config.max_message {
            return Err(self.fail(Violation::MessageTooBig));
        }
        if partial.text && !partial.compressed {
            match checked {
                Some(utf8) => partial.utf8 = utf8,
                None if partial.utf8.feed(&payload).is_err() => {
                    return Err(self.fail(Violation::InvalidUtf8))
                }
                None => {}
            }
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
        #[cfg(feature = "deflate")]
        if partial.compressed {
            let limit = self.config.max_message;
            let inflated = match self.decompressor.as_mut() {
                Some(decompressor) => decompressor.decompress(&partial.data, limit),
                None => Err(crate::codec::inflate::InflateError::BadSymbol),
            };
            let data = match inflated {
                Ok(data) => data,
                Err(crate::codec::inflate::InflateError::TooLarge) => {
                    return Err(self.fail(Violation::MessageTooBig))
                }
                Err(_) => return Err(self.fail(Violation::BadCompression)),
            };
            if !partial.text {
                return Ok(Some(Message::Binary(data)));
            }
            return match String::from_utf8(data) {
                Ok(text) => Ok(Some(Message::Text(text))),
                Err(_) => Err(self.fail(Violation::InvalidUtf8)),
            };
        }
        if !partial.text {
            return Ok(Some(Message::Binary(partial.data)));
        }
        if !partial.utf8.is_complete() {
            return Err(self.fail(Violation::TextEndsInsideCharacter));
        }
        match String::from_utf8(partial.data) {
            Ok(text) => Ok(Some(Message::Text(text))),
            Err(_) => Err(self.fail(Violation::InvalidUtf8)),
        }
    }
}

/// One read through an `N`-byte buffer on the stack, appended to `buf`. Not
/// inlined, so that only the buffer asked for is on the stack: the pages of
/// a larger one are never touched by a thread that does not use it.
#[inline(never)]
fn read_through<const N: usize>(socket: &dyn Socket, buf: &mut Vec<u8>) -> io::Result<usize> {
    let mut chunk = [0u8; N];
    let read = socket.read(&mut chunk);
    if let Ok(n) = read {
        buf.extend_from_slice(&chunk[..n]);
    }
    read
}

#[cfg(test)]
mod tests {
    //! The session over an in-memory pipe, the test playing the client with
    //! hand-made frames: no ports, and no sleeps but the session's own timers,
    //! set short.
    use super::*;
    use crate::net::{pipe, PipeEnd};
    use std::io::Write;
    use std::thread;

    const LIVENESS: Duration = Duration::from_secs(10);
    const KEY: [u8; 4] = [0x12, 0x34, 0x56, 0x78];

    /// A server session and the client's end of its socket.
    fn session(config: WsConfig) -> (WebSocket, PipeEnd) {
        let (client, server) = pipe(64 * 1024);
        client.set_read_timeout(Some(LIVENESS)).unwrap();
        (
            WebSocket::new(Arc::new(server), Role::Server, config, Vec::new()),
            client,
        )
    }

    /// Sends one masked frame, as a client must (§5.1).
    fn send(client: &PipeEnd, fin: bool, opcode: OpCode, payload: &[u8]) {
        let mut frame = Vec::new();
        frame::encode(&mut frame, fin, opcode, payload, Some(KEY));
        client.write(&frame).unwrap();
    }

    /// The next frame from the server; `None` when it closed the connection.
    fn receive(client: &PipeEnd, buf: &mut Vec<u8>) -> Option<Frame> {
        loop {
            if let Ok(Parsed::Complete { value, consumed }) =
                frame::parse(buf, Role::Client, 1 << 20)
            {
                buf.drain(..consumed);
                return Some(value);
            }
            let mut chunk = [0u8; 1024];
            match client.read(&mut chunk).unwrap() {
                0 => return None,
                n => buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// The next read fails for invalid UTF-8, and the peer gets close 1007.
    fn fails_with_invalid_utf8(ws: &mut WebSocket, client: &PipeEnd) {
        let failed = ws.read();
        assert!(
            matches!(failed, Err(Error::Protocol(Violation::InvalidUtf8))),
            "{failed:?}"
        );
        let close = receive(client, &mut Vec::new()).unwrap();
        assert_eq!(close_code(&close), code::INVALID_DATA);
    }

    fn close_code(frame: &Frame) -> u16 {
        assert_eq!(frame.opcode, OpCode::Close);
        u16::from_be_bytes([frame.payload[0], frame.payload[1]])
    }

    #[test]
    fn the_peer_closes_first_and_gets_its_code_back_then_the_end() {
        let (mut ws, client) = session(WsConfig::default());
        send(
            &client,
            true,
            OpCode::Close,
            &[0x03, 0xE8, b'b', b'y', b'e'],
        );
        let closed = ws.read().unwrap();
        assert_eq!(
            closed,
            Message::Close(Some(CloseFrame {
                code: 1000,
                reason: "bye".into()
            }))
        );
        let mut buf = Vec::new();
        let echo = receive(&client, &mut buf).unwrap();
        assert_eq!(
            echo.payload,
            [0x03, 0xE8],
            "the code echoed, not the reason"
        );
        assert!(receive(&client, &mut buf).is_none(), "then TCP closes");
        assert_eq!(ws.state(), State::Closed);
        assert!(matches!(ws.read(), Err(Error::Closed)));
    }

    #[test]
    fn we_close_first_drop_the_data_that_crosses_and_wait_for_the_peers_close() {
        let (mut ws, client) = session(WsConfig::default());
        let closing = thread::spawn(move || ws.close(code::GOING_AWAY, "bye"));
        let mut buf = Vec::new();
        let ours = receive(&client, &mut buf).unwrap();
        assert_eq!(close_code(&ours), 1001);
        assert_eq!(&ours.payload[2..], b"bye");
        send(&client, true, OpCode::Text, b"crossed on the wire");
        send(&client, true, OpCode::Close, &1001u16.to_be_bytes());
        let theirs = closing.join().unwrap().unwrap();
        assert_eq!(theirs.map(|f| f.code), Some(1001));
        assert!(
            receive(&client, &mut buf).is_none(),
            "nothing after our close"
        );
    }

    #[test]
    fn we_close_first_and_give_up_on_a_peer_that_never_answers() {
        let config = WsConfig {
            close_timeout: Duration::from_millis(50),
            ..WsConfig::default()
        };
        let (mut ws, client) = session(config);
        let closing = thread::spawn(move || ws.close(code::NORMAL, ""));
        let mut buf = Vec::new();
        assert_eq!(close_code(&receive(&client, &mut buf).unwrap()), 1000);
        assert_eq!(closing.join().unwrap().unwrap(), None);
        assert!(receive(&client, &mut buf).is_none());
    }

    #[test]
    fn a_ping_is_answered_with_its_payload_between_fragments() {
        let (mut ws, client) = session(WsConfig::default());
        send(&client, false, OpCode::Text, "κό".as_bytes());
        send(&client, true, OpCode::Ping, b"still there?");
        send(&client, true, OpCode::Continuation, "σμε".as_bytes());
        assert_eq!(ws.read().unwrap(), Message::Text("κόσμε".into()));
        let pong = receive(&client, &mut Vec::new()).unwrap();
        assert_eq!(
            (pong.opcode, &pong.payload[..]),
            (OpCode::Pong, &b"still there?"[..])
        );
    }

    #[test]
    fn a_silent_peer_is_pinged_then_given_up_with_1001() {
        let config = WsConfig {
            ping_interval: Some(Duration::from_millis(20)),
            idle_timeout: Duration::from_millis(100),
            ..WsConfig::default()
        };
        let (mut ws, client) = session(config);
        let reading = thread::spawn(move || ws.read());
        let mut buf = Vec::new();
        let ping = receive(&client, &mut buf).unwrap();
        assert_eq!(ping.opcode, OpCode::Ping);
        let mut last = ping;
        while last.opcode == OpCode::Ping {
            last = receive(&client, &mut buf).unwrap();
        }
        assert_eq!(close_code(&last), code::GOING_AWAY);
        assert!(matches!(reading.join().unwrap(), Err(Error::Idle)));
    }

    #[test]
    fn invalid_utf8_split_across_fragments_fails_with_1007_at_the_second() {
        let (mut ws, client) = session(WsConfig::default());
        // F0 9F starts a 4-byte character; '(' cannot continue it.
        send(&client, false, OpCode::Text, b"ok\xF0\x9F");
        send(&client, true, OpCode::Continuation, b"(x");
        fails_with_invalid_utf8(&mut ws, &client);
    }

    /// A frame larger than the pipe and the read buffer, written in pieces
    /// that cut its header, its UTF-8 characters and its mask's cycle: read
    /// straight into its own buffer, it arrives whole, then the frame after it.
    #[test]
    fn a_large_frame_arrives_in_pieces_and_is_read_whole() {
        let (mut ws, client) = session(WsConfig::default());
        let text = "κόσμε ☃ 𝄞 ".repeat(10_000);
        let mut wire = Vec::new();
        frame::encode(&mut wire, true, OpCode::Text, text.as_bytes(), Some(KEY));
        frame::encode(&mut wire, true, OpCode::Binary, b"after", Some(KEY));
        let writer = thread::spawn(move || {
            for piece in wire.chunks(7_919) {
                (&client).write_all(piece).unwrap();
            }
            client
        });
        assert!(matches!(ws.read(), Ok(Message::Text(t)) if t == text));
        assert!(matches!(ws.read(), Ok(Message::Binary(b)) if b == b"after"));
        writer.join().unwrap();
    }

    /// Invalid UTF-8 in the part of a large frame that has arrived fails the
    /// connection then, not when (or if) the rest of the frame comes (§8.1).
    #[test]
    fn invalid_utf8_inside_a_large_frame_fails_before_its_end() {
        let (mut ws, client) = session(WsConfig::default());
        let mut text = vec![b'a'; 100_000];
        text[5_000] = 0xFF;
        let mut wire = Vec::new();
        frame::encode(&mut wire, true, OpCode::Text, &text, Some(KEY));
        (&client).write_all(&wire[..10_000]).unwrap(); // the rest never comes
        fails_with_invalid_utf8(&mut ws, &client);
    }

    #[test]
    fn each_violation_closes_with_its_code() {
        type Frames<'a> = &'a [(bool, OpCode, &'a [u8])];
        let cases: [(Frames, Violation); 4] = [
            (
                &[(true, OpCode::Continuation, b"x")],
                Violation::ContinuationOutsideMessage,
            ),
            (
                &[(false, OpCode::Text, b"a"), (true, OpCode::Binary, b"b")],
                Violation::MessageInsideMessage,
            ),
            (&[(true, OpCode::Close, &[0x03])], Violation::CloseOfOneByte),
            (
                &[(true, OpCode::Close, &[0x03, 0xED])],
                Violation::InvalidCloseCode,
            ),
        ];
        // A failed connection lingers for the peer's close at most this long.
        let config = WsConfig {
            close_timeout: Duration::from_millis(20),
            ..WsConfig::default()
        };
        for (frames, violation) in cases {
            let (mut ws, client) = session(config.clone());
            for &(fin, opcode, payload) in frames {
                send(&client, fin, opcode, payload);
            }
            let failed = ws.read();
            assert!(
                matches!(failed, Err(Error::Protocol(v)) if v == violation),
                "{violation:?}: {failed:?}"
            );
            let close = receive(&client, &mut Vec::new()).unwrap();
            assert_eq!(close_code(&close), violation.code(), "{violation:?}");
            assert_eq!(&close.payload[2..], violation.reason().as_bytes());
        }
    }
}
