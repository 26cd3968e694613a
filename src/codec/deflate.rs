//! DEFLATE compression (RFC 1951), for WebSocket's permessage-deflate
//! (RFC 7692): LZ77 over a window of 256 bytes to 32 KiB with hash chains,
//! each block sent stored, with the fixed Huffman codes, or with codes of its
//! own (whichever is smallest), and each message ended by a sync flush.
//!
//! - **LZ77 (§3.2.5).** Every position is hashed by its next three bytes;
//!   each hash keeps a chain of earlier positions with it. At each position
//!   the longest match (3 to 258 bytes) among the nearest candidates within
//!   the window is taken, else the literal byte.
//! - **Huffman codes (§3.2.2, §3.2.7).** A block's literal/length and
//!   distance codes are built from its own symbol counts (a Huffman tree,
//!   its lengths then cut to 15 bits and the code repaired to stay a prefix
//!   code), sent as code lengths run-length coded with symbols 16, 17, 18,
//!   themselves Huffman coded (7 bits at most).
//! - **Sync flush (RFC 7692 §7.2.1).** A message ends with an empty stored
//!   block, whose last four bytes, `00 00 FF FF`, are then removed: the
//!   receiver appends them again before inflating.
//!
//! With context takeover, the window reaches into earlier messages; with
//! none ([`Deflater::reset`] before each message), every message is
//! compressed alone, which is what lets a server compress a channel message
//! once and send the same bytes to every subscriber.
//!
//! ```
//! use realtime_web::codec::deflate::Deflater;
//! use realtime_web::codec::inflate::Inflater;
//!
//! let text = b"{\"id\":1,\"event\":\"message\",\"data\":\"hello hello hello\"}";
//! let mut compressed = Vec::new();
//! Deflater::new(15).compress(text, &mut compressed);
//! assert!(compressed.len() < text.len());
//!
//! compressed.extend_from_slice(&[0x00, 0x00, 0xff, 0xff]); // RFC 7692 §7.2.2
//! let mut out = Vec::new();
//! Inflater::new(15).inflate(&compressed, &mut out, 1 << 20).unwrap();
//! assert_eq!(out, text);
//! ```

use super::inflate::{CLEN_ORDER, DIST_BASE, DIST_EXTRA, LENGTH_BASE, LENGTH_EXTRA};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

const MIN_MATCH: usize = 3;
const MAX_MATCH: usize = 258;
/// How many earlier positions are tried for a match, at most.
const MAX_CHAIN: usize = 64;
const HASH_BITS: u32 = 15;
/// The most symbols one block carries before another begins.
const BLOCK_SYMBOLS: usize = 16 * 1024;
const END_OF_BLOCK: usize = 256;

/// One LZ77 symbol.
#[derive(Clone, Copy, Debug)]
enum Token {
    Literal(u8),
    Match { length: u16, distance: u16 },
}

/// A compressor whose window reaches into earlier messages (context
/// takeover), unless [`Deflater::reset`] clears it.
#[derive(Clone, Debug)]
pub struct Deflater {
    history: Vec<u8>,
    window: usize,
}

impl Deflater {
    /// A compressor whose matches reach at most `2^window_bits` bytes back
    /// (8 to 15: RFC 7692's `*_max_window_bits`, which the peer's inflater
    /// was promised).
    pub fn new(window_bits: u8) -> Deflater {
        Deflater {
            history: Vec::new(),
            window: 1 << window_bits.clamp(8, 15),
        }
    }

    /// Forgets earlier messages: the next one is compressed alone (no
    /// context takeover).
    pub fn reset(&mut self) {
        self.history.clear();
    }

    /// Appends `data` compressed to `out`: its blocks, then a sync flush
    /// without its last four bytes (RFC 7692 §7.2.1).
    pub fn compress(&mut self, data: &[u8], out: &mut Vec<u8>) {
        let base = self.history.len();
        let mut buffer = std::mem::take(&mut self.history);
        buffer.extend_from_slice(data);
        let tokens = lz77(&buffer, base, self.window);
        let mut bits = BitWriter::new(out);
        let mut at = base;
        for block in tokens.chunks(BLOCK_SYMBOLS) {
            let covered: usize = block
                .iter()
                .map(|t| match t {
                    Token::Literal(_) => 1,
                    Token::Match { length, .. } => usize::from(*length),
                })
                .sum();
            write_block(&mut bits, block, &buffer[at..at + covered]);
            at += covered;
        }
        // The sync flush: an empty stored block, not final, whose LEN and
        // NLEN (`00 00 FF FF`) are exactly the four bytes RFC 7692 removes.
        bits.put(0, 3);
        bits.align();
        let keep = buffer.len().min(self.window);
        buffer.drain(..buffer.len() - keep);
        self.history = buffer;
    }
}

/// LZ77 over `buffer[start..]`, matching back into all of `buffer` within
/// `window`.
fn lz77(buffer: &[u8], start: usize, window: usize) -> Vec<Token> {
    let hash = |at: usize| -> usize {
        let h = (u32::from(buffer[at]) << 10)
            ^ (u32::from(buffer[at + 1]) << 5)
            ^ u32::from(buffer[at + 2]);
        (h & ((1 << HASH_BITS) - 1)) as usize
    };
    let mut head = vec![usize::MAX; 1 << HASH_BITS];
    let mut previous = vec![usize::MAX; buffer.len()];
    let insert = |at: usize, head: &mut Vec<usize>, previous: &mut Vec<usize>| {
        if at + MIN_MATCH <= buffer.len() {
            let h = hash(at);
            previous[at] = head[h];
            head[h] = at;
        }
    };
    for at in 0..start {
        insert(at, &mut head, &mut previous);
    }
    let mut tokens = Vec::new();
    let mut at = start;
    while at < buffer.len() {
        let (mut best_length, mut best_distance) = (0, 0);
        if at + MIN_MATCH <= buffer.len() {
            let longest = (buffer.len() - at).min(MAX_MATCH);
            let mut candidate = head[hash(at)];
            let mut tried = 0;
            while candidate != usize::MAX && at - candidate <= window && tried < MAX_CHAIN {
                let length = buffer[candidate..]
                    .iter()
                    .zip(&buffer[at..at + longest])
                    .take_while(|(a, b)| a == b)
                    .count();
                if length > best_length {
                    (best_length, best_distance) = (length, at - candidate);
                    if length == longest {
                        break;
                    }
                }
                candidate = previous[candidate];
                tried += 1;
            }
        }
        if best_length >= MIN_MATCH {
            tokens.push(Token::Match {
                length: best_length as u16,
                distance: best_distance as u16,
            });
            for k in at..at + best_length {
                insert(k, &mut head, &mut previous);
            }
            at += best_length;
        } else {
            tokens.push(Token::Literal(buffer[at]));
            insert(at, &mut head, &mut previous);
            at += 1;
        }
    }
    tokens
}

/// The symbol and extra bits of a match length (§3.2.5).
fn length_code(length: u16) -> (usize, u32, u16) {
    let i = LENGTH_BASE
        .iter()
        .rposition(|&base| base <= length)
        .unwrap_or(0);
    (257 + i, u32::from(LENGTH_EXTRA[i]), length - LENGTH_BASE[i])
}

/// The code and extra bits of a distance (§3.2.5).
fn distance_code(distance: u16) -> (usize, u32, u16) {
    let i = DIST_BASE
        .iter()
        .rposition(|&base| base <= distance)
        .unwrap_or(0);
    (i, u32::from(DIST_EXTRA[i]), distance - DIST_BASE[i])
}

/// Writes one block of `tokens` (which encode `raw`), as the smallest of
/// stored, fixed and dynamic.
fn write_block(bits: &mut BitWriter<'_>, tokens: &[Token], raw: &[u8]) {
    let mut literal_counts = [0u32; 286];
    let mut distance_counts = [0u32; 30];
    for token in tokens {
        match *token {
            Token::Literal(byte) => literal_counts[usize::from(byte)] += 1,
            Token::Match { length, distance } => {
                literal_counts[length_code(length).0] += 1;
                distance_counts[distance_code(distance).0] += 1;
            }
        }
    }
    literal_counts[END_OF_BLOCK] = 1;
    // Two symbols at least in each code, so that each is a complete code.
    for counts in [&mut literal_counts[..], &mut distance_counts[..]] {
        for filler in 0..2 {
            if counts.iter().filter(|&&c| c > 0).count() < 2 && counts[filler] == 0 {
                counts[filler] = 1;
            }
        }
    }
    let literal_lengths = code_lengths(&literal_counts, 15);
    let distance_lengths = code_lengths(&distance_counts, 15);
    let header = DynamicHeader::new(&literal_lengths, &distance_lengths);

    let fixed = fixed_lengths();
    let cost = |literal: &[u8], distance: &[u8]| -> usize {
        tokens
            .iter()
            .map(|token| match *token {
                Token::Literal(byte) => usize::from(literal[usize::from(byte)]),
                Token::Match {
                    length,
                    distance: d,
                } => {
                    let (symbol, extra, _) = length_code(length);
                    let (code, dextra, _) = distance_code(d);
                    usize::from(literal[symbol])
                        + extra as usize
                        + usize::from(distance[code])
                        + dextra as usize
                }
            })
            .sum::<usize>()
            + usize::from(literal[END_OF_BLOCK])
    };
    let dynamic_bits = 3 + header.bits() + cost(&literal_lengths, &distance_lengths);
    let fixed_bits = 3 + cost(&fixed.0, &fixed.1);
    let stored_bits = raw.len().div_ceil(65_535).max(1) * (3 + 7 + 32) + raw.len() * 8;

    if stored_bits <= dynamic_bits && stored_bits <= fixed_bits {
        for piece in raw.chunks(65_535) {
            bits.put(0, 3); // not final, stored
            bits.align();
            let len = piece.len() as u32;
            bits.put(len, 16);
            bits.put(!len & 0xFFFF, 16);
            bits.bytes(piece);
        }
        if raw.is_empty() {
            bits.put(0, 3);
            bits.align();
            bits.put(0, 16);
            bits.put(0xFFFF, 16);
        }
    } else if fixed_bits <= dynamic_bits {
        bits.put(0b010, 3); // not final, fixed
        write_tokens(bits, tokens, &Codes::new(&fixed.0), &Codes::new(&fixed.1));
    } else {
        bits.put(0b100, 3); // not final, dynamic
        header.write(bits);
        write_tokens(
            bits,
            tokens,
            &Codes::new(&literal_lengths),
            &Codes::new(&distance_lengths),
        );
    }
}

fn write_tokens(bits: &mut BitWriter<'_>, tokens: &[Token], literals: &Codes, distances: &Codes) {
    for token in tokens {
        match *token {
            Token::Literal(byte) => literals.put(bits, usize::from(byte)),
            Token::Match { length, distance } => {
                let (symbol, extra, value) = length_code(length);
                literals.put(bits, symbol);
                bits.put(u32::from(value), extra);
                let (code, extra, value) = distance_code(distance);
                distances.put(bits, code);
                bits.put(u32::from(value), extra);
            }
        }
    }
    literals.put(bits, END_OF_BLOCK);
}

/// The fixed codes' lengths (§3.2.6): literal/length, distance.
fn fixed_lengths() -> (Vec<u8>, Vec<u8>) {
    let mut literal = vec![8u8; 288];
    literal[144..256].fill(9);
    literal[256..280].fill(7);
    (literal, vec![5u8; 30])
}

/// The lengths of a Huffman code for `counts` (0 for unused symbols), none
/// longer than `limit`. A Huffman tree first; if it is too deep, lengths
/// past the limit are cut to it and the shortest codes lengthened until the
/// Kraft sum is 1 again, so the code stays a prefix code (less than optimal
/// only for codes that were too deep).
fn code_lengths(counts: &[u32], limit: u8) -> Vec<u8> {
    let mut lengths = vec![0u8; counts.len()];
    let used: Vec<usize> = (0..counts.len()).filter(|&s| counts[s] > 0).collect();
    if used.len() == 1 {
        lengths[used[0]] = 1;
        return lengths;
    }
    // Nodes: leaves are symbols; each merge makes a node whose children
    // are remembered, to read depths off the tree.
    let mut parent: Vec<usize> = vec![usize::MAX; counts.len()];
    let mut heap: BinaryHeap<Reverse<(u64, usize)>> = used
        .iter()
        .map(|&s| Reverse((u64::from(counts[s]), s)))
        .collect();
    while heap.len() > 1 {
        let Reverse((a_weight, a)) = heap.pop().expect("two nodes");
        let Reverse((b_weight, b)) = heap.pop().expect("two nodes");
        let node = parent.len();
        parent.push(usize::MAX);
        parent[a] = node;
        parent[b] = node;
        heap.push(Reverse((a_weight + b_weight, node)));
    }
    for &symbol in &used {
        let mut depth = 0u8;
        let mut node = symbol;
        while parent[node] != usize::MAX {
            node = parent[node];
            depth += 1;
        }
        lengths[symbol] = depth.min(limit);
    }
    // Repair: while the code is over-subscribed, lengthen the longest code
    // that is still under the limit.
    let kraft = |lengths: &[u8]| -> u64 {
        lengths
            .iter()
            .filter(|&&l| l > 0)
            .map(|&l| 1u64 << (limit - l))
            .sum()
    };
    let full = 1u64 << limit;
    while kraft(&lengths) > full {
        let deepest = used
            .iter()
            .copied()
            .filter(|&s| lengths[s] < limit)
            .max_by_key(|&s| (lengths[s], Reverse(counts[s])))
            .expect("a code under the limit");
        lengths[deepest] += 1;
    }
    // Then fill what that left unused, or the code is incomplete, which
    // decoders refuse (zlib: "invalid code lengths set"): shortening the
    // deepest code adds the smallest unit of the Kraft sum, so it reaches
    // exactly full.
    let mut sum = kraft(&lengths);
    while sum < full {
        let deepest = used
            .iter()
            .copied()
            .filter(|&s| lengths[s] > 1)
            .max_by_key(|&s| (lengths[s], counts[s]))
            .expect("a code to shorten");
        sum += 1 << (limit - lengths[deepest]);
        lengths[deepest] -= 1;
    }
    lengths
}

/// Canonical codes (§3.2.2) for `lengths`, bit-reversed for writing.
struct Codes {
    code: Vec<u16>,
    length: Vec<u8>,
}

impl Codes {
    fn new(lengths: &[u8]) -> Codes {
        let mut count = [0u16; 16];
        for &l in lengths {
            count[usize::from(l)] += 1;
        }
        count[0] = 0;
        let mut next = [0u16; 16];
        let mut code = 0u16;
        for bits in 1..16 {
            code = (code + count[bits - 1]) << 1;
            next[bits] = code;
        }
        let mut codes = vec![0u16; lengths.len()];
        for (symbol, &l) in lengths.iter().enumerate() {
            if l > 0 {
                let c = next[usize::from(l)];
                next[usize::from(l)] += 1;
                // Huffman codes go out most significant bit first (§3.1.1).
                codes[symbol] = c.reverse_bits() >> (16 - l);
            }
        }
        Codes {
            code: codes,
            length: lengths.to_vec(),
        }
    }

    fn put(&self, bits: &mut BitWriter<'_>, symbol: usize) {
        bits.put(u32::from(self.code[symbol]), u32::from(self.length[symbol]));
    }
}

/// A dynamic block's header: the code lengths, run-length coded (§3.2.7).
struct DynamicHeader {
    literal_count: usize,
    distance_count: usize,
    /// (symbol 0..=18, extra bits value, extra bit count)
    runs: Vec<(u8, u8, u8)>,
    clen_lengths: Vec<u8>,
    clen_count: usize,
}

impl DynamicHeader {
    fn new(literal_lengths: &[u8], distance_lengths: &[u8]) -> DynamicHeader {
        let literal_count = 257.max(
            literal_lengths
                .iter()
                .rposition(|&l| l > 0)
                .map_or(0, |i| i + 1),
        );
        let distance_count = 1.max(
            distance_lengths
                .iter()
                .rposition(|&l| l > 0)
                .map_or(0, |i| i + 1),
        );
        let all: Vec<u8> = literal_lengths[..literal_count]
            .iter()
            .chain(&distance_lengths[..distance_count])
            .copied()
            .collect();
        let mut runs = Vec::new();
        let mut i = 0;
        while i < all.len() {
            let value = all[i];
            let run = all[i..].iter().take_while(|&&l| l == value).count();
            let mut left = run;
            if value == 0 {
                while left >= 11 {
                    let n = left.min(138);
                    runs.push((18, (n - 11) as u8, 7));
                    left -= n;
                }
                if left >= 3 {
                    runs.push((17, (left - 3) as u8, 3));
                    left = 0;
                }
            } else {
                runs.push((value, 0, 0));
                left -= 1;
                while left >= 3 {
                    let n = left.min(6);
                    runs.push((16, (n - 3) as u8, 2));
                    left -= n;
                }
            }
            for _ in 0..left {
                runs.push((value, 0, 0));
            }
            i += run;
        }
        let mut counts = [0u32; 19];
        for &(symbol, _, _) in &runs {
            counts[usize::from(symbol)] += 1;
        }
        for filler in 0..2 {
            if counts.iter().filter(|&&c| c > 0).count() < 2 && counts[filler] == 0 {
                counts[filler] = 1;
            }
        }
        let clen_lengths = code_lengths(&counts, 7);
        let clen_count = 4.max(
            CLEN_ORDER
                .iter()
                .rposition(|&s| clen_lengths[s] > 0)
                .map_or(0, |i| i + 1),
        );
        DynamicHeader {
            literal_count,
            distance_count,
            runs,
            clen_lengths,
            clen_count,
        }
    }

    fn bits(&self) -> usize {
        5 + 5
            + 4
            + 3 * self.clen_count
            + self
                .runs
                .iter()
                .map(|&(s, _, extra)| {
                    usize::from(self.clen_lengths[usize::from(s)]) + usize::from(extra)
                })
                .sum::<usize>()
    }

    fn write(&self, bits: &mut BitWriter<'_>) {
        bits.put((self.literal_count - 257) as u32, 5);
        bits.put((self.distance_count - 1) as u32, 5);
        bits.put((self.clen_count - 4) as u32, 4);
        for &slot in &CLEN_ORDER[..self.clen_count] {
            bits.put(u32::from(self.clen_lengths[slot]), 3);
        }
        let codes = Codes::new(&self.clen_lengths);
        for &(symbol, value, extra) in &self.runs {
            codes.put(bits, usize::from(symbol));
            bits.put(u32::from(value), u32::from(extra));
        }
    }
}

/// Bits out, least significant first (§3.1.1).
struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    bit: u64,
    count: u32,
}

impl<'a> BitWriter<'a> {
    fn new(out: &'a mut Vec<u8>) -> BitWriter<'a> {
        BitWriter {
            out,
            bit: 0,
            count: 0,
        }
    }

    fn put(&mut self, value: u32, n: u32) {
        self.bit |= u64::from(value) << self.count;
        self.count += n;
        while self.count >= 8 {
            self.out.push(self.bit as u8);
            self.bit >>= 8;
            self.count -= 8;
        }
    }

    /// Pads to a byte boundary with zero bits.
    fn align(&mut self) {
        if self.count > 0 {
            self.put(0, 8 - self.count);
        }
    }

    fn bytes(&mut self, bytes: &[u8]) {
        debug_assert_eq!(self.count, 0, "aligned");
        self.out.extend_from_slice(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts that make a Huffman tree deeper than the limit (Fibonacci
    /// numbers) still give a complete prefix code within it: Kraft sum 1.
    #[test]
    fn limited_codes_stay_complete() {
        let mut fibonacci = vec![1u32, 1];
        while fibonacci.len() < 19 {
            let next = fibonacci[fibonacci.len() - 1] + fibonacci[fibonacci.len() - 2];
            fibonacci.push(next);
        }
        for limit in [7u8, 15] {
            for used in 2..=19 {
                let lengths = code_lengths(&fibonacci[..used], limit);
                assert!(
                    lengths.iter().all(|&l| (1..=limit).contains(&l)),
                    "{lengths:?}"
                );
                let sum: u64 = lengths.iter().map(|&l| 1u64 << (limit - l)).sum();
                assert_eq!(
                    sum,
                    1 << limit,
                    "limit {limit}, {used} symbols: {lengths:?}"
                );
            }
        }
    }
}
