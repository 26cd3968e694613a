//! Pure functions over bytes, each with its specification's own test vectors.
//!
//! Nothing here knows about sockets, HTTP or channels.

pub mod base64;
pub mod json;
pub mod sha1;
