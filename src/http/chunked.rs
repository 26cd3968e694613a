//! The chunked transfer coding, both ways (RFC 9112 §7.1).
//!
//! ```text
//! chunked-body   = *chunk last-chunk trailer-section CRLF
//! chunk          = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//! chunk-size     = 1*HEXDIG
//! last-chunk     = 1*("0") [ chunk-ext ] CRLF
//! trailer-section = *( field-line CRLF )
//! ```
//!
//! [`Decoder`] reads request bodies: a state machine fed whatever bytes have
//! arrived, so a chunk boundary may fall anywhere between two reads. It checks
//! the size for overflow and against the body limit before any data is copied,
//! and validates but discards chunk extensions and trailer fields (RFC 9110
//! §6.5.1 lets a recipient discard trailers it does not use).
//!
//! [`Encoder`] writes streamed responses: it buffers what the transport writes
//! and sends it as one chunk on `flush`, so a batch of messages costs one
//! `write` call and one chunk header. This is how every streaming transport
//! (SSE, XHR streaming, the forever frame) puts its bytes on the wire.

use super::request::check_field_line;
use super::Error;
use crate::codec::number::hex_digit;
use std::io::{self, Write};

/// The longest chunk extension accepted, in bytes. Extensions carry nothing this
/// server uses; the bound keeps a client from streaming an endless one.
pub const MAX_CHUNK_EXT: usize = 1024;

/// The most hex digits a chunk size may have, leading zeros included: 16 hold
/// any `u64`, and no size this server accepts needs more. RFC 9112 §7.1 sets no
/// bound (`1*HEXDIG`), so without one a line of endless zeros (`000…0005`)
/// would keep the connection reading until the body timeout; strict parsers
/// (Go's `net/http`, for one) stop at 16 as well.
pub const MAX_CHUNK_SIZE_DIGITS: usize = 16;

/// The last chunk and the empty trailer section: what ends a chunked body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Reading hex digits; `digits` seen so far.
    Size { digits: usize },
    /// After the size: a chunk extension, up to CR.
    Extension { len: usize },
    /// Expecting the LF of the size line.
    SizeLf,
    /// Copying chunk data; `remaining` bytes to go.
    Data { remaining: u64 },
    /// Expecting the CR after chunk data.
    DataCr,
    /// Expecting the LF after chunk data.
    DataLf,
    /// At the start of a trailer line (or of the final CRLF).
    TrailerLine,
    /// Expecting the LF that ends the body.
    EndLf,
    /// The whole body was read.
    Done,
}

/// A decoder for one chunked request body.
///
/// # Examples
///
/// ```
/// use realtime_web::http::chunked::Decoder;
///
/// let mut decoder = Decoder::new(1024, 1024);
/// let mut body = Vec::new();
/// let wire = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nTrailer: x\r\n\r\nNEXT";
/// let (used, done) = decoder.decode(wire, &mut body).unwrap();
/// assert!(done);
/// assert_eq!(body, b"Wikipedia");
/// assert_eq!(&wire[used..], b"NEXT");
/// ```
#[derive(Debug)]
pub struct Decoder {
    state: State,
    size: u64,
    body_len: u64,
    max_body: u64,
    trailer: Vec<u8>,
    trailer_bytes: usize,
    max_trailer_bytes: usize,
}

impl Decoder {
    /// A decoder that refuses bodies over `max_body` bytes and trailer sections
    /// over `max_trailer_bytes`.
    pub fn new(max_body: usize, max_trailer_bytes: usize) -> Decoder {
        Decoder {
            state: State::Size { digits: 0 },
            size: 0,
            body_len: 0,
            max_body: max_body as u64,
            trailer: Vec::new(),
            trailer_bytes: 0,
            max_trailer_bytes,
        }
    }

    /// True once the last chunk and the trailer section were read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes as much of `input` as it can, appending chunk data to `out`.
    /// Returns how many bytes of `input` it used and whether the body is
    /// complete; bytes after the end of the body are left unused (they are the
    /// next pipelined request).
    ///
    /// # Errors
    ///
    /// [`Error::BadChunk`] for a malformed size, extension or chunk end, or a
    /// size that overflows; [`Error::BodyTooLarge`] past the body limit;
    /// [`Error::HeadersTooLarge`] for a trailer section past its limit; the
    /// field-line errors for a malformed trailer field.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(usize, bool), Error> {
        let mut i = 0;
        while i < input.len() && self.state != State::Done {
            let b = input[i];
            self.state = match self.state {
                State::Size { digits } => match hex_digit(b) {
                    Some(_) if digits == MAX_CHUNK_SIZE_DIGITS => return Err(Error::BadChunk),
                    Some(d) => {
                        self.size = self
                            .size
                            .checked_mul(16)
                            .and_then(|s| s.checked_add(u64::from(d)))
                            .ok_or(Error::BadChunk)?;
                        State::Size { digits: digits + 1 }
                    }
                    None if digits == 0 => return Err(Error::BadChunk),
                    // chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
                    None if matches!(b, b';' | b' ' | b'\t') => State::Extension { len: 1 },
                    None if b == b'\r' => State::SizeLf,
                    None => return Err(Error::BadChunk),
                },
                State::Extension { len } => match b {
                    b'\r' => State::SizeLf,
                    _ if len >= MAX_CHUNK_EXT => return Err(Error::BadChunk),
                    b'\t' | b' '..=b'~' | 0x80..=0xFF => State::Extension { len: len + 1 },
                    _ => return Err(Error::BadChunk),
                },
                State::SizeLf if b == b'\n' => {
                    if self.size == 0 {
                        State::TrailerLine
                    } else {
                        self.body_len = self
                            .body_len
                            .checked_add(self.size)
                            .filter(|&n| n <= self.max_body)
                            .ok_or(Error::BodyTooLarge)?;
                        State::Data {
                            remaining: self.size,
                        }
                    }
                }
                State::SizeLf => return Err(Error::BadChunk),
                State::Data { remaining } => {
                    let take = remaining.min((input.len() - i) as u64) as usize;
                    out.extend_from_slice(&input[i..i + take]);
                    i += take;
                    self.state = match remaining - take as u64 {
                        0 => State::DataCr,
                        left => State::Data { remaining: left },
                    };
                    continue;
                }
                State::DataCr if b == b'\r' => State::DataLf,
                State::DataLf if b == b'\n' => {
                    self.size = 0;
                    State::Size { digits: 0 }
                }
                State::DataCr | State::DataLf => return Err(Error::BadChunk),
                State::TrailerLine => {
                    self.trailer_bytes += 1;
                    if self.trailer_bytes > self.max_trailer_bytes {
                        return Err(Error::HeadersTooLarge);
                    }
                    match b {
                        b'\r' if self.trailer.is_empty() => State::EndLf,
                        b'\n' => {
                            // A trailer field line ends here: check it as a header field.
                            match self.trailer.pop() {
                                Some(b'\r') => check_field_line(&self.trailer)?,
                                _ => return Err(Error::BareLf),
                            }
                            self.trailer.clear();
                            State::TrailerLine
                        }
                        _ => {
                            self.trailer.push(b);
                            State::TrailerLine
                        }
                    }
                }
                State::EndLf if b == b'\n' => State::Done,
                State::EndLf => return Err(Error::BadChunk),
                State::Done => State::Done,
            };
            i += 1;
        }
        Ok((i, self.state == State::Done))
    }
}

/// Writes a response body in the chunked coding. Writes are buffered; each
/// `flush` sends what was written since as one chunk, in one `write_all` on the
/// underlying writer, then flushes it.
///
/// [`Encoder::finish`] sends the last chunk. Dropping an encoder without
/// finishing sends nothing more, which leaves the body visibly incomplete to the
/// client — the right signal when a stream fails half-way.
#[derive(Debug)]
pub struct Encoder<W: Write> {
    inner: W,
    pending: Vec<u8>,
}

impl<W: Write> Encoder<W> {
    /// Wraps `inner`, to which the response head was already written.
    pub fn new(inner: W) -> Encoder<W> {
        Encoder {
            inner,
            pending: Vec::new(),
        }
    }

    /// Flushes what is pending, then writes the last chunk (`0\r\n\r\n`).
    ///
    /// # Errors
    ///
    /// Any error of the underlying writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.flush()?;
        self.inner.write_all(LAST_CHUNK)?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            let chunk = chunk(std::mem::take(&mut self.pending));
            self.inner.write_all(&chunk)?;
        }
        self.inner.flush()
    }
}

/// `data` as one chunk: `chunk = chunk-size CRLF chunk-data CRLF` (RFC 9112
/// §7.1), ready for one write. `data` must not be empty: an empty chunk is the
/// last chunk, which ends the body.
pub fn chunk(data: Vec<u8>) -> Vec<u8> {
    let mut chunk = format!("{:x}\r\n", data.len()).into_bytes();
    chunk.reserve(data.len() + 2);
    chunk.extend_from_slice(&data);
    chunk.extend_from_slice(b"\r\n");
    chunk
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(wire: &[u8]) -> Result<(Vec<u8>, usize), Error> {
        let mut decoder = Decoder::new(1 << 20, 1024);
        let mut out = Vec::new();
        let (used, done) = decoder.decode(wire, &mut out)?;
        assert!(done, "incomplete body");
        Ok((out, used))
    }

    #[test]
    fn rfc_example_body() {
        let wire = b"4\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\n";
        let (body, used) = decode_all(wire).unwrap();
        assert_eq!(body, b"Wikipedia in\r\n\r\nchunks.");
        assert_eq!(used, wire.len());
    }

    #[test]
    fn split_at_every_byte() {
        let wire = b"3;a=b\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nX-T: 1\r\n\r\n";
        for split in 0..=wire.len() {
            let mut decoder = Decoder::new(1024, 1024);
            let mut out = Vec::new();
            let (a, done_a) = decoder.decode(&wire[..split], &mut out).unwrap();
            assert_eq!(a, split);
            assert_eq!(done_a, split == wire.len());
            let (b, done) = decoder.decode(&wire[split..], &mut out).unwrap();
            assert_eq!(a + b, wire.len());
            assert!(done);
            assert_eq!(out, b"abc0123456789abcdef");
        }
    }

    #[test]
    fn one_byte_at_a_time() {
        let wire = b"5\r\nhello\r\n0\r\n\r\n";
        let mut decoder = Decoder::new(1024, 1024);
        let mut out = Vec::new();
        for (i, b) in wire.iter().enumerate() {
            let (used, done) = decoder.decode(std::slice::from_ref(b), &mut out).unwrap();
            assert_eq!(used, 1);
            assert_eq!(done, i == wire.len() - 1);
        }
        assert_eq!(out, b"hello");
    }

    #[test]
    fn leading_zeros_and_uppercase_hex() {
        assert_eq!(
            decode_all(b"000A\r\n0123456789\r\n00\r\n\r\n").unwrap().0,
            b"0123456789"
        );
    }

    #[test]
    fn stops_at_the_end_of_the_body() {
        let (_, used) = decode_all(b"0\r\n\r\nGET / HTTP/1.1\r\n").unwrap();
        assert_eq!(used, 5);
    }

    #[test]
    fn rejects_malformed_bodies() {
        for wire in [
            &b"\r\n"[..],                   // no size
            b"g\r\n",                       // not hex
            b"-1\r\n",                      // signed
            b"0x5\r\n",                     // a prefix
            b"5\r\nhelloX\r\n",             // data longer than the size
            b"5\rXhello\r\n",               // CR without LF
            b"5\nhello\r\n",                // bare LF after size
            b"5\r\nhello\n0\r\n\r\n",       // bare LF after data
            b"5;\x00\r\n",                  // NUL in extension
            b"0\r\n\r\r",                   // bad final CRLF
            b"10000000000000000\r\n",       // 2^64: overflows u64
            b"ffffffffffffffffff\r\n",      // far beyond
            b"00000000000000005\r\n",       // 17 digits, though the value is small
            b"00000000000000000\r\n",       // 17 digits of the last chunk
            b"0000000000000000005;x=1\r\n", // the extension does not excuse them
        ] {
            let mut decoder = Decoder::new(usize::MAX, 1024);
            assert!(decoder.decode(wire, &mut Vec::new()).is_err(), "{wire:?}");
        }
    }

    #[test]
    fn rejects_bad_trailers() {
        for (wire, expected) in [
            (
                &b"0\r\nBad Name: x\r\n\r\n"[..],
                Error::WhitespaceBeforeColon,
            ),
            (b"0\r\nX: a\x00\r\n\r\n", Error::BadHeaderValue),
            (b"0\r\nX: a\n\r\n", Error::BareLf),
            (b"0\r\n fold\r\n\r\n", Error::ObsFold),
        ] {
            let mut decoder = Decoder::new(1024, 1024);
            assert_eq!(
                decoder.decode(wire, &mut Vec::new()).unwrap_err(),
                expected,
                "{wire:?}"
            );
        }
    }

    #[test]
    fn sixteen_digits_are_the_most_a_size_may_have() {
        // The largest size that fits is accepted up to the body limit's check.
        let mut decoder = Decoder::new(usize::MAX, 1024);
        assert_eq!(
            decoder.decode(b"ffffffffffffffff", &mut Vec::new()),
            Ok((16, false))
        );
        assert_eq!(
            decode_all(b"0000000000000005\r\nhello\r\n0000000000000000\r\n\r\n")
                .unwrap()
                .0,
            b"hello"
        );
        // A megabyte of zeros is refused at the 17th byte, not at the end.
        let zeros = vec![b'0'; 1 << 20];
        let mut decoder = Decoder::new(1024, 1024);
        assert_eq!(
            decoder.decode(&zeros, &mut Vec::new()),
            Err(Error::BadChunk)
        );
        let mut decoder = Decoder::new(1024, 1024);
        for _ in 0..MAX_CHUNK_SIZE_DIGITS {
            assert_eq!(decoder.decode(b"0", &mut Vec::new()), Ok((1, false)));
        }
        assert_eq!(decoder.decode(b"0", &mut Vec::new()), Err(Error::BadChunk));
    }

    #[test]
    fn body_limit_is_checked_before_copying() {
        let mut decoder = Decoder::new(10, 1024);
        let mut out = Vec::new();
        decoder.decode(b"6\r\nabcdef\r\n", &mut out).unwrap();
        assert_eq!(
            decoder.decode(b"5\r\n", &mut out).unwrap_err(),
            Error::BodyTooLarge
        );
        assert_eq!(out, b"abcdef", "nothing of the refused chunk was copied");
    }

    #[test]
    fn long_extension_and_trailer_limits() {
        let mut wire = b"1;".to_vec();
        wire.resize(2 + MAX_CHUNK_EXT, b'x');
        assert_eq!(
            Decoder::new(1024, 1024)
                .decode(&wire, &mut Vec::new())
                .unwrap_err(),
            Error::BadChunk
        );
        let mut wire = b"0\r\nX: ".to_vec();
        wire.resize(2000, b'v');
        assert_eq!(
            Decoder::new(1024, 1024)
                .decode(&wire, &mut Vec::new())
                .unwrap_err(),
            Error::HeadersTooLarge
        );
    }

    #[test]
    fn encoder_sends_one_chunk_per_flush() {
        let mut encoder = Encoder::new(Vec::new());
        encoder.write_all(b"hello ").unwrap();
        encoder.write_all(b"world").unwrap();
        encoder.flush().unwrap();
        encoder.flush().unwrap(); // nothing pending: no empty chunk (that would end the body)
        encoder.write_all(&[b'x'; 26]).unwrap();
        let wire = encoder.finish().unwrap();
        let expected = [
            &b"b\r\nhello world\r\n1a\r\n"[..],
            &[b'x'; 26],
            b"\r\n0\r\n\r\n",
        ]
        .concat();
        assert_eq!(wire, expected);
        // And the decoder reads back what the encoder wrote.
        let (body, _) = decode_all(&wire).unwrap();
        assert_eq!(body, [&b"hello world"[..], &[b'x'; 26]].concat());
    }
}
