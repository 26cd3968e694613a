//! Pure functions over bytes, each with its specification's own test vectors.
//!
//! Nothing here knows about sockets, HTTP or channels.

pub mod base64;
pub mod deflate;
pub mod inflate;
pub mod json;
pub mod number;
pub mod resp;
pub mod sha1;
pub mod utf8;

/// The result of feeding the bytes received so far to a parser.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed<T> {
    /// A whole item, and how many input bytes it used.
    Complete {
        /// The parsed item.
        value: T,
        /// How many bytes of the input it took; the rest belongs to what follows.
        consumed: usize,
    },
    /// The input ends before the item does, and breaks no rule so far.
    NeedMore,
}

/// Deterministic noise for the codecs' tests (xorshift), so that a failure
/// repeats: data that does not compress.
#[cfg(test)]
pub(crate) fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.max(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}
