//! Incremental UTF-8 validation: text that arrives in pieces (WebSocket
//! fragments, or a large frame read a socket-full at a time) is checked as each
//! piece comes, with a character cut between two pieces carried over.
//!
//! RFC 6455 §8.1 asks an endpoint that finds a text message is not valid UTF-8
//! to fail the connection — and to do so as soon as it is found, not when the
//! message ends. The rules themselves are RFC 3629's, as `std::str::from_utf8`
//! applies them: no overlong forms, no surrogates, nothing past U+10FFFF.
//!
//! ```
//! use realtime_web::codec::utf8::Utf8Stream;
//!
//! let mut text = Utf8Stream::default();
//! assert!(text.feed(b"caf\xC3").is_ok()); // 'é' cut after its first byte
//! assert!(!text.is_complete());
//! assert!(text.feed(b"\xA9!").is_ok());
//! assert!(text.is_complete());
//! assert!(text.feed(b"\xFF").is_err()); // never valid
//! ```

/// The state of a validation under way: the start of a character cut off at
/// the end of the last piece.
#[derive(Clone, Debug, Default)]
pub struct Utf8Stream {
    pending: [u8; 4],
    len: usize,
}

/// The text so far cannot be UTF-8, whatever follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Invalid;

impl Utf8Stream {
    /// Checks the next piece.
    ///
    /// # Errors
    ///
    /// [`Invalid`] as soon as the text so far cannot be UTF-8.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<(), Invalid> {
        // First finish the character the last piece cut off.
        while self.len > 0 {
            let Some((&b, rest)) = bytes.split_first() else {
                return Ok(());
            };
            self.pending[self.len] = b;
            self.len += 1;
            bytes = rest;
            match std::str::from_utf8(&self.pending[..self.len]) {
                Ok(_) => self.len = 0,
                Err(e) if e.error_len().is_some() => return Err(Invalid),
                Err(_) if self.len == 4 => return Err(Invalid),
                Err(_) => {}
            }
        }
        match std::str::from_utf8(bytes) {
            Ok(_) => Ok(()),
            // Cut off in the middle of a character that can still be valid.
            Err(e) if e.error_len().is_none() => {
                let tail = &bytes[e.valid_up_to()..];
                self.pending[..tail.len()].copy_from_slice(tail);
                self.len = tail.len();
                Ok(())
            }
            Err(_) => Err(Invalid),
        }
    }

    /// True when the text so far ends at a character boundary.
    pub fn is_complete(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(pieces: &[&[u8]]) -> Result<bool, usize> {
        let mut utf8 = Utf8Stream::default();
        for (i, piece) in pieces.iter().enumerate() {
            utf8.feed(piece).map_err(|_| i)?;
        }
        Ok(utf8.is_complete())
    }

    #[test]
    fn split_anywhere() {
        let text = "κόσμε ☃ 𝄞 done".as_bytes();
        for split in 0..=text.len() {
            assert_eq!(
                feed_all(&[&text[..split], &text[split..]]),
                Ok(true),
                "split {split}"
            );
        }
        let pieces: Vec<&[u8]> = text.chunks(1).collect();
        assert_eq!(feed_all(&pieces), Ok(true), "a byte at a time");
    }

    #[test]
    fn fails_at_the_piece_that_breaks_it() {
        // Autobahn 6.4.1: a valid first piece, then the invalid F4 90 (> U+10FFFF).
        assert_eq!(
            feed_all(&["κόσμε".as_bytes(), &[0xF4, 0x90, 0x80, 0x80], b"edited"]),
            Err(1)
        );
        // The invalid continuation arrives one byte later than the lead byte.
        assert_eq!(feed_all(&[b"ab\xF0", b"\x28", b"cd"]), Err(1));
        assert_eq!(feed_all(&[b"\xC0\xAF"]), Err(0), "overlong");
        assert_eq!(feed_all(&[b"\xED\xA0\x80"]), Err(0), "surrogate");
        assert_eq!(
            feed_all(&[b"abc\xE2\x82"]),
            Ok(false),
            "incomplete at the end"
        );
    }
}
