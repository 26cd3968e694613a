//! A seeded, std-only mutation fuzzer for the pure parsers and for every value
//! the server turns into a number (cursors, `timeout`, `Last-Event-ID`,
//! `Content-Length`, chunk sizes, close codes), shared by
//! `tests/fuzz.rs`: thousands of cases per `cargo test`, millions on demand
//! with `RTW_FUZZ_SECONDS`.
//!
//! Each target takes valid inputs, mutates them (bit flips, interesting bytes,
//! truncation, splicing, insertion, deletion, length fields set to extremes), and
//! feeds the result to a parser. The parser must not panic, and its answer must
//! keep the properties checked here — a parse, "need more", or a typed error, and
//! the same answer however the input is split.

#![allow(dead_code)]

use realtime_web::codec::base64;
use realtime_web::codec::deflate::Deflater;
use realtime_web::codec::inflate::Inflater;
use realtime_web::http::chunked::Decoder;
use realtime_web::http::request::{self, Limits, Parsed};
use realtime_web::transport::websocket::close;
use realtime_web::transport::websocket::frame::{self, Role};

/// xorshift64*: small, fast, and the same sequence for the same seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}

/// Bytes that parsers treat specially.
const INTERESTING: &[u8] = b"\r\n :;,=\"\t\x00\x7f\xff0159azAZ-+%/?#";

/// Applies one to four random mutations.
pub fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = out.len();
        match rng.below(8) {
            0 if len > 0 => {
                let i = rng.below(len);
                out[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                out[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            2 => out.truncate(rng.below(len + 1)),
            3 if len > 0 => {
                // Splice: copy a run of the input somewhere else in it.
                let from = rng.below(len);
                let run: Vec<u8> = out[from..(from + rng.below(16)).min(len)].to_vec();
                let at = rng.below(out.len() + 1);
                out.splice(at..at, run);
            }
            4 => {
                let at = rng.below(len + 1);
                let bytes: Vec<u8> = (0..1 + rng.below(8)).map(|_| rng.byte()).collect();
                out.splice(at..at, bytes);
            }
            5 if len > 0 => {
                let from = rng.below(len);
                let to = (from + 1 + rng.below(8)).min(len);
                out.drain(from..to);
            }
            6 => extreme_number(rng, &mut out),
            _ => extreme_frame_length(rng, &mut out),
        }
    }
    out
}

/// Replaces a run of ASCII digits (a length, a chunk size) with an extreme one.
fn extreme_number(rng: &mut Rng, out: &mut Vec<u8>) {
    let digits: Vec<usize> = (0..out.len())
        .filter(|&i| out[i].is_ascii_hexdigit())
        .collect();
    if digits.is_empty() {
        return;
    }
    let start = digits[rng.below(digits.len())];
    let end = (start..out.len())
        .find(|&i| !out[i].is_ascii_hexdigit())
        .unwrap_or(out.len());
    let extreme: &[u8] = match rng.below(5) {
        0 => b"0",
        1 => b"18446744073709551615",
        2 => b"18446744073709551616",
        3 => b"ffffffffffffffffff",
        _ => b"99999999999999999999999999",
    };
    out.splice(start..end, extreme.iter().copied());
}

/// Sets a WebSocket frame's length field to 126 or 127 with extreme bytes.
fn extreme_frame_length(rng: &mut Rng, out: &mut Vec<u8>) {
    if out.len() < 2 {
        return;
    }
    let mask = out[1] & 0x80;
    if rng.below(2) == 0 {
        out[1] = mask | 126;
        out.splice(2..2, [0xFF, 0xFF]);
    } else {
        out[1] = mask | 127;
        let high = if rng.below(2) == 0 { 0x80 } else { 0x00 };
        out.splice(2..2, [high, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]);
    }
}

const REQUESTS: &[&[u8]] = &[
    b"GET /channels/news/poll?since=3 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n",
    b"POST /channels/a/publish?event=x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"GET http://h:8/x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"GET /echo HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    b"\r\nOPTIONS * HTTP/1.1\r\nHost: a\r\nOrigin: https://x.example\r\n\r\n",
];

const BODIES: &[&[u8]] = &[
    b"4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n",
    b"3;ext=1;b=\"q\"\r\nabc\r\n0\r\nTrailer: v\r\n\r\n",
    b"0\r\n\r\n",
    b"A\r\n0123456789\r\n0\r\n\r\n",
];

fn frames() -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    for (opcode, payload) in [
        (frame::OpCode::Text, &b"Hello"[..]),
        (frame::OpCode::Binary, &[7u8; 300][..]),
        (frame::OpCode::Ping, b"p"),
        (frame::OpCode::Close, &[0x03, 0xE8, b'o', b'k'][..]),
        (frame::OpCode::Continuation, b"more"),
    ] {
        let mut masked = Vec::new();
        frame::encode(&mut masked, true, opcode, payload, Some([1, 2, 3, 4]));
        frames.push(masked);
        let mut plain = Vec::new();
        frame::encode(
            &mut plain,
            opcode != frame::OpCode::Continuation,
            opcode,
            payload,
            None,
        );
        frames.push(plain);
    }
    frames
}

/// One HTTP head: the parser answers, and a complete head parses the same from
/// its own bytes alone.
pub fn request_case(rng: &mut Rng) {
    let seed = REQUESTS[rng.below(REQUESTS.len())];
    let input = mutate(rng, seed);
    let limits = Limits::default();
    if let Ok(Parsed::Complete { consumed, value }) = request::parse(&input, &limits) {
        assert!(consumed <= input.len());
        match request::parse(&input[..consumed], &limits) {
            Ok(Parsed::Complete {
                consumed: again,
                value: same,
            }) => {
                assert_eq!(again, consumed);
                assert_eq!(
                    (same.method(), same.target()),
                    (value.method(), value.target())
                );
            }
            other => panic!("a complete head did not parse alone: {other:?} from {input:?}"),
        }
    }
}

/// One chunked body: decoded whole, and a byte at a time, the answers agree.
pub fn chunked_case(rng: &mut Rng) {
    let seed = BODIES[rng.below(BODIES.len())];
    let input = mutate(rng, seed);
    let whole = {
        let mut decoder = Decoder::new(1 << 20, 1024);
        let mut body = Vec::new();
        decoder
            .decode(&input, &mut body)
            .map(|(used, done)| (used, done, body))
    };
    let bytewise = {
        let mut decoder = Decoder::new(1 << 20, 1024);
        let mut body = Vec::new();
        let mut used = 0;
        let mut result = Ok(());
        for b in &input {
            if decoder.is_done() {
                break;
            }
            match decoder.decode(std::slice::from_ref(b), &mut body) {
                Ok((n, _)) => used += n,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        result.map(|()| (used, decoder.is_done(), body))
    };
    assert_eq!(whole, bytewise, "{input:?}");
}

/// One WebSocket frame, as each role reads it: a complete frame is also
/// complete from exactly its bytes, and any shorter prefix needs more.
pub fn frame_case(rng: &mut Rng) {
    let all = frames();
    let seed = rng.below(all.len());
    let input = mutate(rng, &all[seed]);
    for role in [Role::Server, Role::Client] {
        if let Ok(Parsed::Complete { consumed, value }) = frame::parse(&input, role, 1 << 16) {
            assert!(consumed >= 2 && consumed <= input.len());
            assert!(value.payload.len() <= 1 << 16);
            let cut = rng.below(consumed);
            assert!(
                matches!(
                    frame::parse(&input[..cut], role, 1 << 16),
                    Ok(Parsed::NeedMore)
                ),
                "a prefix of a frame must need more: {input:?} cut at {cut}"
            );
        }
    }
}

/// One base64 string: strict decoding accepts exactly the canonical encodings.
/// DEFLATE (RFC 1951): random data, often repetitive, must come back whole
/// through the compressor and the inflater at a random window size; a
/// mutated stream must inflate or be refused, within the limit, never panic.
pub fn deflate_case(rng: &mut Rng) {
    let words: [&[u8]; 4] = [b"{\"id\":", b"hello ", b"\"data\":", b"\n"];
    let mut data = Vec::new();
    for _ in 0..rng.below(64) {
        match rng.below(3) {
            0 => data.push(rng.byte()),
            _ => data.extend_from_slice(words[rng.below(words.len())]),
        }
    }
    let bits = 8 + rng.below(8) as u8;
    let mut compressed = Vec::new();
    Deflater::new(bits).compress(&data, &mut compressed);
    compressed.extend_from_slice(&[0x00, 0x00, 0xff, 0xff]);
    let mut out = Vec::new();
    Inflater::new(bits)
        .inflate(&compressed, &mut out, 1 << 20)
        .expect("what the compressor wrote inflates");
    assert_eq!(out, data);
    let mutated = mutate(rng, &compressed);
    let mut out = Vec::new();
    let limit = 4096;
    let _ = Inflater::new(15).inflate(&mutated, &mut out, limit);
    assert!(out.len() <= limit, "{} bytes past the limit", out.len());

    // Context takeover: a run of messages through one compressor and one
    // inflater, with resets on both sides now and then, past the window's
    // slides (messages up to 2 KiB against windows from 256 bytes).
    let (mut deflater, mut inflater) = (Deflater::new(bits), Inflater::new(bits));
    for _ in 0..rng.below(12) {
        let mut message = Vec::new();
        for _ in 0..rng.below(256) {
            match rng.below(4) {
                0 => message.push(rng.byte()),
                1 if !data.is_empty() => {
                    let from = rng.below(data.len());
                    message.extend_from_slice(&data[from..data.len().min(from + 16)]);
                }
                _ => message.extend_from_slice(words[rng.below(words.len())]),
            }
        }
        if rng.below(8) == 0 {
            deflater.reset();
            inflater.reset();
        }
        let mut compressed = Vec::new();
        deflater.compress(&message, &mut compressed);
        compressed.extend_from_slice(&[0x00, 0x00, 0xff, 0xff]);
        let mut out = Vec::new();
        inflater
            .inflate(&compressed, &mut out, 1 << 20)
            .expect("what the compressor wrote inflates, with context");
        assert_eq!(out, message);
    }
}

pub fn base64_case(rng: &mut Rng) {
    let data: Vec<u8> = (0..rng.below(40)).map(|_| rng.byte()).collect();
    let encoded = base64::encode(&data);
    assert_eq!(base64::decode(&encoded).as_deref(), Ok(&data[..]));
    let mutated = mutate(rng, encoded.as_bytes());
    if let Ok(text) = std::str::from_utf8(&mutated) {
        if let Ok(decoded) = base64::decode(text) {
            assert_eq!(
                base64::encode(&decoded),
                text,
                "a second spelling was accepted"
            );
        }
    }
}

/// Numbers as clients write them, the edges of `u64` first: every value that
/// the server turns into a number starts from one of these, mutated.
const NUMBERS: &[&[u8]] = &[
    b"0",
    b"1",
    b"18446744073709551615",
    b"18446744073709551614",
    b"18446744073709551616",
    b"99999999999999999999999999",
    b"00000000000000000000000000000000000001",
    b"ffffffffffffffff",
    b"-1",
    b"+1",
    b"1e3",
    b"0x10",
    b" 7",
    b"",
];

/// A number-like value: one of [`NUMBERS`], mutated half of the time.
fn number(rng: &mut Rng) -> Vec<u8> {
    let seed = NUMBERS[rng.below(NUMBERS.len())];
    if rng.below(2) == 0 {
        seed.to_vec()
    } else {
        mutate(rng, seed)
    }
}

/// What a strict decimal reader must make of `text`: the value when it is
/// 1 to 20 ASCII digits that fit in a `u64`, else nothing.
fn strict_decimal(text: &[u8]) -> Option<u64> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// One number, in every place the server reads one: a cursor (`since`), a
/// long-poll `timeout`, `Last-Event-ID`, `Content-Length`, a chunk size, and a
/// close code. None may panic (the tests run with overflow checks), and each
/// must read exactly the values the contract allows.
pub fn number_case(rng: &mut Rng) {
    let value = number(rng);
    let text = String::from_utf8_lossy(&value).into_owned();
    let limits = Limits::default();

    // Content-Length (RFC 9112 §6.3): a length only from 1*DIGIT, within the
    // body limit.
    let head = [
        &b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: "[..],
        &value,
        b"\r\n\r\n",
    ]
    .concat();
    let one_field = value
        .iter()
        .all(|&b| b == b'\t' || (b' '..=b'~').contains(&b));
    if let Ok(Parsed::Complete { value: request, .. }) = request::parse(&head, &limits) {
        if let (realtime_web::http::request::BodyKind::Length(length), true) =
            (request.body_kind(), one_field)
        {
            // A list of equal lengths counts as one (RFC 9110 §8.6).
            let lengths: Vec<Option<u64>> = value
                .split(|&b| b == b',')
                .map(|item| {
                    let item: Vec<u8> = item
                        .iter()
                        .copied()
                        .filter(|b| !matches!(b, b' ' | b'\t'))
                        .collect();
                    strict_decimal(&item)
                })
                .collect();
            assert!(lengths.iter().all(|&l| l == Some(length)), "{value:?}");
            assert!(length <= limits.max_body as u64);
        }
    }

    // A chunk size (RFC 9112 §7.1): at most 16 hex digits, never a panic.
    let mut decoder = Decoder::new(1 << 20, 1024);
    let line = [&value[..], b"\r\n"].concat();
    if decoder.decode(&line, &mut Vec::new()).is_ok() {
        let digits = value.iter().take_while(|b| b.is_ascii_hexdigit()).count();
        assert!((1..=16).contains(&digits), "{value:?}");
    }

    // A close code (RFC 6455 §5.5.1, §7.4): the first two bytes of the value.
    if value.len() >= 2 {
        let code = u16::from_be_bytes([value[0], value[1]]);
        match close::parse_close(&value) {
            Ok(Some(frame)) => assert!(close::valid_close_code(frame.code) && frame.code == code),
            Ok(None) => unreachable!("a payload of two bytes or more has a code"),
            Err(violation) => assert!(matches!(violation.code(), 1002 | 1007)),
        }
    }

    transport_numbers(&value, &text);
}

/// The cursor, timeout and Last-Event-ID through the transports themselves,
/// on a closed channel (so nothing waits) that holds ids 3 to 6.
#[cfg(all(feature = "long-polling", feature = "sse"))]
fn transport_numbers(value: &[u8], text: &str) {
    use realtime_web::http::response::BodyWriter;
    use realtime_web::http::{Body, Handler, Request, Response, Router};
    use realtime_web::hub::{Hub, HubConfig};
    use realtime_web::transport::{sse, StreamConfig};

    // Only values that can stand in a query or a header as they are.
    if !value.iter().all(|b| b.is_ascii_graphic()) {
        return;
    }
    let hub = std::sync::Arc::new(Hub::new(HubConfig {
        window: 4,
        ..HubConfig::default()
    }));
    let channel = hub.channel("c").unwrap();
    for i in 1..=6 {
        channel.publish("message", &i.to_string()).unwrap();
    }
    channel.close();
    let get = |target: String, header: &str| {
        let raw = format!("GET {target} HTTP/1.1\r\nHost: a\r\n{header}\r\n");
        match request::parse(raw.as_bytes(), &Limits::default()) {
            Ok(Parsed::Complete { value, .. }) => Some(value),
            _ => None,
        }
    };

    // Through a router, which sets the channel parameter as the server's would.
    let router = {
        let (polled, text) = (std::sync::Arc::clone(&hub), text.to_owned());
        Router::new()
            .get("/channels/{ch}/poll", move |request: Request| {
                poll_numbers(&polled, &request, &text);
                Response::new(204)
            })
            .get(
                "/channels/{ch}/sse",
                sse::handler(std::sync::Arc::clone(&hub), StreamConfig::default()),
            )
    };
    if let Some(request) = get(format!("/channels/c/poll?since={text}&timeout={text}"), "") {
        router.handle(request);
    }
    if let Some(request) = get(
        "/channels/c/sse".into(),
        &format!("Last-Event-ID: {text}\r\n"),
    ) {
        let mut response = router.handle(request);
        if let Body::Stream(write) = response.take_body() {
            let mut out = Vec::new();
            write(&mut BodyWriter::new(&mut out))
                .expect("a closed channel ends the stream cleanly");
            assert!(out.starts_with(b"retry: "));
        }
    }
}

/// The cursor and timeout of a long-poll, as the transport reads them.
#[cfg(all(feature = "long-polling", feature = "sse"))]
fn poll_numbers(hub: &realtime_web::hub::Hub, request: &realtime_web::http::Request, text: &str) {
    use realtime_web::transport::{self, long_poll};
    // The query as the server decodes it (percent escapes and all).
    let since_text = request.query("since");
    let since = transport::cursor(request, "since");
    let expected = since_text
        .as_deref()
        .and_then(|t| strict_decimal(t.as_bytes()));
    assert_eq!(since.as_ref().ok().copied().flatten(), expected, "{text:?}");
    if let Ok(batch) = long_poll::wait(hub, request) {
        let cursor = expected.unwrap_or(0);
        // The gap rule, whatever the cursor: ids after it in order, or the
        // whole window with the gap flag.
        let ids: Vec<u64> = batch.messages.iter().map(|m| m.id).collect();
        if batch.gap {
            assert_eq!(ids, [3, 4, 5, 6], "{text:?}");
        } else {
            assert!(ids.iter().all(|&id| id > cursor), "{text:?}");
        }
    }
}

#[cfg(not(all(feature = "long-polling", feature = "sse")))]
fn transport_numbers(_: &[u8], _: &str) {}

/// One fuzz target: a name and a function that runs one case.
pub type Target = (&'static str, fn(&mut Rng));

/// The targets, by name.
pub const TARGETS: [Target; 6] = [
    ("http request head", request_case),
    ("chunked body", chunked_case),
    ("websocket frame", frame_case),
    ("base64", base64_case),
    ("deflate", deflate_case),
    ("numbers", number_case),
];
