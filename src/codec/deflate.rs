//! DEFLATE compression (RFC 1951), for WebSocket's permessage-deflate
//! (RFC 7692): LZ77 over a window of 256 bytes to 32 KiB with hash chains,
//! each block sent stored, with the fixed Huffman codes, or with codes of its
//! own (whichever is smallest), and each message ended by a sync flush.
//!
//! - **LZ77 (§3.2.5, §4).** Every position is hashed by its next three
//!   bytes (multiplied by a constant, the top bits kept); each hash keeps a
//!   chain of earlier positions with it. At each position the longest match
//!   (3 to 258 bytes) among the 64 nearest candidates within the window is
//!   taken, else the literal byte. The hash table is sized to the work: 2^8
//!   entries for a short message alone, growing with the buffer up to the
//!   window's size. The chains live in the [`Deflater`], over a buffer of
//!   the history followed by the new message, so with context takeover a
//!   message hashes only its own bytes; once the buffer holds two windows,
//!   its front is dropped and every position in the tables moved back
//!   (zlib's slide), O(1) a byte. Long messages go through 64 KiB at a time.
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
//! **Cost.** `cargo bench --bench deflate`, µs per message, before and
//! after the chains were kept in the [`Deflater`] and sized to the message,
//! and block writing stopped allocating and searching (2 shared cores, so
//! ±15%; compressed sizes unchanged): a 77-byte message 7.9 → 3.7 alone
//! (window 2^8) and 203 → 2.5 with context (2^15); 1 KiB of JSON 13.7 → 8.0
//! and 240 → 4.9; 64 KiB 390 → 259 and 1068 → 491. What is left for long
//! messages is walking the chains (64 candidates); for short ones, building
//! each block's Huffman codes.
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
use std::fmt;

/// The shortest and longest matches a length code can say (§3.2.5).
const MIN_MATCH: usize = 3;
const MAX_MATCH: usize = 258;
/// How many earlier positions are tried for a match, at most.
const MAX_CHAIN: usize = 64;
/// The smallest hash table, 2^8 entries (1 KiB), as small as the smallest
/// window: filling it costs little next to writing even a short block.
const MIN_TABLE_BITS: u32 = 8;
/// Knuth's multiplicative hash constant, 2^32 divided by the golden ratio
/// (odd): the top bits of `trigram * HASH_MULTIPLIER` depend on all three
/// bytes, so any table size takes them from there.
const HASH_MULTIPLIER: u32 = 0x9E37_79B1;
/// A hash chain entry that points nowhere. Entries hold positions plus one,
/// so that a slide's saturating subtraction turns every position that falls
/// off the front into this.
const EMPTY: u32 = 0;
/// How much of a message is taken into the buffer at once: longer messages
/// go through in pieces, so the buffer stays within `2 × window + PIECE`
/// bytes (its positions fit a `u32`) however long the message. Matches and
/// blocks do not cross a piece's end, which costs at most one block header
/// and one short match per 64 KiB.
const PIECE: usize = 64 * 1024;
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
#[derive(Clone)]
pub struct Deflater {
    /// The window's history, then the piece of a message being compressed.
    /// Slid forward by a multiple of the window once it holds two windows.
    buffer: Vec<u8>,
    /// The hash chains over `buffer`, kept from one message to the next.
    chains: Chains,
    window_bits: u32,
    /// One piece's symbols; kept to reuse the allocation.
    tokens: Vec<Token>,
}

impl fmt::Debug for Deflater {
    /// The sizes only: the tables run to 256 KiB.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deflater")
            .field("window", &self.window())
            .field("history", &self.buffer.len())
            .field("hash_table", &self.chains.head.len())
            .finish()
    }
}

impl Deflater {
    /// A compressor whose matches reach at most `2^window_bits` bytes back
    /// (8 to 15: RFC 7692's `*_max_window_bits`, which the peer's inflater
    /// was promised).
    pub fn new(window_bits: u8) -> Deflater {
        Deflater {
            buffer: Vec::new(),
            chains: Chains::default(),
            window_bits: u32::from(window_bits.clamp(8, 15)),
            tokens: Vec::new(),
        }
    }

    /// Forgets earlier messages: the next one is compressed alone (no
    /// context takeover). Cheap: the tables are refilled only as far as the
    /// next message needs them.
    pub fn reset(&mut self) {
        self.buffer.clear();
        self.chains.clear();
    }

    /// Appends `data` compressed to `out`: its blocks, then a sync flush
    /// without its last four bytes (RFC 7692 §7.2.1).
    pub fn compress(&mut self, data: &[u8], out: &mut Vec<u8>) {
        let mut bits = BitWriter::new(out);
        for piece in data.chunks(PIECE) {
            self.compress_piece(piece, &mut bits);
        }
        // The sync flush: an empty stored block, not final, whose LEN and
        // NLEN (`00 00 FF FF`) are exactly the four bytes RFC 7692 removes.
        bits.put(0, 3);
        bits.align();
    }

    fn window(&self) -> usize {
        1 << self.window_bits
    }

    /// LZ77 over `piece`, matching back into the history, then its blocks.
    fn compress_piece(&mut self, piece: &[u8], bits: &mut BitWriter<'_>) {
        let window = self.window();
        let start = self.buffer.len();
        self.buffer.extend_from_slice(piece);
        let table_bits = (self.buffer.len().next_power_of_two().trailing_zeros())
            .clamp(MIN_TABLE_BITS, self.window_bits);
        self.chains.fit(table_bits, &self.buffer, window);
        // The last two positions of the previous piece have their third
        // byte now.
        self.chains.insert_up_to(&self.buffer, start);
        self.tokens.clear();
        lz77(
            &mut self.chains,
            &self.buffer,
            start,
            window,
            &mut self.tokens,
        );
        let mut at = start;
        for block in self.tokens.chunks(BLOCK_SYMBOLS) {
            let covered: usize = block
                .iter()
                .map(|t| match t {
                    Token::Literal(_) => 1,
                    Token::Match { length, .. } => usize::from(*length),
                })
                .sum();
            write_block(bits, block, &self.buffer[at..at + covered]);
            at += covered;
        }
        self.slide();
    }

    /// Once the buffer holds two windows, drops all but the last one to two
    /// windows from its front, as zlib does: each byte is moved at most
    /// twice and each table entry rewritten once per window of input, so
    /// keeping the chains costs O(1) a byte. The offset is a whole number of
    /// windows so that `previous`, indexed by position modulo the window,
    /// keeps its slots.
    fn slide(&mut self) {
        let window = self.window();
        if self.buffer.len() < 2 * window {
            return;
        }
        let offset = (self.buffer.len() - window) / window * window;
        self.buffer.drain(..offset);
        self.chains.slide(offset);
    }
}

/// Hash chains (§4 of RFC 1951 describes zlib's): for each hash of three
/// bytes, the most recent position with it, and from each position the one
/// before it with the same hash.
#[derive(Clone, Debug, Default)]
struct Chains {
    /// For each hash, the newest position with it, plus one (or [`EMPTY`]).
    /// Empty after a reset, until [`Chains::fit`] sizes it to the message.
    head: Vec<u32>,
    /// For each position, the previous one with its hash, plus one; indexed
    /// by position modulo the length, which is the window, or the table's
    /// length while all of the buffer fits in that.
    previous: Vec<u32>,
    /// `head.len()` is `2^bits`.
    bits: u32,
    /// The positions before this one are in the chains; the last two of the
    /// buffer wait for the third byte that the next piece brings.
    hashed: usize,
}

impl Chains {
    /// Forgets every position.
    fn clear(&mut self) {
        self.head.clear();
        self.hashed = 0;
    }

    /// Makes the tables `2^bits` long, if they are shorter. The positions of
    /// the last window are hashed again (into a bigger table each hash takes
    /// other bits); older ones could not be matched anyway. Tables only grow
    /// until a reset, so this happens at most eight times per reset.
    fn fit(&mut self, bits: u32, buffer: &[u8], window: usize) {
        if !self.head.is_empty() && self.bits >= bits {
            return;
        }
        self.bits = bits;
        for table in [&mut self.head, &mut self.previous] {
            table.clear();
            table.resize(1 << bits, EMPTY);
        }
        let end = self.hashed;
        self.hashed = end.saturating_sub(window);
        self.insert_up_to(buffer, end);
    }

    /// The table index of the three bytes at the start of `bytes`.
    fn hash(&self, bytes: &[u8]) -> usize {
        let trigram = u32::from(bytes[0]) | u32::from(bytes[1]) << 8 | u32::from(bytes[2]) << 16;
        (trigram.wrapping_mul(HASH_MULTIPLIER) >> (32 - self.bits)) as usize
    }

    /// Puts every position before `end` in its chain, except the last two of
    /// the buffer, whose three bytes are not all there yet.
    fn insert_up_to(&mut self, buffer: &[u8], end: usize) {
        let end = end.min(buffer.len().saturating_sub(MIN_MATCH - 1));
        let mask = self.previous.len() - 1;
        while self.hashed < end {
            let h = self.hash(&buffer[self.hashed..]);
            self.previous[self.hashed & mask] = self.head[h];
            self.head[h] = self.hashed as u32 + 1;
            self.hashed += 1;
        }
    }

    /// The longest match (length, distance) for `buffer[at..]` among the
    /// first [`MAX_CHAIN`] candidates within `window`; length 0 if none.
    /// Every position before `at` must be hashed, and none after.
    fn longest_match(&self, buffer: &[u8], at: usize, window: usize) -> (usize, usize) {
        let mut best = (0, 0);
        if at + MIN_MATCH > buffer.len() {
            return best;
        }
        let longest = (buffer.len() - at).min(MAX_MATCH);
        let mask = self.previous.len() - 1;
        let mut candidate = self.head[self.hash(&buffer[at..])];
        for _ in 0..MAX_CHAIN {
            if candidate == EMPTY {
                break;
            }
            let position = candidate as usize - 1;
            // Stopping here also keeps `previous[position & mask]` this
            // position's own: the slot is reused only by `position + window`.
            if at - position > window {
                break;
            }
            // Only a candidate that agrees on the byte just past the best
            // match so far can beat it: one comparison rejects most.
            if buffer[position + best.0] == buffer[at + best.0] {
                let length = match_length(&buffer[position..], &buffer[at..at + longest]);
                if length > best.0 {
                    best = (length, at - position);
                    if length == longest {
                        break;
                    }
                }
            }
            candidate = self.previous[position & mask];
        }
        best
    }

    /// Moves every position `offset` back; those before it become empty.
    fn slide(&mut self, offset: usize) {
        let offset = offset as u32;
        for entry in self.head.iter_mut().chain(self.previous.iter_mut()) {
            *entry = entry.saturating_sub(offset);
        }
        self.hashed -= offset as usize;
    }
}

/// How many bytes at the start of `a` and `b` are equal (at most
/// `b.len()`; `a` is at least as long), eight at a time: the first differing
/// bit of two little-endian words tells the first differing byte.
fn match_length(a: &[u8], b: &[u8]) -> usize {
    let mut length = 0;
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        let x = u64::from_le_bytes(x.try_into().expect("bug: eight bytes"));
        let y = u64::from_le_bytes(y.try_into().expect("bug: eight bytes"));
        if x != y {
            return length + (x ^ y).trailing_zeros() as usize / 8;
        }
        length += 8;
    }
    length
        + a[length..]
            .iter()
            .zip(&b[length..])
            .take_while(|(x, y)| x == y)
            .count()
}

/// Greedy LZ77 over `buffer[start..]` onto `tokens`: at each position the
/// longest match within `window`, else the literal byte.
fn lz77(chains: &mut Chains, buffer: &[u8], start: usize, window: usize, tokens: &mut Vec<Token>) {
    let mut at = start;
    while at < buffer.len() {
        let (length, distance) = chains.longest_match(buffer, at, window);
        if length >= MIN_MATCH {
            tokens.push(Token::Match {
                length: length as u16,
                distance: distance as u16,
            });
            at += length;
        } else {
            tokens.push(Token::Literal(buffer[at]));
            at += 1;
        }
        chains.insert_up_to(buffer, at);
    }
}

/// For each match length, the index of its length code in [`LENGTH_BASE`]
/// (the last base not above it): a block looks each match up four times.
const LENGTH_INDEX: [u8; MAX_MATCH + 1] = {
    let mut table = [0u8; MAX_MATCH + 1];
    let mut i = 0;
    while i < LENGTH_BASE.len() {
        let mut length = LENGTH_BASE[i] as usize;
        while length <= MAX_MATCH {
            table[length] = i as u8;
            length += 1;
        }
        i += 1;
    }
    table
};

/// The symbol and extra bits of a match length (§3.2.5).
fn length_code(length: u16) -> (usize, u32, u16) {
    let i = usize::from(LENGTH_INDEX[usize::from(length)]);
    (257 + i, u32::from(LENGTH_EXTRA[i]), length - LENGTH_BASE[i])
}

/// The code and extra bits of a distance (§3.2.5). Past the first four,
/// each pair of codes covers a power of two of distances, halves of it
/// each: so the code is twice the top bit's place of `distance - 1`, plus
/// the bit below it.
fn distance_code(distance: u16) -> (usize, u32, u16) {
    let d = distance - 1;
    let i = if d < 4 {
        usize::from(d)
    } else {
        let top = 15 - d.leading_zeros();
        (2 * top + u32::from(d >> (top - 1) & 1)) as usize
    };
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
    let fixed_bits = 3 + cost(&FIXED_LITERAL_LENGTHS, &FIXED_DISTANCE_LENGTHS);
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
        write_tokens(
            bits,
            tokens,
            &Codes::new(&FIXED_LITERAL_LENGTHS),
            &Codes::new(&FIXED_DISTANCE_LENGTHS),
        );
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

/// The fixed literal/length code's lengths (§3.2.6).
const FIXED_LITERAL_LENGTHS: [u8; 288] = {
    let mut lengths = [8u8; 288];
    let mut symbol = 144;
    while symbol < 280 {
        lengths[symbol] = if symbol < 256 { 9 } else { 7 };
        symbol += 1;
    }
    lengths
};

/// The fixed distance code's lengths (§3.2.6).
const FIXED_DISTANCE_LENGTHS: [u8; 30] = [5; 30];

/// The lengths of a Huffman code for `counts` (0 for unused symbols), none
/// longer than `limit`. A Huffman tree first; if it is too deep, lengths
/// past the limit are cut to it and the shortest codes lengthened until the
/// Kraft sum is 1 again, so the code stays a prefix code (less than optimal
/// only for codes that were too deep).
///
/// The tree is built with two queues instead of a heap (van Leeuwen): the
/// leaves sorted by count, and the merged nodes, which come out in order of
/// weight by themselves; the two lightest are always at the queues' fronts.
fn code_lengths(counts: &[u32], limit: u8) -> Vec<u8> {
    let mut lengths = vec![0u8; counts.len()];
    let mut used: Vec<usize> = (0..counts.len()).filter(|&s| counts[s] > 0).collect();
    if used.len() == 1 {
        lengths[used[0]] = 1;
        return lengths;
    }
    // Nodes 0..leaves are the symbols, lightest first (ties: lower symbol
    // first); node leaves + k is the k-th merge, and its parent comes later.
    used.sort_unstable_by_key(|&s| (counts[s], s));
    let leaves = used.len();
    let nodes = 2 * leaves - 1;
    let mut weight: Vec<u64> = used.iter().map(|&s| u64::from(counts[s])).collect();
    let mut parent = vec![0usize; nodes];
    let (mut next_leaf, mut next_merged) = (0, leaves);
    for node in leaves..nodes {
        let mut lightest = || {
            // On a tie the leaf goes first, which keeps the tree shallow.
            if next_leaf < leaves
                && (next_merged == node || weight[next_leaf] <= weight[next_merged])
            {
                next_leaf += 1;
                next_leaf - 1
            } else {
                next_merged += 1;
                next_merged - 1
            }
        };
        let (a, b) = (lightest(), lightest());
        weight.push(weight[a] + weight[b]);
        parent[a] = node;
        parent[b] = node;
    }
    // Parents come after their children: depths from the root down.
    let mut depth = vec![0u32; nodes];
    for node in (0..nodes - 1).rev() {
        depth[node] = depth[parent[node]] + 1;
    }
    for (leaf, &symbol) in used.iter().enumerate() {
        lengths[symbol] = depth[leaf].min(u32::from(limit)) as u8;
    }
    // Repair: while the code is over-subscribed, lengthen the longest code
    // that is still under the limit.
    let kraft =
        |lengths: &[u8]| -> u64 { used.iter().map(|&s| 1u64 << (limit - lengths[s])).sum() };
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
        // Unused symbols (length 0) are skipped, not counted and then
        // dropped: most are unused in a short block, and counting them into
        // one counter, each increment waiting for the last, was the slowest
        // part of writing one.
        let mut count = [0u16; 16];
        for &l in lengths.iter().filter(|&&l| l > 0) {
            count[usize::from(l)] += 1;
        }
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
    use crate::codec::inflate::Inflater;
    use crate::codec::noise;

    /// Message `i` of a stream: JSON that repeats within and across
    /// messages, with a run of noise that does not.
    fn message(i: usize, len: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut record = 0;
        while out.len() < len {
            if record % 5 == 4 {
                out.extend_from_slice(&noise((i * 31 + record) as u64, 40));
            } else {
                out.extend_from_slice(
                    format!(
                        r#"{{"id":{i},"n":{record},"event":"reading","v":{}}},"#,
                        i % 7
                    )
                    .as_bytes(),
                );
            }
            record += 1;
        }
        out.truncate(len);
        out
    }

    /// Compresses `data`, then inflates it as RFC 7692 §7.2.2 says (the
    /// removed `00 00 FF FF` appended again), and checks it came back.
    fn round_trip(deflater: &mut Deflater, inflater: &mut Inflater, data: &[u8]) -> Vec<u8> {
        let mut compressed = Vec::new();
        deflater.compress(data, &mut compressed);
        let mut input = compressed.clone();
        input.extend_from_slice(&[0x00, 0x00, 0xff, 0xff]);
        let mut out = Vec::new();
        inflater
            .inflate(&input, &mut out, 1 << 30)
            .unwrap_or_else(|e| panic!("{deflater:?}: {e}"));
        assert!(out == data, "{deflater:?}: {} bytes differ", data.len());
        compressed
    }

    /// The same message compressed by a new compressor.
    fn alone(bits: u8, data: &[u8]) -> Vec<u8> {
        let mut compressed = Vec::new();
        Deflater::new(bits).compress(data, &mut compressed);
        compressed
    }

    /// With context takeover, 200 messages of 1 KiB take the buffer past
    /// two windows many times: every slide must leave chains that only
    /// point at the right bytes, and the inflater, keeping its own window,
    /// must read each message back.
    #[test]
    fn context_across_slides() {
        for bits in [8, 9, 12, 15] {
            let mut deflater = Deflater::new(bits);
            let mut inflater = Inflater::new(bits);
            let mut total = (0, 0);
            for i in 0..200 {
                let data = message(i, 1024);
                total.0 += data.len();
                total.1 += round_trip(&mut deflater, &mut inflater, &data).len();
                assert!(deflater.buffer.len() < 2 * deflater.window() + 1024);
            }
            // The earlier messages do help: better than each one alone.
            let alone: usize = (0..200).map(|i| alone(bits, &message(i, 1024)).len()).sum();
            assert!(total.1 < alone, "bits {bits}: {total:?}, alone {alone}");
        }
    }

    /// A message after a reset is compressed exactly as by a new compressor,
    /// in the middle of a context stream; the stream goes on after it.
    #[test]
    fn reset_in_a_context_stream() {
        for bits in [8, 15] {
            let mut deflater = Deflater::new(bits);
            let mut inflater = Inflater::new(bits);
            for i in 0..40 {
                let data = message(i, 300 + 37 * i);
                if i % 13 == 12 {
                    deflater.reset();
                    inflater.reset();
                    let compressed = round_trip(&mut deflater, &mut inflater, &data);
                    assert_eq!(compressed, alone(bits, &data), "bits {bits}, message {i}");
                } else {
                    round_trip(&mut deflater, &mut inflater, &data);
                }
            }
        }
    }

    /// Messages longer than the window, and than a piece, with and without
    /// context: long runs, noise and repeats that reach just past the window.
    #[test]
    fn messages_longer_than_the_window() {
        let run = vec![b'x'; 3 * PIECE + 5];
        let noisy = noise(9, PIECE + 1000);
        let repeats: Vec<u8> = (0..20).flat_map(|i| message(i % 3, 33_000)).collect();
        for bits in [8, 9, 12, 15] {
            for takeover in [false, true] {
                let mut deflater = Deflater::new(bits);
                let mut inflater = Inflater::new(bits);
                for data in [&run, &noisy, &repeats, &run] {
                    if !takeover {
                        deflater.reset();
                        inflater.reset();
                    }
                    round_trip(&mut deflater, &mut inflater, data);
                }
            }
        }
        // Long repeats still compress across pieces.
        assert!(alone(15, &run).len() < 1000);
    }

    /// No match reaches further back than the window, even where the same
    /// bytes sit one byte further back.
    #[test]
    fn matches_stay_within_the_window() {
        for bits in [8u8, 10] {
            let window = 1usize << bits;
            let block = noise(u64::from(bits), window + 1);
            let data = [block.as_slice(), &block, &block].concat();
            let mut deflater = Deflater::new(bits);
            deflater.compress(&data, &mut Vec::new());
            for token in &deflater.tokens {
                if let Token::Match { distance, .. } = *token {
                    assert!(usize::from(distance) <= window, "{distance} > {window}");
                }
            }
        }
    }

    /// An empty message is the sync flush alone, `00` once its four bytes are
    /// removed (RFC 7692 §7.2.3.6), and leaves the context as it was.
    #[test]
    fn empty_messages() {
        for bits in [8, 15] {
            let mut deflater = Deflater::new(bits);
            let mut inflater = Inflater::new(bits);
            assert_eq!(round_trip(&mut deflater, &mut inflater, b""), [0x00]);
            for i in 0..30 {
                let data = if i % 3 == 0 {
                    Vec::new()
                } else {
                    message(i, 500)
                };
                round_trip(&mut deflater, &mut inflater, &data);
            }
            // Two bytes, whose positions wait for a third, then nothing.
            round_trip(&mut deflater, &mut inflater, b"ab");
            assert_eq!(round_trip(&mut deflater, &mut inflater, b""), [0x00]);
            round_trip(&mut deflater, &mut inflater, b"abab");
        }
    }

    /// After a large message and a reset, a tiny message gets a table sized
    /// to it, not to the window, and the same bytes as from a new compressor.
    #[test]
    fn tiny_message_after_a_large_one() {
        let mut deflater = Deflater::new(15);
        let mut inflater = Inflater::new(15);
        round_trip(&mut deflater, &mut inflater, &message(1, 100_000));
        assert_eq!(deflater.chains.head.len(), 1 << 15);
        deflater.reset();
        inflater.reset();
        let tiny = b"{\"id\":1,\"id\":1}";
        let compressed = round_trip(&mut deflater, &mut inflater, tiny);
        assert_eq!(compressed, alone(15, tiny));
        assert_eq!(deflater.chains.head.len(), 1 << MIN_TABLE_BITS);
        assert_eq!(deflater.chains.previous.len(), 1 << MIN_TABLE_BITS);
    }

    /// The lookups give what a search of §3.2.5's tables gives, for every
    /// length and distance.
    #[test]
    fn length_and_distance_codes() {
        for length in MIN_MATCH as u16..=MAX_MATCH as u16 {
            let i = LENGTH_BASE.iter().rposition(|&b| b <= length).unwrap();
            let expected = (257 + i, u32::from(LENGTH_EXTRA[i]), length - LENGTH_BASE[i]);
            assert_eq!(length_code(length), expected, "length {length}");
        }
        for distance in 1..=32_768u16 {
            let i = DIST_BASE.iter().rposition(|&b| b <= distance).unwrap();
            let expected = (i, u32::from(DIST_EXTRA[i]), distance - DIST_BASE[i]);
            assert_eq!(distance_code(distance), expected, "distance {distance}");
        }
    }

    /// Where no length reaches the limit, the code is a Huffman code: its
    /// cost (count × length, summed) is the sum of every merge's weight, as
    /// a heap of the lightest nodes computes it.
    #[test]
    fn codes_are_optimal() {
        use std::collections::BinaryHeap;
        for seed in 1..200u64 {
            let bytes = noise(seed, 60);
            let used = 2 + usize::from(bytes[0]) % 50;
            let counts: Vec<u32> = bytes[1..=used]
                .iter()
                .map(|&b| u32::from(b) % 40 * u32::from(b % 3))
                .collect();
            if counts.iter().filter(|&&c| c > 0).count() < 2 {
                continue;
            }
            let lengths = code_lengths(&counts, 15);
            let cost: u64 = counts
                .iter()
                .zip(&lengths)
                .map(|(&c, &l)| u64::from(c) * u64::from(l))
                .sum();
            let mut heap: BinaryHeap<Reverse<u64>> = counts
                .iter()
                .filter(|&&c| c > 0)
                .map(|&c| Reverse(u64::from(c)))
                .collect();
            let mut optimal = 0;
            while heap.len() > 1 {
                let (Reverse(a), Reverse(b)) = (heap.pop().unwrap(), heap.pop().unwrap());
                optimal += a + b;
                heap.push(Reverse(a + b));
            }
            assert_eq!(cost, optimal, "{counts:?}: {lengths:?}");
        }
    }

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
