//! The closing handshake (RFC 6455 §5.5.1, §7): which codes exist, who sends
//! what and when, and how TCP ends after it.
//!
//! ```text
//! the peer closes first                 we close first
//!   peer ── close 1000 ──▶ us             us ── close 1001 ──▶ peer
//!   peer ◀── close 1000 ── us (echo)      (data still arriving is dropped)
//!   us: FIN, read what is left, close     peer ── close 1001 ──▶ us
//!                                         us: FIN, read what is left, close
//! ```
//!
//! - A close frame's payload is empty, or a two-byte code a peer may send
//!   (§7.4) and a UTF-8 reason; anything else fails the connection
//!   ([`parse_close`]).
//! - A close from the peer is echoed with its code (§5.5.1), and then the
//!   server closes TCP first (§7.1.1).
//! - A close we send first waits up to [`WsConfig::close_timeout`] for the
//!   peer's, discarding data that arrives meanwhile; nothing but that close
//!   may follow ours.
//! - Failing the connection (§7.1.7) is sending a close with the violation's
//!   code, then closing TCP at once.
//! - TCP closes with a linger ([`close_after_reading`]): our FIN first, then
//!   what the peer still sends is read and dropped for a moment, so that an
//!   unread byte does not turn the close into a reset that destroys the close
//!   frame before the peer reads it.

#[cfg(doc)]
use super::session::WsConfig;
use super::session::{Error, Message, State, Violation, WebSocket};
use crate::net::close_after_reading;
use std::net::Shutdown;
use std::time::Duration;

/// The longest a closed connection lingers reading what the peer still sends.
const MAX_LINGER: Duration = Duration::from_secs(1);

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
    /// 1007: a text message that is not UTF-8.
    pub const INVALID_DATA: u16 = 1007;
    /// 1008: a message that breaks the endpoint's policy (a read-only
    /// subscriber that publishes).
    pub const POLICY: u16 = 1008;
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
/// The violation to fail the connection with: a payload of one byte or a
/// code a peer may not send (1002), a reason that is not UTF-8 (1007).
pub fn parse_close(payload: &[u8]) -> Result<Option<CloseFrame>, Violation> {
    match payload {
        [] => Ok(None),
        [_] => Err(Violation::CloseOfOneByte),
        [high, low, reason @ ..] => {
            let code = u16::from_be_bytes([*high, *low]);
            if !valid_close_code(code) {
                return Err(Violation::InvalidCloseCode);
            }
            let Ok(reason) = std::str::from_utf8(reason) else {
                return Err(Violation::CloseReasonNotUtf8);
            };
            Ok(Some(CloseFrame {
                code,
                reason: reason.to_owned(),
            }))
        }
    }
}

/// The body of a close frame (§5.5.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseFrame {
    /// The status code.
    pub code: u16,
    /// The reason, UTF-8, at most 123 bytes.
    pub reason: String,
}

impl WebSocket {
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
                Err(Error::Protocol(_) | Error::Idle | Error::ShuttingDown) => return Ok(None),
                Err(Error::Io(e)) => return Err(Error::Io(e)),
            }
        }
    }

    /// The peer's close frame (§5.5.1): check it, echo it if we had not closed,
    /// and close TCP.
    pub(super) fn on_close(&mut self, payload: &[u8]) -> Result<Message, Error> {
        let frame = match parse_close(payload) {
            Ok(frame) => frame,
            Err(violation) => return Err(self.fail(violation)),
        };
        // Echo the status code (§5.5.1), without the reason.
        let echo = frame
            .as_ref()
            .map_or_else(Vec::new, |f| f.code.to_be_bytes().to_vec());
        let _ = self.sender.close_with(&echo);
        self.finish_tcp();
        Ok(Message::Close(frame))
    }

    /// Fails the connection (§7.1.7): sends a close frame with the
    /// violation's code, closes TCP, and returns the error to report.
    pub(super) fn fail(&mut self, violation: Violation) -> Error {
        let _ = self.sender.close(violation.code(), violation.reason());
        self.finish_tcp();
        Error::Protocol(violation)
    }

    /// Says goodbye when the server's shutdown ended the reads: close 1001
    /// (going away), then TCP, with no linger (the reading side is shut
    /// already). A close sent before (a channel broadcaster's 1001) stands.
    pub(super) fn go_away_shutting_down(&mut self) -> Error {
        let _ = self.sender.close(code::GOING_AWAY, "server shutting down");
        self.state = State::Closed;
        self.partial = None;
        self.buf = Vec::new();
        let _ = self.socket.shutdown(Shutdown::Both);
        Error::ShuttingDown
    }

    /// Gives up on a peer silent past the idle timeout: close 1001 (going
    /// away), then TCP.
    pub(super) fn go_away_idle(&mut self) -> Error {
        let _ = self.sender.close(code::GOING_AWAY, "idle");
        self.finish_tcp();
        Error::Idle
    }

    /// Stops reading a connection whose input ended without a closing
    /// handshake: the peer left, or the server is shutting down and ended the
    /// reads itself. Only the reading side is shut: another thread may still be
    /// sending a last close frame (a channel broadcaster's 1001), and the socket closes
    /// when the last handle to it is dropped.
    pub(super) fn abandon(&mut self) {
        self.state = State::Closed;
        self.partial = None;
        self.buf = Vec::new();
        let _ = self.socket.shutdown(Shutdown::Read);
    }

    /// Closes TCP, server first (§7.1.1), with a linger of at most a second
    /// (see the module docs).
    pub(super) fn finish_tcp(&mut self) {
        self.state = State::Closed;
        self.partial = None;
        close_after_reading(&*self.socket, self.config.close_timeout.min(MAX_LINGER));
        self.buf = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
