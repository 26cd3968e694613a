//! The sending half of a WebSocket (RFC 6455 §5.1, §5.4, §5.5): frames
//! written whole, from any thread.
//!
//! A [`Sender`] is a cloneable handle around one `Mutex`, so that two threads
//! can send on one socket (the channel endpoint's reader answers pings while
//! the channel's broadcaster writes channel messages) and no frame is ever
//! interleaved with another. Nothing may follow a close frame (§5.5.1). A
//! broadcaster's bounded write may stop inside a frame; its rest is then owed,
//! and frames sent meanwhile (a pong, a close) wait behind it.

use super::client::MaskKeys;
use super::frame::{self, OpCode, Role};
use super::session::Error;
use crate::net::{write_all_before, write_now, Socket};
use crate::sync::lock;
use std::fmt;
use std::io::{self, Write};
use std::net::Shutdown;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The largest frame buffer a sender keeps between frames: frames up to
/// 64 KiB of payload and their header reuse it, and a 16 MiB frame's buffer
/// is not kept for the 16-byte frames after it.
const KEPT_FRAME_BUFFER: usize = 64 * 1024 + frame::MAX_HEADER;

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
    socket: Arc<dyn Socket>,
    /// How long one frame may take to write, at most: the socket's write
    /// timeout when the session began. A subscription shortens the socket's
    /// own timeout for its broadcaster's writes; frames sent here still get
    /// this long.
    patience: Option<Duration>,
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
    /// permessage-deflate's sending half, when negotiated: whole text and
    /// binary messages go out compressed.
    #[cfg(feature = "deflate")]
    compressor: Option<super::deflate::Compressor>,
}

/// The most frame bytes that may wait behind an owed rest: pongs and a close
/// frame are small, and a peer that pings while it reads nothing is not kept.
const MAX_DEFERRED: usize = 16 * 1024;

impl Sender {
    pub(super) fn new(socket: Arc<dyn Socket>, role: Role) -> Sender {
        Sender {
            writer: Arc::new(Mutex::new(Writer {
                patience: socket.write_timeout().ok().flatten(),
                socket,
                role,
                close_sent: None,
                owed: false,
                deferred: Vec::new(),
                masks: (role == Role::Client).then(MaskKeys::new),
                frame: Vec::new(),
                #[cfg(feature = "deflate")]
                compressor: None,
            })),
        }
    }

    /// Compresses whole messages from now on (permessage-deflate).
    #[cfg(feature = "deflate")]
    pub(super) fn set_compressor(&self, compressor: super::deflate::Compressor) {
        lock(&self.writer).compressor = Some(compressor);
    }

    /// Appends one whole message's frame to `out`, compressed if
    /// permessage-deflate was negotiated, for a caller that gathers several
    /// and sends them with [`Sender::encoded`]. A server's frames only (a
    /// client's must be masked as they are sent).
    pub fn encode_message(&self, out: &mut Vec<u8>, opcode: OpCode, payload: &[u8]) {
        #[cfg(feature = "deflate")]
        if let Some(compressor) = lock(&self.writer).compressor.as_mut() {
            let mut compressed = Vec::new();
            compressor.compress(payload, &mut compressed);
            frame::encode_with(out, true, true, opcode, &compressed, None);
            return;
        }
        frame::encode(out, true, opcode, payload, None);
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
        // A whole data message is compressed when the extension is on; a
        // fragment of one, and control frames, never (RFC 7692 §6).
        let whole_data = fin && matches!(opcode, OpCode::Text | OpCode::Binary);
        writer.write_frame(opcode, payload, fin, whole_data)?;
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

    pub(super) fn close_with(&self, payload: &[u8]) -> Result<bool, Error> {
        let mut writer = lock(&self.writer);
        if writer.close_sent.is_some() {
            return Ok(false);
        }
        writer.close_sent = Some(Instant::now());
        writer.write_frame(OpCode::Close, payload, true, false)?;
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
        let written = write_now(&mut &*writer.socket, frames)?;
        // Stopped inside the frames: no other frame may start before the rest.
        writer.owed = 0 < written && written < frames.len();
        Ok(written)
    }

    /// Gives up on the connection: shuts the socket both ways, so that the
    /// thread reading it stops too. For a write that failed half-way (a peer
    /// that stopped reading until the write timeout), after which no frame
    /// boundary can be trusted.
    pub fn abort(&self) {
        let _ = lock(&self.writer).socket.shutdown(Shutdown::Both);
    }

    /// True once a close frame was sent.
    pub fn is_closing(&self) -> bool {
        lock(&self.writer).close_sent.is_some()
    }

    pub(super) fn close_sent_at(&self) -> Option<Instant> {
        lock(&self.writer).close_sent
    }

    pub(super) fn pong(&self, payload: &[u8]) -> Result<(), Error> {
        self.send(OpCode::Pong, payload)
    }
}

impl Writer {
    fn write_frame(
        &mut self,
        opcode: OpCode,
        payload: &[u8],
        fin: bool,
        may_compress: bool,
    ) -> io::Result<()> {
        let mask = match self.role {
            Role::Client => Some(self.masks.get_or_insert_with(MaskKeys::new).next()),
            Role::Server => None,
        };
        let mut frame = std::mem::take(&mut self.frame);
        frame.clear();
        #[cfg(feature = "deflate")]
        let compressed = match self.compressor.as_mut().filter(|_| may_compress) {
            Some(compressor) => {
                let mut compressed = Vec::new();
                compressor.compress(payload, &mut compressed);
                Some(compressed)
            }
            None => None,
        };
        #[cfg(not(feature = "deflate"))]
        let compressed: Option<Vec<u8>> = {
            let _ = may_compress;
            None
        };
        match &compressed {
            Some(compressed) => frame::encode_with(&mut frame, fin, true, opcode, compressed, mask),
            None => frame::encode(&mut frame, fin, opcode, payload, mask),
        }
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
        if frame.capacity() <= KEPT_FRAME_BUFFER {
            self.frame = frame;
        }
        written
    }

    /// Writes `bytes` whole within the writer's patience.
    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut socket = &*self.socket;
        match self.patience {
            Some(patience) => write_all_before(&mut socket, bytes, Instant::now() + patience),
            None => socket.write_all(bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Parsed;
    use crate::net::pipe;

    /// A broadcaster's write that stops inside a frame leaves the rest owed:
    /// a ping sent meanwhile waits behind it, so the peer reads whole frames.
    #[test]
    fn a_frame_cut_by_a_short_write_is_finished_before_the_next() {
        // Room for one frame and a half in flight.
        let (peer, socket) = pipe(384 * 1024);
        socket
            .set_write_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let sender = Sender::new(Arc::new(socket), Role::Server);
        // The broadcaster's bound: writes give up after a few milliseconds.
        let socket = Arc::clone(&lock(&sender.writer).socket);
        socket
            .set_write_timeout(Some(Duration::from_millis(2)))
            .unwrap();
        let payload = vec![b'x'; 256 * 1024];
        let mut frames = Vec::new();
        frame::encode(&mut frames, true, OpCode::Text, &payload, None);
        // The peer reads nothing, so the pipe fills up; stop at the first
        // write that took part of the frame.
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
}
