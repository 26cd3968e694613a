//! Base64 with the standard alphabet and padding (RFC 4648 §4).
//!
//! The WebSocket handshake sends a base64 key and expects a base64 digest back
//! (RFC 6455 §4.1, §4.2.2). Decoding is strict, as §3.3 and §3.5 allow: only the
//! 64 alphabet characters, `=` padding exactly where the length needs it, no
//! whitespace or line breaks, and no non-zero bits in the padding position — so
//! one byte string has exactly one accepted encoding.
//!
//! # Examples
//!
//! ```
//! use realtime_web::codec::base64::{decode, encode};
//!
//! assert_eq!(encode(b"foobar"), "Zm9vYmFy");
//! assert_eq!(decode("Zm9vYg==").unwrap(), b"foob");
//! assert!(decode("Zm9vYg").is_err()); // padding is required
//! ```

use std::fmt;

/// The alphabet of RFC 4648 Table 1.
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The padding character (RFC 4648 §4).
const PAD: u8 = b'=';

/// Why a string is not strict base64.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The length is not a multiple of 4 (padding is required).
    Length,
    /// A character outside the alphabet (or `=` before the end).
    Character,
    /// Padding bits that are not zero: a second spelling of the same bytes.
    NonCanonical,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DecodeError::Length => "base64 length is not a multiple of 4",
            DecodeError::Character => "not a base64 character",
            DecodeError::NonCanonical => "non-zero base64 padding bits",
        })
    }
}

impl std::error::Error for DecodeError {}

/// Encodes `data` (RFC 4648 §4), with padding.
pub fn encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for group in data.chunks(3) {
        let bytes = [
            group[0],
            *group.get(1).unwrap_or(&0),
            *group.get(2).unwrap_or(&0),
        ];
        let bits = u32::from(bytes[0]) << 16 | u32::from(bytes[1]) << 8 | u32::from(bytes[2]);
        for i in 0..4 {
            if i <= group.len() {
                out.push(ALPHABET[(bits >> (18 - 6 * i) & 0x3F) as usize] as char);
            } else {
                out.push(PAD as char);
            }
        }
    }
    out
}

fn value(c: u8) -> Option<u32> {
    let v = match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    };
    Some(u32::from(v))
}

/// Decodes strict base64 (see the module docs).
///
/// # Errors
///
/// [`DecodeError`] for a bad length, a character outside the alphabet or
/// misplaced padding, or non-zero padding bits.
pub fn decode(text: &str) -> Result<Vec<u8>, DecodeError> {
    let bytes = text.as_bytes();
    if bytes.len() % 4 != 0 {
        return Err(DecodeError::Length);
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    let quads = bytes.len() / 4;
    for (q, quad) in bytes.chunks_exact(4).enumerate() {
        let last = q + 1 == quads;
        let pads = match quad {
            [_, _, PAD, PAD] if last => 2,
            [_, _, _, PAD] if last => 1,
            _ => 0,
        };
        let mut bits = 0u32;
        for &c in &quad[..4 - pads] {
            bits = bits << 6 | value(c).ok_or(DecodeError::Character)?;
        }
        bits <<= 6 * pads;
        let decoded = [(bits >> 16) as u8, (bits >> 8) as u8, bits as u8];
        // §3.5: the bits under the padding must be zero.
        if decoded[3 - pads..].iter().any(|&b| b != 0) {
            return Err(DecodeError::NonCanonical);
        }
        out.extend_from_slice(&decoded[..3 - pads]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4648 §10, the test vectors.
    const VECTORS: [(&str, &str); 7] = [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ];

    #[test]
    fn rfc4648_vectors_encode() {
        for (plain, encoded) in VECTORS {
            assert_eq!(encode(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn rfc4648_vectors_decode() {
        for (plain, encoded) in VECTORS {
            assert_eq!(decode(encoded).unwrap(), plain.as_bytes());
        }
    }

    #[test]
    fn every_byte_round_trips() {
        let all: Vec<u8> = (0..=255).collect();
        for len in 0..all.len() {
            assert_eq!(decode(&encode(&all[..len])).unwrap(), &all[..len]);
        }
        assert!(encode(&[0xfb, 0xff]).contains('+') || encode(&[0xfb, 0xff]).contains('/'));
    }

    #[test]
    fn rfc6455_example_key_is_16_bytes() {
        assert_eq!(
            decode("dGhlIHNhbXBsZSBub25jZQ==").unwrap(),
            b"the sample nonce"
        );
    }

    #[test]
    fn strict_decoding() {
        assert_eq!(decode("Zm9vYg"), Err(DecodeError::Length));
        assert_eq!(decode("Zm9v\nYg=="), Err(DecodeError::Length));
        assert_eq!(decode("Zm9 vYg=="), Err(DecodeError::Length));
        assert_eq!(decode("Zm9vY*=="), Err(DecodeError::Character));
        assert_eq!(decode("Zm=vYg=="), Err(DecodeError::Character));
        assert_eq!(
            decode("Zg==Zg=="),
            Err(DecodeError::Character),
            "padding only at the end"
        );
        assert_eq!(decode("Z==="), Err(DecodeError::Character));
        assert_eq!(decode("===="), Err(DecodeError::Character));
        assert_eq!(
            decode("Zh=="),
            Err(DecodeError::NonCanonical),
            "Zg== spelled otherwise"
        );
        assert_eq!(decode("Zm9="), Err(DecodeError::NonCanonical));
        assert_eq!(decode("Zm8=").unwrap(), b"fo");
        assert_eq!(
            decode("Zm-v"),
            Err(DecodeError::Character),
            "no URL-safe alphabet"
        );
    }
}
