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
