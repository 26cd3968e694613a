//! permessage-deflate (RFC 7692): WebSocket messages compressed with DEFLATE
//! ([`crate::codec::deflate`], [`crate::codec::inflate`]), negotiated in the
//! handshake.
//!
//! ```text
//! client: Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits
//! server: Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover
//! frames: RSV1 set on the first frame of a compressed message; its payload is
//!         the DEFLATE blocks and a sync flush without its last 00 00 FF FF
//! ```
//!
//! **Negotiation (§7.1).** The client offers the extension, perhaps several
//! times with different parameters; the server accepts the first offer it
//! can honour and answers with the parameters in force:
//!
//! | parameter | meaning |
//! | --- | --- |
//! | `server_no_context_takeover` | the server compresses each message alone |
//! | `client_no_context_takeover` | the client compresses each message alone |
//! | `server_max_window_bits=N` | the server's matches reach at most 2^N back (8–15) |
//! | `client_max_window_bits[=N]` | the client's do; without a value, an offer that the server may set it |
//!
//! This server always answers `server_no_context_takeover` when asked to (a
//! channel's subscribers get the same compressed bytes, compressed once) and
//! honours every window size from 8 to 15 — including 8, which zlib-based
//! servers cannot.
//!
//! **Messages (§6, §7.2).** A compressed message has RSV1 on its first frame
//! only; its fragments' payloads, joined, with `00 00 FF FF` appended,
//! inflate to the message. Control frames are never compressed. A sender may
//! leave any message uncompressed. Limits apply to the inflated size.

use crate::codec::deflate::Deflater;
use crate::codec::inflate::{InflateError, Inflater};
use crate::http::list_has_token;

/// The extension's name in `Sec-WebSocket-Extensions`.
pub const NAME: &str = "permessage-deflate";

/// The parameters in force once negotiated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// The server compresses each message alone.
    pub server_no_context_takeover: bool,
    /// The client compresses each message alone.
    pub client_no_context_takeover: bool,
    /// The server's LZ77 window, in bits (8–15).
    pub server_max_window_bits: u8,
    /// The client's LZ77 window, in bits (8–15).
    pub client_max_window_bits: u8,
}

impl Params {
    /// The response's `Sec-WebSocket-Extensions` value.
    pub fn header(&self) -> String {
        let mut value = NAME.to_owned();
        if self.server_no_context_takeover {
            value.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            value.push_str("; client_no_context_takeover");
        }
        if self.server_max_window_bits < 15 {
            value.push_str(&format!(
                "; server_max_window_bits={}",
                self.server_max_window_bits
            ));
        }
        if self.client_max_window_bits < 15 {
            value.push_str(&format!(
                "; client_max_window_bits={}",
                self.client_max_window_bits
            ));
        }
        value
    }
}

/// The first offer in `offers` (the request's `Sec-WebSocket-Extensions`
/// values, joined by commas) that the server can accept, as the parameters
/// it answers with. With `no_context`, the server compresses each message
/// alone whether or not the client asked (§7.1.1.1 lets it say so).
/// Offers with unknown, repeated or invalid parameters are declined (§7.1:
/// "the server MUST decline an extension negotiation offer" it cannot
/// accept), and the next is tried.
pub fn negotiate(offers: &str, no_context: bool) -> Option<Params> {
    offers.split(',').find_map(|offer| {
        let mut parts = offer.split(';').map(|p| p.trim_matches([' ', '\t']));
        if !parts.next()?.eq_ignore_ascii_case(NAME) {
            return None;
        }
        let mut params = Params {
            server_no_context_takeover: no_context,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        };
        let mut seen: Vec<String> = Vec::new();
        for part in parts {
            let (name, value) = match part.split_once('=') {
                Some((name, value)) => (name.trim(), Some(value.trim().trim_matches('"'))),
                None => (part, None),
            };
            let name = name.to_ascii_lowercase();
            if seen.contains(&name) {
                return None; // §7.1: a parameter given twice declines the offer
            }
            seen.push(name.clone());
            match (name.as_str(), value) {
                ("server_no_context_takeover", None) => params.server_no_context_takeover = true,
                ("client_no_context_takeover", None) => params.client_no_context_takeover = true,
                ("server_max_window_bits", Some(bits)) => {
                    params.server_max_window_bits = window_bits(bits)?
                }
                // Without a value the client only says it could take one;
                // the server keeps 15 and need not say so.
                ("client_max_window_bits", None) => {}
                ("client_max_window_bits", Some(bits)) => {
                    params.client_max_window_bits = window_bits(bits)?
                }
                _ => return None,
            }
        }
        Some(params)
    })
}

/// The client's reading of the server's answer: the parameters in force.
///
/// # Errors
///
/// A sentence when the answer is not an acceptable permessage-deflate
/// response to the client's offer (§7.1: the client fails the connection).
pub fn accepted(answer: &str) -> Result<Params, String> {
    if answer.contains(',') {
        return Err("more than one extension in the answer".into());
    }
    negotiate(answer, false).ok_or_else(|| format!("unusable extension answer: {answer}"))
}

/// The client's offer: every parameter left to the server.
pub fn offer() -> String {
    format!("{NAME}; client_max_window_bits")
}

/// Whether a request's `Sec-WebSocket-Extensions` offers the extension.
pub fn offered(extensions: &str) -> bool {
    extensions
        .split(',')
        .any(|e| e.split(';').next().is_some_and(|n| list_has_token(n, NAME)))
}

fn window_bits(value: &str) -> Option<u8> {
    match value.parse::<u8>() {
        Ok(bits @ 8..=15) if !value.starts_with('+') && !value.starts_with('0') => Some(bits),
        _ => None,
    }
}

/// The sending half: compresses this end's messages.
#[derive(Debug)]
pub struct Compressor {
    deflater: Deflater,
    /// Compress each message alone.
    no_context: bool,
}

/// The receiving half: inflates the peer's messages.
#[derive(Debug)]
pub struct Decompressor {
    inflater: Inflater,
    /// The peer compresses each message alone.
    no_context: bool,
}

/// The server's halves for `params`.
pub fn server(params: Params) -> (Compressor, Decompressor) {
    (
        Compressor {
            deflater: Deflater::new(params.server_max_window_bits),
            no_context: params.server_no_context_takeover,
        },
        Decompressor {
            inflater: Inflater::new(params.client_max_window_bits),
            no_context: params.client_no_context_takeover,
        },
    )
}

/// The client's halves for `params`.
pub fn client(params: Params) -> (Compressor, Decompressor) {
    (
        Compressor {
            deflater: Deflater::new(params.client_max_window_bits),
            no_context: params.client_no_context_takeover,
        },
        Decompressor {
            inflater: Inflater::new(params.server_max_window_bits),
            no_context: params.server_no_context_takeover,
        },
    )
}

impl Compressor {
    /// A message's payload, compressed (§7.2.1).
    pub fn compress(&mut self, message: &[u8], out: &mut Vec<u8>) {
        if self.no_context {
            self.deflater.reset();
        }
        self.deflater.compress(message, out);
    }
}

impl Decompressor {
    /// A compressed message's payload, inflated to at most `limit` bytes
    /// (§7.2.2).
    ///
    /// # Errors
    ///
    /// As [`Inflater::inflate`].
    pub fn decompress(&mut self, payload: &[u8], limit: usize) -> Result<Vec<u8>, InflateError> {
        if self.no_context {
            self.inflater.reset();
        }
        let mut input = Vec::with_capacity(payload.len() + 4);
        input.extend_from_slice(payload);
        input.extend_from_slice(&[0x00, 0x00, 0xff, 0xff]);
        let mut out = Vec::new();
        self.inflater.inflate(&input, &mut out, limit)?;
        Ok(out)
    }
}

/// A channel message's frame, compressed once for every subscriber: each
/// message alone (the server answers `server_no_context_takeover` to channel
/// subscribers), in a window of 256 bytes, which every `server_max_window_bits`
/// a client may ask for allows. A message that does not shrink (short ones
/// seldom do: a 77-byte showcase message compresses to 76) goes out as it
/// is, without RSV1, which §6 allows: the receiver then has nothing to
/// inflate.
pub fn shared_frame(out: &mut Vec<u8>, opcode: super::OpCode, payload: &[u8]) {
    let mut compressed = Vec::new();
    Deflater::new(8).compress(payload, &mut compressed);
    let (rsv1, payload) = if compressed.len() < payload.len() {
        (true, &compressed[..])
    } else {
        (false, payload)
    };
    super::frame::encode_with(out, true, rsv1, opcode, payload, None);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offers_are_negotiated_as_rfc_7692_says() {
        let plain = negotiate("permessage-deflate", false).unwrap();
        assert_eq!(plain.header(), "permessage-deflate");
        let browser = negotiate("permessage-deflate; client_max_window_bits", true).unwrap();
        assert_eq!(
            browser.header(),
            "permessage-deflate; server_no_context_takeover"
        );
        let all = negotiate(
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8; client_max_window_bits=9",
            false,
        )
        .unwrap();
        assert_eq!(
            (all.server_max_window_bits, all.client_max_window_bits),
            (8, 9)
        );
        assert_eq!(
            all.header(),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8; client_max_window_bits=9"
        );
        // A declined offer, then one that is accepted (§7.1).
        let second = negotiate(
            "permessage-deflate; server_max_window_bits=7, permessage-deflate; server_max_window_bits=10",
            false,
        )
        .unwrap();
        assert_eq!(second.server_max_window_bits, 10);
        for declined in [
            "x-webkit-deflate-frame",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=08",
            "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; unknown",
        ] {
            assert_eq!(negotiate(declined, false), None, "{declined}");
        }
        assert!(offered("foo, permessage-deflate; client_max_window_bits"));
        assert!(!offered("foo"));
    }

    #[test]
    fn shared_frames_are_compressed_only_when_that_shrinks_them() {
        let rsv1 = |payload: &[u8]| {
            let mut out = Vec::new();
            shared_frame(&mut out, super::super::OpCode::Text, payload);
            (out[0] & 0x40 != 0, out.len())
        };
        let long = "{\"id\":1,\"data\":\"hello\"},".repeat(40);
        let (compressed, size) = rsv1(long.as_bytes());
        assert!(compressed && size < long.len() / 4, "{size}");
        assert_eq!(rsv1(b"{\"id\":1}"), (false, 2 + 8));
    }

    #[test]
    fn a_codec_pair_talks_both_ways_with_and_without_context() {
        for params in [
            negotiate("permessage-deflate", false).unwrap(),
            negotiate(
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8; client_max_window_bits=8",
                false,
            )
            .unwrap(),
        ] {
            let ((mut server_out, mut server_in), (mut client_out, mut client_in)) =
                (server(params), client(params));
            for text in ["hello", "hello hello hello", "", "{\"id\":1}"] {
                let mut wire = Vec::new();
                server_out.compress(text.as_bytes(), &mut wire);
                assert_eq!(client_in.decompress(&wire, 1 << 20).unwrap(), text.as_bytes());
                let mut wire = Vec::new();
                client_out.compress(text.as_bytes(), &mut wire);
                assert_eq!(server_in.decompress(&wire, 1 << 20).unwrap(), text.as_bytes());
            }
        }
    }
}
