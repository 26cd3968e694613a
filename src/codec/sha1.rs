//! SHA-1, as FIPS 180-4 §6.1 specifies it (also RFC 3174).
//!
//! The WebSocket handshake (RFC 6455 §1.3, §4.2.2) proves that a server read the
//! client's `Sec-WebSocket-Key` by answering with base64(SHA-1(key + GUID)). That
//! is its only use here: SHA-1 is broken for collision resistance and must not be
//! used for anything that needs it, but the handshake only needs a fixed, known
//! transformation.
//!
//! The message is processed in 512-bit blocks (§6.1.2); [`Sha1::update`] may be
//! called with any amount of data, and [`Sha1::finish`] pads the message
//! (§5.1.1: a 1 bit, zeros, and the 64-bit length in bits) and returns the
//! 160-bit digest.
//!
//! # Examples
//!
//! ```
//! use realtime_web::codec::sha1::{sha1, Sha1};
//!
//! let mut hash = Sha1::new();
//! hash.update(b"a");
//! hash.update(b"bc");
//! assert_eq!(hash.finish(), sha1(b"abc"));
//! assert_eq!(sha1(b"abc")[..4], [0xa9, 0x99, 0x3e, 0x36]);
//! ```

/// The initial hash value H(0) (FIPS 180-4 §5.3.1).
const H0: [u32; 5] = [
    0x6745_2301,
    0xEFCD_AB89,
    0x98BA_DCFE,
    0x1032_5476,
    0xC3D2_E1F0,
];

/// The constants K(t), one per 20 rounds (§4.2.1).
const K: [u32; 4] = [0x5A82_7999, 0x6ED9_EBA1, 0x8F1B_BCDC, 0xCA62_C1D6];

/// A block is 512 bits.
const BLOCK: usize = 64;

/// An incremental SHA-1 computation.
#[derive(Clone, Debug)]
pub struct Sha1 {
    state: [u32; 5],
    block: [u8; BLOCK],
    filled: usize,
    length_bytes: u64,
}

impl Default for Sha1 {
    fn default() -> Self {
        Sha1::new()
    }
}

impl Sha1 {
    /// A computation over the empty message so far.
    pub fn new() -> Sha1 {
        Sha1 {
            state: H0,
            block: [0; BLOCK],
            filled: 0,
            length_bytes: 0,
        }
    }

    /// Appends `data` to the message.
    pub fn update(&mut self, mut data: &[u8]) {
        self.length_bytes = self.length_bytes.wrapping_add(data.len() as u64);
        if self.filled > 0 {
            let take = (BLOCK - self.filled).min(data.len());
            self.block[self.filled..self.filled + take].copy_from_slice(&data[..take]);
            self.filled += take;
            data = &data[take..];
            if self.filled < BLOCK {
                return;
            }
            compress(&mut self.state, &self.block);
            self.filled = 0;
        }
        let mut blocks = data.chunks_exact(BLOCK);
        for block in &mut blocks {
            compress(
                &mut self.state,
                block
                    .try_into()
                    .expect("bug: chunks_exact gives whole blocks"),
            );
        }
        let rest = blocks.remainder();
        self.block[..rest.len()].copy_from_slice(rest);
        self.filled = rest.len();
    }

    /// Pads the message (§5.1.1) and returns its 20-byte digest.
    ///
    /// The padding is written into the block in place, not through a
    /// 72-byte array: the handshake hashes on a connection thread, whose
    /// every stack page touched stays resident (see `Config::stack_size`).
    pub fn finish(mut self) -> [u8; 20] {
        let length_bits = self.length_bytes.wrapping_mul(8);
        self.block[self.filled] = 0x80;
        self.block[self.filled + 1..].fill(0);
        // No room left for the 8-byte length: it goes in a block of its own.
        if self.filled + 1 > BLOCK - 8 {
            compress(&mut self.state, &self.block);
            self.block = [0; BLOCK];
        }
        self.block[BLOCK - 8..].copy_from_slice(&length_bits.to_be_bytes());
        compress(&mut self.state, &self.block);
        let mut digest = [0u8; 20];
        for (out, word) in digest.chunks_exact_mut(4).zip(self.state) {
            out.copy_from_slice(&word.to_be_bytes());
        }
        digest
    }
}

/// The compression function on one block (§6.1.2, steps 1–4), with the
/// schedule kept in 16 words as §6.1.3 allows: W(t) for t ≥ 16 overwrites
/// W(t − 16), the oldest word it reads. 256 bytes less stack than W(0..80).
fn compress(state: &mut [u32; 5], block: &[u8; BLOCK]) {
    // 1. The message schedule, its first 16 words.
    let mut w = [0u32; 16];
    for (t, word) in block.chunks_exact(4).enumerate() {
        w[t] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
    }
    // 2. The working variables.
    let [mut a, mut b, mut c, mut d, mut e] = *state;
    // 3. Eighty rounds, with f(t) per §4.1.1: Ch, Parity, Maj, Parity.
    for t in 0..80 {
        let wt = if t < 16 {
            w[t]
        } else {
            let s = t & 15;
            w[s] = (w[(s + 13) & 15] ^ w[(s + 8) & 15] ^ w[(s + 2) & 15] ^ w[s]).rotate_left(1);
            w[s]
        };
        let f = match t / 20 {
            0 => (b & c) | (!b & d),
            2 => (b & c) | (b & d) | (c & d),
            _ => b ^ c ^ d,
        };
        let temp = a
            .rotate_left(5)
            .wrapping_add(f)
            .wrapping_add(e)
            .wrapping_add(K[t / 20])
            .wrapping_add(wt);
        e = d;
        d = c;
        c = b.rotate_left(30);
        b = a;
        a = temp;
    }
    // 4. The intermediate hash value.
    for (h, v) in state.iter_mut().zip([a, b, c, d, e]) {
        *h = h.wrapping_add(v);
    }
}

/// The SHA-1 digest of `data`.
pub fn sha1(data: &[u8]) -> [u8; 20] {
    let mut hash = Sha1::new();
    hash.update(data);
    hash.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(digest: [u8; 20]) -> String {
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    // The vectors of FIPS 180-4's examples (NIST CSRC "SHA1.pdf") and RFC 3174 §7.3.
    #[test]
    fn empty_message() {
        assert_eq!(hex(sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    }

    #[test]
    fn abc() {
        assert_eq!(
            hex(sha1(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
    }

    #[test]
    fn the_448_bit_message() {
        assert_eq!(
            hex(sha1(
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            )),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        );
    }

    #[test]
    fn the_896_bit_message() {
        assert_eq!(
            hex(sha1(b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu")),
            "a49b2446a02c645bf419f995b67091253a04a259"
        );
    }

    #[test]
    fn one_million_a() {
        let mut hash = Sha1::new();
        let chunk = [b'a'; 1000];
        for _ in 0..1000 {
            hash.update(&chunk);
        }
        assert_eq!(
            hex(hash.finish()),
            "34aa973cd4c4daa4f61eeb2bdbad27316534016f"
        );
    }

    #[test]
    fn split_updates_equal_one_update() {
        let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let whole = sha1(&data);
        for split in [0, 1, 55, 56, 63, 64, 65, 127, 128, 999] {
            let mut hash = Sha1::new();
            hash.update(&data[..split]);
            hash.update(&data[split..]);
            assert_eq!(hash.finish(), whole, "split at {split}");
        }
    }

    #[test]
    fn lengths_around_the_padding_boundary() {
        // 55 bytes pad into one block, 56 need a second: both must be right.
        assert_eq!(
            hex(sha1(&[b'a'; 55])),
            "c1c8bbdc22796e28c0e15163d20899b65621d65a"
        );
        assert_eq!(
            hex(sha1(&[b'a'; 56])),
            "c2db330f6083854c99d4b5bfb6e8f29f201be699"
        );
        assert_eq!(
            hex(sha1(&[b'a'; 64])),
            "0098ba824b5c16427bd7a1122a5a442a25ec644d"
        );
    }
}
