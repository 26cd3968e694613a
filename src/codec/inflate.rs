//! DEFLATE decompression (RFC 1951), for WebSocket's permessage-deflate
//! (RFC 7692): stored, fixed-Huffman and dynamic-Huffman blocks, with the
//! sliding window kept from one call to the next (context takeover) or not.
//!
//! A DEFLATE stream is a sequence of blocks (§3.2.3). Each starts with three
//! bits: BFINAL, and BTYPE — 00 stored (a byte count and the bytes), 01
//! compressed with the fixed Huffman codes of §3.2.6, 10 compressed with codes
//! sent in the block's header (§3.2.7). Compressed data is literal bytes and
//! (length, distance) pairs that copy from up to 32 KiB back (LZ77, §3.2.5).
//! Bits are read least significant first; Huffman codes are packed most
//! significant bit first (§3.1.1).
//!
//! [`Inflater::inflate`] decodes every block of its input, which must end at
//! a block boundary — as a permessage-deflate message does once the receiver
//! appends `00 00 FF FF`, the empty stored block of a sync flush (RFC 7692
//! §7.2.2). Output is bounded by the caller: a small message that would
//! inflate past the limit stops there, with [`InflateError::TooLarge`],
//! before more is written.
//!
//! ```
//! use realtime_web::codec::inflate::Inflater;
//!
//! // RFC 7692 §7.2.3.1: "Hello" compressed, then the sync flush's tail.
//! let mut inflater = Inflater::new(15);
//! let mut out = Vec::new();
//! let message = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00, 0x00, 0xff, 0xff];
//! inflater.inflate(&message, &mut out, 1 << 20).unwrap();
//! assert_eq!(out, b"Hello");
//! ```

use std::fmt;

/// The longest Huffman code (§3.2.7).
const MAX_BITS: usize = 15;
/// Lengths 3..=258 as base and extra bits, for symbols 257..=285 (§3.2.5);
/// these tables serve the compressor too.
pub(super) const LENGTH_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
pub(super) const LENGTH_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
/// Distances 1..=32768 as base and extra bits, for codes 0..=29 (§3.2.5).
pub(super) const DIST_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
pub(super) const DIST_EXTRA: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];
/// The order code-length code lengths are sent in (§3.2.7).
pub(super) const CLEN_ORDER: [usize; 19] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];

/// Why a stream cannot be inflated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InflateError {
    /// The input ends inside a block.
    Truncated,
    /// BTYPE 11, reserved (§3.2.3).
    ReservedBlockType,
    /// A stored block whose LEN and NLEN are not each other's complement (§3.2.4).
    StoredLengthMismatch,
    /// Code lengths that do not form a prefix code, or an incomplete one
    /// where the format allows none (§3.2.2, §3.2.7).
    BadCodeLengths,
    /// A bit pattern that is no code, or a symbol with no meaning (286,
    /// 287, distance codes 30 and 31).
    BadSymbol,
    /// A repeat code with nothing to repeat, or repeating past the lengths.
    BadRepeat,
    /// A distance further back than the window holds (§3.2.5).
    DistanceTooFar,
    /// The output would pass the caller's limit.
    TooLarge,
}

impl fmt::Display for InflateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InflateError::Truncated => "compressed data ends inside a block",
            InflateError::ReservedBlockType => "reserved block type",
            InflateError::StoredLengthMismatch => "stored block length mismatch",
            InflateError::BadCodeLengths => "invalid Huffman code lengths",
            InflateError::BadSymbol => "invalid Huffman code",
            InflateError::BadRepeat => "invalid code length repeat",
            InflateError::DistanceTooFar => "distance too far back",
            InflateError::TooLarge => "inflated data over the limit",
        })
    }
}

impl std::error::Error for InflateError {}

/// A decompressor whose window of past output lasts from one call to the
/// next (context takeover), unless [`Inflater::reset`] clears it.
#[derive(Clone, Debug)]
pub struct Inflater {
    /// The most recent output, up to the window size, for distances that
    /// reach into earlier messages.
    history: Vec<u8>,
    window: usize,
}

impl Inflater {
    /// A decompressor with a window of `2^window_bits` bytes (8 to 15; the
    /// peer's LZ77 window, RFC 7692's `*_max_window_bits`).
    pub fn new(window_bits: u8) -> Inflater {
        Inflater {
            history: Vec::new(),
            window: 1 << window_bits.clamp(8, 15),
        }
    }

    /// Forgets past output: the next message cannot refer to it (no context
    /// takeover).
    pub fn reset(&mut self) {
        self.history.clear();
    }

    /// Inflates every block of `input` onto `out`, which must hold at most
    /// `limit` bytes afterwards.
    ///
    /// # Errors
    ///
    /// An [`InflateError`]; `out` then holds what was inflated before it,
    /// and the window is no longer to be trusted (close the connection).
    pub fn inflate(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), InflateError> {
        let start = out.len();
        // Past output first, so that distances reach into it; removed after.
        let prefix = self.history.len();
        let buffer = std::mem::take(&mut self.history);
        let mut state = Decoder {
            bits: Bits::new(input),
            out: buffer,
            limit: prefix.saturating_add(limit.saturating_sub(start)),
        };
        let result = state.blocks();
        let mut buffer = state.out;
        out.extend_from_slice(&buffer[prefix..]);
        // Keep the newest `window` bytes of everything for the next message.
        let keep = buffer.len().min(self.window);
        buffer.drain(..buffer.len() - keep);
        self.history = buffer;
        result
    }
}

/// The bits of the input, least significant first (§3.1.1).
struct Bits<'a> {
    input: &'a [u8],
    at: usize,
    bit: u32,
    count: u32,
}

impl<'a> Bits<'a> {
    fn new(input: &'a [u8]) -> Bits<'a> {
        Bits {
            input,
            at: 0,
            bit: 0,
            count: 0,
        }
    }

    /// `n` bits (at most 16), the first in the lowest position.
    fn take(&mut self, n: u32) -> Result<u32, InflateError> {
        while self.count < n {
            let byte = *self.input.get(self.at).ok_or(InflateError::Truncated)?;
            self.at += 1;
            self.bit |= u32::from(byte) << self.count;
            self.count += 8;
        }
        let value = self.bit & ((1u32 << n) - 1);
        self.bit >>= n;
        self.count -= n;
        Ok(value)
    }

    /// Drops the bits left of the current byte (before a stored block).
    fn align(&mut self) {
        self.bit = 0;
        self.count = 0;
    }

    fn at_end(&self) -> bool {
        self.at == self.input.len()
    }
}

/// A canonical Huffman code (§3.2.2) as counts per length and symbols in
/// code order: decoded one bit at a time, as zlib's `puff` does.
struct Huffman {
    count: [u16; MAX_BITS + 1],
    symbol: Vec<u16>,
}

impl Huffman {
    /// The code of `lengths` (0: the symbol is not used). `incomplete_ok`
    /// admits a code that does not use every bit pattern if it has one
    /// symbol or none — a distance code with no distances, a single one-bit
    /// code — as zlib does; never for the code-length code.
    fn new(lengths: &[u8], incomplete_ok: bool) -> Result<Huffman, InflateError> {
        let mut count = [0u16; MAX_BITS + 1];
        for &length in lengths {
            count[usize::from(length)] += 1;
        }
        // Over-subscribed codes have no decoding; incomplete ones only where allowed.
        let mut left: i32 = 1;
        for &c in &count[1..] {
            left = (left << 1) - i32::from(c);
            if left < 0 {
                return Err(InflateError::BadCodeLengths);
            }
        }
        let used = lengths.len() - usize::from(count[0]);
        if left > 0 && !(incomplete_ok && used <= 1) {
            return Err(InflateError::BadCodeLengths);
        }
        let mut offsets = [0u16; MAX_BITS + 2];
        for length in 1..=MAX_BITS {
            offsets[length + 1] = offsets[length] + count[length];
        }
        let mut symbol = vec![0u16; used];
        for (s, &length) in lengths.iter().enumerate() {
            if length != 0 {
                symbol[usize::from(offsets[usize::from(length)])] = s as u16;
                offsets[usize::from(length)] += 1;
            }
        }
        Ok(Huffman { count, symbol })
    }

    fn decode(&self, bits: &mut Bits<'_>) -> Result<u16, InflateError> {
        let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
        for length in 1..=MAX_BITS {
            code |= bits.take(1)? as i32;
            let count = i32::from(self.count[length]);
            if code - count < first {
                return Ok(self.symbol[(index + (code - first)) as usize]);
            }
            index += count;
            first = (first + count) << 1;
            code <<= 1;
        }
        Err(InflateError::BadSymbol)
    }
}

struct Decoder<'a> {
    bits: Bits<'a>,
    out: Vec<u8>,
    limit: usize,
}

impl Decoder<'_> {
    /// Every block to the end of the input (a final block may be followed
    /// by more: RFC 7692 lets a message end with one, before the appended
    /// sync-flush tail).
    fn blocks(&mut self) -> Result<(), InflateError> {
        while !self.bits.at_end() {
            let last = self.bits.take(1)? == 1;
            match self.bits.take(2)? {
                0 => self.stored()?,
                1 => self.fixed()?,
                2 => self.dynamic()?,
                _ => return Err(InflateError::ReservedBlockType),
            }
            if last {
                self.bits.align();
            }
        }
        Ok(())
    }

    fn stored(&mut self) -> Result<(), InflateError> {
        self.bits.align();
        let len = self.bits.take(16)?;
        let nlen = self.bits.take(16)?;
        if len != !nlen & 0xFFFF {
            return Err(InflateError::StoredLengthMismatch);
        }
        let (at, len) = (self.bits.at, len as usize);
        let bytes = self
            .bits
            .input
            .get(at..at + len)
            .ok_or(InflateError::Truncated)?;
        if self.out.len() + len > self.limit {
            return Err(InflateError::TooLarge);
        }
        self.out.extend_from_slice(bytes);
        self.bits.at += len;
        Ok(())
    }

    fn fixed(&mut self) -> Result<(), InflateError> {
        let mut lengths = [0u8; 288];
        lengths[..144].fill(8);
        lengths[144..256].fill(9);
        lengths[256..280].fill(7);
        lengths[280..].fill(8);
        let literals = Huffman::new(&lengths, false)?;
        // 32 codes of five bits; 30 and 31 are refused when they occur.
        let distances = Huffman::new(&[5; 32], true)?;
        self.codes(&literals, &distances)
    }

    fn dynamic(&mut self) -> Result<(), InflateError> {
        let literal_count = self.bits.take(5)? as usize + 257;
        let distance_count = self.bits.take(5)? as usize + 1;
        let clen_count = self.bits.take(4)? as usize + 4;
        if literal_count > 286 || distance_count > 30 {
            return Err(InflateError::BadCodeLengths);
        }
        let mut clen = [0u8; 19];
        for &slot in &CLEN_ORDER[..clen_count] {
            clen[slot] = self.bits.take(3)? as u8;
        }
        let clen = Huffman::new(&clen, false)?;
        let mut lengths = vec![0u8; literal_count + distance_count];
        let mut i = 0;
        while i < lengths.len() {
            let symbol = clen.decode(&mut self.bits)?;
            let (value, repeat) = match symbol {
                0..=15 => (symbol as u8, 1),
                16 => {
                    let previous = *lengths[..i].last().ok_or(InflateError::BadRepeat)?;
                    (previous, 3 + self.bits.take(2)? as usize)
                }
                17 => (0, 3 + self.bits.take(3)? as usize),
                _ => (0, 11 + self.bits.take(7)? as usize),
            };
            if i + repeat > lengths.len() {
                return Err(InflateError::BadRepeat);
            }
            lengths[i..i + repeat].fill(value);
            i += repeat;
        }
        if lengths[256] == 0 {
            return Err(InflateError::BadCodeLengths); // no end-of-block code
        }
        let literals = Huffman::new(&lengths[..literal_count], false)?;
        let distances = Huffman::new(&lengths[literal_count..], true)?;
        self.codes(&literals, &distances)
    }

    /// The compressed data of a block, to its end-of-block code (§3.2.5).
    fn codes(&mut self, literals: &Huffman, distances: &Huffman) -> Result<(), InflateError> {
        loop {
            let symbol = literals.decode(&mut self.bits)?;
            match symbol {
                0..=255 => {
                    if self.out.len() >= self.limit {
                        return Err(InflateError::TooLarge);
                    }
                    self.out.push(symbol as u8);
                }
                256 => return Ok(()),
                257..=285 => {
                    let i = usize::from(symbol - 257);
                    let length = usize::from(LENGTH_BASE[i])
                        + self.bits.take(u32::from(LENGTH_EXTRA[i]))? as usize;
                    let code = usize::from(distances.decode(&mut self.bits)?);
                    if code >= 30 {
                        return Err(InflateError::BadSymbol);
                    }
                    let distance = usize::from(DIST_BASE[code])
                        + self.bits.take(u32::from(DIST_EXTRA[code]))? as usize;
                    if distance > self.out.len() {
                        return Err(InflateError::DistanceTooFar);
                    }
                    if self.out.len() + length > self.limit {
                        return Err(InflateError::TooLarge);
                    }
                    // Byte by byte: a copy may overlap what it writes (a run).
                    let from = self.out.len() - distance;
                    for k in 0..length {
                        let byte = self.out[from + k];
                        self.out.push(byte);
                    }
                }
                _ => return Err(InflateError::BadSymbol),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::deflate::Deflater;
    use crate::codec::noise;

    /// A message as RFC 7692 §7.2.2 inflates it: with `00 00 FF FF` appended.
    fn message(inflater: &mut Inflater, compressed: &[u8]) -> Result<Vec<u8>, InflateError> {
        let mut input = compressed.to_vec();
        input.extend_from_slice(&[0x00, 0x00, 0xff, 0xff]);
        let mut out = Vec::new();
        inflater.inflate(&input, &mut out, 1 << 20)?;
        Ok(out)
    }

    /// No limit at all (`usize::MAX`) is a limit like any other, even with
    /// history kept from an earlier message.
    #[test]
    fn the_largest_limit_does_not_overflow() {
        let hello = [
            0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00, 0x00, 0xff, 0xff,
        ];
        let mut inflater = Inflater::new(15);
        for _ in 0..2 {
            let mut out = Vec::new();
            inflater.inflate(&hello, &mut out, usize::MAX).unwrap();
            assert_eq!(out, b"Hello");
        }
    }

    /// The examples of RFC 7692 §7.2.3.
    #[test]
    fn rfc_7692_examples() {
        let hello: &[u8] = &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        assert_eq!(message(&mut Inflater::new(15), hello).unwrap(), b"Hello");
        // §7.2.3.2: the second message refers back into the first.
        let mut shared = Inflater::new(15);
        assert_eq!(message(&mut shared, hello).unwrap(), b"Hello");
        let again = [0xf2, 0x00, 0x11, 0x00, 0x00];
        assert_eq!(message(&mut shared, &again).unwrap(), b"Hello");
        let mut fresh = Inflater::new(15);
        assert_eq!(
            message(&mut fresh, &again),
            Err(InflateError::DistanceTooFar)
        );
        // §7.2.3.3: a stored block.
        let stored = [
            0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
        ];
        assert_eq!(message(&mut Inflater::new(15), &stored).unwrap(), b"Hello");
        // §7.2.3.4: BFINAL set (then the appended tail is one more block).
        let last = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
        assert_eq!(message(&mut Inflater::new(15), &last).unwrap(), b"Hello");
        // §7.2.3.5: two blocks in one message.
        let two = [
            0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00,
        ];
        assert_eq!(message(&mut Inflater::new(15), &two).unwrap(), b"Hello");
        // §7.2.3.6: the empty message.
        assert_eq!(message(&mut Inflater::new(15), &[0x00]).unwrap(), b"");
    }

    fn fixture_input() -> Vec<u8> {
        (1..=60)
            .map(|i| format!("{{\"id\":{i},\"event\":\"message\",\"data\":\"hello {i}\"}}\n"))
            .collect::<String>()
            .into_bytes()
    }

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Streams zlib produced at several levels and window sizes inflate here
    /// to the bytes zlib was given.
    #[test]
    fn zlib_streams_inflate_byte_for_byte() {
        let fixtures = include_str!("../../tests/fixtures/zlib-deflate.txt");
        let mut seen = 0;
        for line in fixtures.lines().filter(|l| !l.starts_with('#')) {
            let fields: Vec<&str> = line.split(' ').collect();
            let window: u8 = fields[1].parse().unwrap();
            let out = message(&mut Inflater::new(window), &hex(fields[2])).unwrap();
            assert_eq!(out, fixture_input(), "level {} window {window}", fields[0]);
            seen += 1;
        }
        assert_eq!(seen, 5);
    }

    #[test]
    fn round_trips_at_every_window_size_with_and_without_context() {
        let json = fixture_input();
        let inputs: Vec<Vec<u8>> = vec![
            Vec::new(),
            b"a".to_vec(),
            vec![b'x'; 100_000],
            noise(7, 70_000),
            json.clone(),
            [json.as_slice(), &noise(3, 500), json.as_slice()].concat(),
        ];
        for bits in 8..=15 {
            for takeover in [false, true] {
                let mut deflater = Deflater::new(bits);
                let mut inflater = Inflater::new(bits);
                for (i, input) in inputs.iter().chain(inputs.iter()).enumerate() {
                    if !takeover {
                        deflater.reset();
                        inflater.reset();
                    }
                    let mut compressed = Vec::new();
                    deflater.compress(input, &mut compressed);
                    let out = message(&mut inflater, &compressed)
                        .unwrap_or_else(|e| panic!("bits {bits}, message {i}: {e}"));
                    assert_eq!(&out, input, "bits {bits}, takeover {takeover}, message {i}");
                }
            }
        }
        // Compression happens: repetitive JSON shrinks to a fraction.
        let mut compressed = Vec::new();
        Deflater::new(15).compress(&json, &mut compressed);
        assert!(
            compressed.len() * 4 < json.len(),
            "{} of {}",
            compressed.len(),
            json.len()
        );
    }

    /// Packs (value, bit count) fields least significant bit first, as
    /// DEFLATE's headers are; a Huffman code is given bit-reversed.
    fn pack(fields: &[(u32, u32)]) -> Vec<u8> {
        let (mut out, mut bit, mut count) = (Vec::new(), 0u64, 0);
        for &(value, n) in fields {
            bit |= u64::from(value) << count;
            count += n;
            while count >= 8 {
                out.push(bit as u8);
                bit >>= 8;
                count -= 8;
            }
        }
        if count > 0 {
            out.push(bit as u8);
        }
        out
    }

    #[test]
    fn malformed_streams_are_refused() {
        let refused = |bytes: &[u8]| {
            let mut out = Vec::new();
            Inflater::new(15)
                .inflate(bytes, &mut out, 1 << 20)
                .unwrap_err()
        };
        assert_eq!(
            refused(&pack(&[(1, 1), (3, 2)])),
            InflateError::ReservedBlockType
        );
        assert_eq!(
            refused(&[0x00, 0x05, 0x00, 0x00, 0x00]),
            InflateError::StoredLengthMismatch
        );
        assert_eq!(
            refused(&[0x00, 0x05, 0x00, 0xfa, 0xff, b'H']),
            InflateError::Truncated
        );
        assert_eq!(refused(&[0xf2, 0x48]), InflateError::Truncated);
        // A fixed block whose first symbol copies 3 bytes from 1 back: there
        // is nothing behind it. (Symbol 257 is the 7-bit code 0000001, sent
        // most significant bit first; distance code 0 is 00000.)
        let too_far = pack(&[(1, 1), (1, 2), (0b1000000, 7), (0, 5)]);
        assert_eq!(refused(&too_far), InflateError::DistanceTooFar);
        // A fixed block with literal/length symbol 286 (11000110, 8 bits).
        let no_such = pack(&[(1, 1), (1, 2), (0b01100011, 8)]);
        assert_eq!(refused(&no_such), InflateError::BadSymbol);
        // A dynamic block whose 19 code-length codes are all one bit long:
        // over-subscribed.
        let mut header = vec![(1, 1), (2, 2), (0, 5), (0, 5), (15, 4)];
        header.extend([(1, 3); 19]);
        assert_eq!(refused(&pack(&header)), InflateError::BadCodeLengths);
        // A dynamic block whose first code length is "repeat the previous".
        let mut repeat = vec![(1, 1), (2, 2), (0, 5), (0, 5), (15, 4)];
        // Code-length code: symbols 0 and 16 get one bit each (0 is 0, 16 is 1).
        for slot in CLEN_ORDER {
            repeat.push((u32::from(slot == 16 || slot == 0), 3));
        }
        repeat.push((1, 1)); // symbol 16 first: nothing to repeat
        repeat.push((0, 2));
        assert_eq!(refused(&pack(&repeat)), InflateError::BadRepeat);
    }

    #[test]
    fn output_stops_at_the_limit() {
        let mut compressed = Vec::new();
        Deflater::new(15).compress(&vec![0u8; 1 << 20], &mut compressed);
        compressed.extend_from_slice(&[0x00, 0x00, 0xff, 0xff]);
        assert!(compressed.len() < 4096, "a megabyte of zeros is small");
        let mut out = Vec::new();
        let result = Inflater::new(15).inflate(&compressed, &mut out, 1000);
        assert_eq!(result, Err(InflateError::TooLarge));
        assert!(out.len() <= 1000);
    }
}
