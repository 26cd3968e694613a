//! The WebSocket frame: its header, masking, and the rules every frame must keep
//! (RFC 6455 §5.2–§5.5).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-------+-+-------------+-------------------------------+
//! |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//! |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//! |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//! | |1|2|3|       |K|             |                               |
//! +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//! |     Extended payload length continued, if payload len == 127  |
//! + - - - - - - - - - - - - - - - +-------------------------------+
//! |                               |Masking-key, if MASK set to 1  |
//! +-------------------------------+-------------------------------+
//! | Masking-key (continued)       |          Payload Data         |
//! +-------------------------------- - - - - - - - - - - - - - - - +
//! ```
//!
//! [`parse`] is a pure function over the bytes received so far: it answers
//! *need more* until a whole frame is there, checks each rule as soon as the
//! header shows it (so an oversized frame is refused before its payload is
//! read or allocated), and unmasks the payload. [`encode`] writes a frame with
//! the shortest length encoding, as §5.2 requires of a sender.

use crate::codec::Parsed;
use std::fmt;

/// FIN: this is the last frame of a message (§5.2).
pub const FIN: u8 = 0x80;
/// RSV1–RSV3: zero unless an extension defines them (§5.2).
pub const RSV: u8 = 0x70;
/// RSV1, which permessage-deflate sets on a compressed message's first frame
/// (RFC 7692 §6).
pub const RSV1: u8 = 0x40;
/// The opcode bits of the first byte.
pub const OPCODE: u8 = 0x0F;
/// MASK: the payload is masked; set on every client frame, never on a server's
/// (§5.1, §5.3).
pub const MASK: u8 = 0x80;
/// The 7-bit payload length of the second byte.
pub const LENGTH: u8 = 0x7F;
/// A 7-bit length of 126 means a 16-bit length follows (§5.2).
pub const LENGTH_16: u8 = 126;
/// A 7-bit length of 127 means a 64-bit length follows (§5.2).
pub const LENGTH_64: u8 = 127;
/// A control frame carries at most 125 bytes (§5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;
/// The opcode bit that marks a control frame (§5.2: opcodes 0x8–0xF).
pub const CONTROL: u8 = 0x8;
/// The longest frame header: two bytes, eight of extended length and four of
/// masking key.
pub const MAX_HEADER: usize = 2 + 8 + 4;

/// The opcodes of RFC 6455 §5.2; the others are reserved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpCode {
    /// 0x0: a continuation of a fragmented message.
    Continuation,
    /// 0x1: the first frame of a text message (UTF-8).
    Text,
    /// 0x2: the first frame of a binary message.
    Binary,
    /// 0x8: close (§5.5.1).
    Close,
    /// 0x9: ping (§5.5.2).
    Ping,
    /// 0xA: pong (§5.5.3).
    Pong,
}

impl OpCode {
    fn from_bits(bits: u8) -> Option<OpCode> {
        Some(match bits {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            _ => return None,
        })
    }

    /// The four bits on the wire.
    pub fn bits(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
        }
    }

    /// Control frames are close, ping and pong (opcodes with the high bit set, §5.5).
    pub fn is_control(self) -> bool {
        self.bits() & CONTROL != 0
    }
}

/// Which end of the connection reads: it decides which masking is required.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The server reads masked frames and writes unmasked ones.
    Server,
    /// The client reads unmasked frames and writes masked ones.
    Client,
}

/// A frame with its payload unmasked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Whether this is the last frame of its message.
    pub fin: bool,
    /// What the frame is.
    pub opcode: OpCode,
    /// RSV1: the message is compressed (only when permessage-deflate was
    /// negotiated; see [`parse_with`]).
    pub compressed: bool,
    /// The payload, unmasked.
    pub payload: Vec<u8>,
}

/// A frame that breaks RFC 6455. Each variant is one rule; [`FrameError::code`]
/// is the close code it is answered with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// RSV1–3 set without a negotiated extension (§5.2): 1002.
    ReservedBits,
    /// A reserved opcode (§5.2): 1002.
    ReservedOpcode,
    /// A client frame without MASK (§5.1: the server MUST close): 1002.
    Unmasked,
    /// A server frame with MASK (§5.1: the client MUST close): 1002.
    Masked,
    /// A control frame without FIN (§5.5: never fragmented): 1002.
    FragmentedControl,
    /// A control frame over 125 bytes (§5.5): 1002.
    ControlTooLong,
    /// A 64-bit length with its most significant bit set (§5.2): 1002.
    LengthOverflow,
    /// A payload over the configured frame limit: 1009.
    TooLarge,
}

impl FrameError {
    /// The close code (§7.4.1): 1002 protocol error, or 1009 too big.
    pub fn code(self) -> u16 {
        match self {
            FrameError::TooLarge => 1009,
            _ => 1002,
        }
    }

    /// A short reason for the close frame (at most 123 bytes).
    pub fn reason(self) -> &'static str {
        match self {
            FrameError::ReservedBits => "reserved bits set",
            FrameError::ReservedOpcode => "reserved opcode",
            FrameError::Unmasked => "client frame not masked",
            FrameError::Masked => "server frame masked",
            FrameError::FragmentedControl => "fragmented control frame",
            FrameError::ControlTooLong => "control frame payload over 125 bytes",
            FrameError::LengthOverflow => "payload length with the high bit set",
            FrameError::TooLarge => "frame too large",
        }
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.reason(), self.code())
    }
}

impl std::error::Error for FrameError {}

/// A frame's header, as far as [`parse_header`] could read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// FIN.
    pub fin: bool,
    /// The opcode.
    pub opcode: OpCode,
    /// RSV1 (see [`Frame::compressed`]).
    pub compressed: bool,
    /// The masking key, if MASK is set.
    pub mask: Option<[u8; 4]>,
    /// The payload length.
    pub length: u64,
    /// The header's own length in bytes (2 to 14).
    pub size: usize,
}

/// Reads a frame header from the start of `buf` and checks it, in the order of
/// §5.2's fields, against the rules for frames `role` receives.
///
/// # Errors
///
/// The first rule the header breaks; see [`FrameError`].
pub fn parse_header(
    buf: &[u8],
    role: Role,
    max_payload: usize,
) -> Result<Parsed<Header>, FrameError> {
    parse_header_with(buf, role, max_payload, false)
}

/// [`parse_header`] on a connection that negotiated permessage-deflate:
/// with `rsv1` true, RSV1 may be set on a data frame (RFC 7692 §6), never on
/// a control frame (§6.1).
///
/// # Errors
///
/// As [`parse_header`].
pub fn parse_header_with(
    buf: &[u8],
    role: Role,
    max_payload: usize,
    rsv1: bool,
) -> Result<Parsed<Header>, FrameError> {
    let [first, second, ..] = *buf else {
        return Ok(Parsed::NeedMore);
    };
    // 1. FIN, RSV1-3, opcode.
    let allowed = if rsv1 { RSV1 } else { 0 };
    if first & RSV & !allowed != 0 {
        return Err(FrameError::ReservedBits);
    }
    let compressed = first & RSV1 != 0;
    let opcode = OpCode::from_bits(first & OPCODE).ok_or(FrameError::ReservedOpcode)?;
    if compressed && opcode.is_control() {
        return Err(FrameError::ReservedBits);
    }
    let fin = first & FIN != 0;
    if opcode.is_control() && !fin {
        return Err(FrameError::FragmentedControl);
    }
    // 2. MASK: clients mask, servers do not.
    let masked = second & MASK != 0;
    match (role, masked) {
        (Role::Server, false) => return Err(FrameError::Unmasked),
        (Role::Client, true) => return Err(FrameError::Masked),
        _ => {}
    }
    // 3. The payload length: 7 bits, or 126 + 16 bits, or 127 + 64 bits.
    let (length, mut size) = match second & LENGTH {
        LENGTH_16 => match buf.get(2..4) {
            Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
            None => return Ok(Parsed::NeedMore),
        },
        LENGTH_64 => match buf.get(2..10) {
            Some(b) => {
                let length = u64::from_be_bytes(b.try_into().expect("bug: 8 bytes"));
                if length >> 63 != 0 {
                    return Err(FrameError::LengthOverflow);
                }
                (length, 10)
            }
            None => return Ok(Parsed::NeedMore),
        },
        short => (u64::from(short), 2),
    };
    if opcode.is_control() && length > MAX_CONTROL_PAYLOAD as u64 {
        return Err(FrameError::ControlTooLong);
    }
    if length > max_payload as u64 {
        return Err(FrameError::TooLarge);
    }
    // 4. The masking key.
    let mask = if masked {
        let Some(key) = buf.get(size..size + 4) else {
            return Ok(Parsed::NeedMore);
        };
        size += 4;
        Some([key[0], key[1], key[2], key[3]])
    } else {
        None
    };
    Ok(Parsed::Complete {
        value: Header {
            fin,
            opcode,
            compressed,
            mask,
            length,
            size,
        },
        consumed: size,
    })
}

/// Reads one whole frame from the start of `buf`, unmasking its payload.
///
/// # Errors
///
/// As [`parse_header`].
pub fn parse(buf: &[u8], role: Role, max_payload: usize) -> Result<Parsed<Frame>, FrameError> {
    parse_with(buf, role, max_payload, false)
}

/// [`parse`] on a connection that negotiated permessage-deflate (`rsv1`;
/// see [`parse_header_with`]).
///
/// # Errors
///
/// As [`parse_header`].
pub fn parse_with(
    buf: &[u8],
    role: Role,
    max_payload: usize,
    rsv1: bool,
) -> Result<Parsed<Frame>, FrameError> {
    let header = match parse_header_with(buf, role, max_payload, rsv1)? {
        Parsed::Complete { value, .. } => value,
        Parsed::NeedMore => return Ok(Parsed::NeedMore),
    };
    // The length is at most max_payload, a usize, by the check above.
    let end = header.size + header.length as usize;
    let Some(payload) = buf.get(header.size..end) else {
        return Ok(Parsed::NeedMore);
    };
    let mut payload = payload.to_vec();
    if let Some(key) = header.mask {
        apply_mask(&mut payload, key, 0);
    }
    Ok(Parsed::Complete {
        value: Frame {
            fin: header.fin,
            opcode: header.opcode,
            compressed: header.compressed,
            payload,
        },
        consumed: end,
    })
}

/// XORs `data` with the masking key (§5.3): byte `i` of the payload with byte
/// `(offset + i) % 4` of the key. Masking and unmasking are the same operation.
pub fn apply_mask(data: &mut [u8], key: [u8; 4], offset: usize) {
    let mut key = key;
    key.rotate_left(offset % 4);
    // Eight bytes at a time, with the key repeated twice as a u64.
    let wide = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let word = u64::from_ne_bytes(chunk.try_into().expect("bug: 8 bytes")) ^ wide;
        chunk.copy_from_slice(&word.to_ne_bytes());
    }
    for (i, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= key[i % 4];
    }
}

/// Appends a frame to `out`: FIN as given, no RSV bits, the shortest length
/// encoding (§5.2: "the minimal number of bytes MUST be used"), and the payload
/// masked with `mask` if given (clients must mask, servers must not).
pub fn encode(out: &mut Vec<u8>, fin: bool, opcode: OpCode, payload: &[u8], mask: Option<[u8; 4]>) {
    encode_with(out, fin, false, opcode, payload, mask);
}

/// [`encode`], with RSV1 set when `compressed` (the first frame of a
/// permessage-deflate message, RFC 7692 §6).
pub fn encode_with(
    out: &mut Vec<u8>,
    fin: bool,
    compressed: bool,
    opcode: OpCode,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) {
    out.reserve(payload.len() + 14);
    out.push(if fin { FIN } else { 0 } | if compressed { RSV1 } else { 0 } | opcode.bits());
    let mask_bit = if mask.is_some() { MASK } else { 0 };
    match payload.len() {
        len if len < LENGTH_16 as usize => out.push(mask_bit | len as u8),
        len if len <= u16::MAX as usize => {
            out.push(mask_bit | LENGTH_16);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            out.push(mask_bit | LENGTH_64);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    match mask {
        Some(key) => {
            out.extend_from_slice(&key);
            let start = out.len();
            out.extend_from_slice(payload);
            apply_mask(&mut out[start..], key, 0);
        }
        None => out.extend_from_slice(payload),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 1 << 20;

    fn frame(buf: &[u8], role: Role) -> Frame {
        match parse(buf, role, MAX) {
            Ok(Parsed::Complete { value, consumed }) => {
                assert_eq!(consumed, buf.len());
                value
            }
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    fn error(buf: &[u8], role: Role) -> FrameError {
        parse(buf, role, MAX).expect_err("expected an error")
    }

    // RFC 6455 §5.7, the examples.
    const UNMASKED_HELLO: &[u8] = &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    const MASKED_HELLO: &[u8] = &[
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    const FRAGMENT_HEL: &[u8] = &[0x01, 0x03, 0x48, 0x65, 0x6c];
    const FRAGMENT_LO: &[u8] = &[0x80, 0x02, 0x6c, 0x6f];
    const UNMASKED_PING: &[u8] = &[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    const MASKED_PONG: &[u8] = &[
        0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];

    #[test]
    fn rfc_5_7_single_frame_unmasked_text() {
        let f = frame(UNMASKED_HELLO, Role::Client);
        assert_eq!(
            (f.fin, f.opcode, f.payload.as_slice()),
            (true, OpCode::Text, &b"Hello"[..])
        );
    }

    #[test]
    fn rfc_5_7_single_frame_masked_text() {
        let f = frame(MASKED_HELLO, Role::Server);
        assert_eq!(
            (f.fin, f.opcode, f.payload.as_slice()),
            (true, OpCode::Text, &b"Hello"[..])
        );
    }

    #[test]
    fn rfc_5_7_fragmented_unmasked_text() {
        let first = frame(FRAGMENT_HEL, Role::Client);
        assert_eq!(
            (first.fin, first.opcode, first.payload.as_slice()),
            (false, OpCode::Text, &b"Hel"[..])
        );
        let last = frame(FRAGMENT_LO, Role::Client);
        assert_eq!(
            (last.fin, last.opcode, last.payload.as_slice()),
            (true, OpCode::Continuation, &b"lo"[..])
        );
    }

    #[test]
    fn rfc_5_7_ping_and_pong() {
        assert_eq!(frame(UNMASKED_PING, Role::Client).opcode, OpCode::Ping);
        let pong = frame(MASKED_PONG, Role::Server);
        assert_eq!(
            (pong.opcode, pong.payload.as_slice()),
            (OpCode::Pong, &b"Hello"[..])
        );
    }

    #[test]
    fn rfc_5_7_lengths() {
        // 256 bytes binary in a single unmasked frame: 0x82 0x7E 0x0100 [256 bytes]
        let mut wire = vec![0x82, 0x7E, 0x01, 0x00];
        wire.extend_from_slice(&[7; 256]);
        assert_eq!(frame(&wire, Role::Client).payload.len(), 256);
        // 64 KiB: 0x82 0x7F 0x0000000000010000 [65536 bytes]
        let mut wire = vec![0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0];
        wire.extend_from_slice(&[7; 65536]);
        assert_eq!(frame(&wire, Role::Client).payload.len(), 65536);
    }

    #[test]
    fn every_split_of_a_frame_needs_more_then_completes() {
        for wire in [UNMASKED_HELLO, MASKED_HELLO] {
            let role = if wire[1] & MASK != 0 {
                Role::Server
            } else {
                Role::Client
            };
            for end in 0..wire.len() {
                assert!(
                    matches!(parse(&wire[..end], role, MAX), Ok(Parsed::NeedMore)),
                    "{end}"
                );
            }
            assert_eq!(frame(wire, role).payload, b"Hello");
        }
    }

    #[test]
    fn two_frames_in_one_read() {
        let wire = [FRAGMENT_HEL, FRAGMENT_LO].concat();
        let Ok(Parsed::Complete { consumed, .. }) = parse(&wire, Role::Client, MAX) else {
            panic!()
        };
        assert_eq!(consumed, FRAGMENT_HEL.len());
        assert_eq!(frame(&wire[consumed..], Role::Client).payload, b"lo");
    }

    #[test]
    fn protocol_violations() {
        assert_eq!(
            error(&[0xC1, 0x80, 0, 0, 0, 0], Role::Server),
            FrameError::ReservedBits
        );
        assert_eq!(
            error(&[0xA1, 0x80, 0, 0, 0, 0], Role::Server),
            FrameError::ReservedBits
        );
        assert_eq!(
            error(&[0x91, 0x80, 0, 0, 0, 0], Role::Server),
            FrameError::ReservedBits
        );
        for reserved in [0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF] {
            assert_eq!(
                error(&[0x80 | reserved, 0x80, 0, 0, 0, 0], Role::Server),
                FrameError::ReservedOpcode
            );
        }
        assert_eq!(error(UNMASKED_HELLO, Role::Server), FrameError::Unmasked);
        assert_eq!(error(MASKED_HELLO, Role::Client), FrameError::Masked);
        assert_eq!(
            error(&[0x09, 0x80, 0, 0, 0, 0], Role::Server),
            FrameError::FragmentedControl
        );
        assert_eq!(
            error(&[0x89, 0xFE, 0, 126], Role::Server),
            FrameError::ControlTooLong
        );
        assert_eq!(
            error(&[0x88, 0xFE, 0, 126], Role::Server),
            FrameError::ControlTooLong
        );
        assert_eq!(
            error(&[0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0], Role::Server),
            FrameError::LengthOverflow
        );
        assert_eq!(
            error(&[0x82, 0xFF, 0, 0, 0, 0, 0, 0x10, 0, 1], Role::Server),
            FrameError::TooLarge
        );
    }

    #[test]
    fn too_large_is_refused_from_the_header_alone() {
        // Only the 10 header bytes of a 2 MiB frame have arrived.
        let header = [0x82, 0xFF, 0, 0, 0, 0, 0, 0x20, 0, 0];
        assert_eq!(parse(&header, Role::Server, MAX), Err(FrameError::TooLarge));
        assert_eq!(FrameError::TooLarge.code(), 1009);
    }

    #[test]
    fn control_frame_of_125_bytes_is_fine() {
        let mut wire = vec![0x89, 125];
        wire.extend_from_slice(&[1; 125]);
        assert_eq!(frame(&wire, Role::Client).payload.len(), 125);
    }

    #[test]
    fn encode_uses_minimal_lengths_and_round_trips() {
        for (len, header) in [
            (0, 2),
            (125, 2),
            (126, 4),
            (65535, 4),
            (65536, 10),
            (1 << 20, 10),
        ] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let mut out = Vec::new();
            encode(&mut out, true, OpCode::Binary, &payload, None);
            assert_eq!(out.len(), header + len, "length {len}");
            assert_eq!(frame(&out, Role::Client).payload, payload);
            let mut masked = Vec::new();
            encode(
                &mut masked,
                true,
                OpCode::Binary,
                &payload,
                Some([1, 2, 3, 4]),
            );
            assert_eq!(masked.len(), header + 4 + len);
            assert_eq!(frame(&masked, Role::Server).payload, payload);
        }
    }

    #[test]
    fn encode_reproduces_the_rfc_examples() {
        let mut out = Vec::new();
        encode(&mut out, true, OpCode::Text, b"Hello", None);
        assert_eq!(out, UNMASKED_HELLO);
        let mut out = Vec::new();
        encode(
            &mut out,
            true,
            OpCode::Text,
            b"Hello",
            Some([0x37, 0xfa, 0x21, 0x3d]),
        );
        assert_eq!(out, MASKED_HELLO);
    }

    #[test]
    fn mask_with_offset_continues_the_key() {
        let key = [1, 2, 3, 4];
        let data: Vec<u8> = (0..37).collect();
        let mut whole = data.clone();
        apply_mask(&mut whole, key, 0);
        let mut split = data.clone();
        let (a, b) = split.split_at_mut(13);
        apply_mask(a, key, 0);
        apply_mask(b, key, 13);
        assert_eq!(whole, split);
    }
}
