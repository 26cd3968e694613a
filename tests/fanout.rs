//! The broadcast fan-out (src/hub/broadcast.rs) over real loopback sockets:
//! thousands of subscribers over every streaming transport at once, subscribers
//! that stall while others read, subscribers that leave a quiet channel, and
//! the threads WebSocket subscribers cost.
//!
//! The client side is written here by hand and shares no code with the server:
//! [`Decoder`] turns raw bytes into messages and gap announcements for each wire
//! format (the SSE event stream, XHR streaming's ndjson, the forever frame's
//! scripts, WebSocket frames, the TCP line protocol), HTTP's chunked coding
//! included.
//!
//! Each test holds [`one_at_a_time`]'s lock: the first one alone runs 2,000
//! subscriptions, and the others count threads and check a 2 s bound, which
//! must not depend on what another test of this binary does meanwhile.

#![cfg(all(feature = "sse", feature = "comet", feature = "websocket"))]

mod common;

use common::ws::{handshake_request, raw_session};
use common::*;
use realtime_web::server::{Config, ShutdownHandle};
use realtime_web::showcase::Options;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

static SERIAL: Mutex<()> = Mutex::new(());

/// Runs the tests of this binary one after the other.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Polls `done` every 10 ms until it holds; fails with `what()` after `bound`.
fn wait_until(bound: Duration, what: impl Fn() -> String, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + bound;
    while !done() {
        assert!(Instant::now() < deadline, "{}", what());
        thread::sleep(Duration::from_millis(10));
    }
}

// ---------------------------------------------------------------------------
// The transports, as a client opens them.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wire {
    Sse,
    Stream,
    Iframe,
    Ws,
    #[cfg(feature = "tcp")]
    Tcp,
}

impl Wire {
    /// Every streaming transport of this build.
    fn all() -> Vec<Wire> {
        #[allow(unused_mut)]
        let mut all = vec![Wire::Sse, Wire::Stream, Wire::Iframe, Wire::Ws];
        #[cfg(feature = "tcp")]
        all.push(Wire::Tcp);
        all
    }

    /// What a new subscriber sends first: a request, a handshake, or `SUB`.
    fn opening(self, channel: &str) -> String {
        let get =
            |what: &str| format!("GET /channels/{channel}/{what} HTTP/1.1\r\nHost: t\r\n\r\n");
        match self {
            Wire::Sse => get("sse"),
            Wire::Stream => get("stream"),
            Wire::Iframe => get("iframe"),
            Wire::Ws => handshake_request(&format!("/channels/{channel}/ws"), ""),
            #[cfg(feature = "tcp")]
            Wire::Tcp => format!("SUB {channel}\n"),
        }
    }
}

/// Connects to `addr` and sends `wire`'s opening for `channel`; reads nothing.
fn subscribe(addr: SocketAddr, wire: Wire, channel: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(LIVENESS)).unwrap();
    stream.write_all(wire.opening(channel).as_bytes()).unwrap();
    stream
}

/// The TCP line protocol on a port of its own, over the showcase's hub.
#[cfg(feature = "tcp")]
struct LineServer {
    addr: SocketAddr,
    shutdown: ShutdownHandle,
    thread: Option<thread::JoinHandle<io::Result<realtime_web::server::Stopped>>>,
}

#[cfg(feature = "tcp")]
impl LineServer {
    fn start(hub: &Arc<realtime_web::hub::Hub>, config: Config) -> LineServer {
        use realtime_web::server::Server;
        use realtime_web::transport::{tcp, StreamConfig};
        let server = Server::bind("127.0.0.1:0", config).expect("bind 127.0.0.1:0");
        let addr = server.local_addr();
        let shutdown = server.shutdown_handle();
        let handler = tcp::handler(
            Arc::clone(hub),
            Vec::new(),
            StreamConfig::default(),
            realtime_web::transport::access::Access::open(),
        );
        let thread = Some(thread::spawn(move || server.serve_raw(handler)));
        LineServer {
            addr,
            shutdown,
            thread,
        }
    }
}

#[cfg(feature = "tcp")]
impl Drop for LineServer {
    fn drop(&mut self) {
        self.shutdown.shutdown();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The showcase over HTTP and, with the `tcp` feature, the line protocol on a
/// second port: one hub, the same limits.
struct Servers {
    http: TestServer,
    #[cfg(feature = "tcp")]
    tcp: LineServer,
}

impl Servers {
    fn start(config: Config, options: Options) -> Servers {
        #[cfg(feature = "tcp")]
        let tcp_config = config.clone();
        let http = TestServer::with(config, options);
        #[cfg(feature = "tcp")]
        let tcp = LineServer::start(&http.hub, tcp_config);
        Servers {
            http,
            #[cfg(feature = "tcp")]
            tcp,
        }
    }

    fn addr(&self, wire: Wire) -> SocketAddr {
        match wire {
            #[cfg(feature = "tcp")]
            Wire::Tcp => self.tcp.addr,
            _ => self.http.addr,
        }
    }

    /// The server that holds `wire`'s connections.
    fn handle(&self, wire: Wire) -> &ShutdownHandle {
        match wire {
            #[cfg(feature = "tcp")]
            Wire::Tcp => &self.tcp.shutdown,
            _ => &self.http.shutdown,
        }
    }
}

// ---------------------------------------------------------------------------
// The client's side of each wire format, from raw bytes.

/// What a subscriber was told.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Got {
    Message { id: u64, data: String },
    Gap { oldest: u64 },
}

/// The fields of the SSE event being read.
#[derive(Debug, Default)]
struct SseFields {
    id: Option<u64>,
    event: Option<String>,
    data: Option<String>,
}

/// Decodes one subscriber's bytes, fed as they arrive, into [`Got`]s.
struct Decoder {
    wire: Wire,
    /// Bytes received and not decoded yet.
    raw: Vec<u8>,
    /// The response head (HTTP and WebSocket) is still to come.
    head: bool,
    /// Body bytes (after the chunked coding) not yet split into lines.
    body: Vec<u8>,
    sse: SseFields,
    got: Vec<Got>,
    /// The last message id received, 0 before any.
    last: u64,
    /// Why the stream ended, if it did: the last chunk, a close frame, EOF.
    ended: Option<String>,
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

impl Decoder {
    fn new(wire: Wire) -> Decoder {
        Decoder {
            wire,
            raw: Vec::new(),
            #[cfg(feature = "tcp")]
            head: wire != Wire::Tcp,
            #[cfg(not(feature = "tcp"))]
            head: true,
            body: Vec::new(),
            sse: SseFields::default(),
            got: Vec::new(),
            last: 0,
            ended: None,
        }
    }

    /// A decoder for a connection whose head was read already.
    fn after_head(wire: Wire) -> Decoder {
        Decoder {
            head: false,
            ..Decoder::new(wire)
        }
    }

    fn done(&self, last: u64) -> bool {
        self.last >= last || self.ended.is_some()
    }

    fn feed(&mut self, bytes: &[u8]) {
        self.raw.extend_from_slice(bytes);
        if self.head {
            let Some(end) = find(&self.raw, b"\r\n\r\n") else {
                return;
            };
            let head = String::from_utf8_lossy(&self.raw[..end]).to_ascii_lowercase();
            self.raw.drain(..end + 4);
            self.head = false;
            match self.wire {
                Wire::Ws => assert!(head.starts_with("http/1.1 101 "), "{head}"),
                _ => {
                    assert!(head.starts_with("http/1.1 200 "), "{:?}: {head}", self.wire);
                    assert!(
                        head.contains("\r\ntransfer-encoding: chunked"),
                        "{:?}: {head}",
                        self.wire
                    );
                }
            }
        }
        match self.wire {
            Wire::Sse | Wire::Stream | Wire::Iframe => self.dechunk(),
            Wire::Ws => self.frames(),
            #[cfg(feature = "tcp")]
            Wire::Tcp => {
                let raw = std::mem::take(&mut self.raw);
                self.body.extend_from_slice(&raw);
                self.lines();
            }
        }
    }

    /// RFC 9112 §7.1: `size-in-hex CRLF data CRLF`, until a chunk of size 0.
    fn dechunk(&mut self) {
        let mut at = 0;
        while self.ended.is_none() {
            let Some(eol) = find(&self.raw[at..], b"\r\n") else {
                assert!(self.raw.len() - at < 32, "{:?}: no chunk size", self.wire);
                break;
            };
            let size = std::str::from_utf8(&self.raw[at..at + eol])
                .ok()
                .and_then(|s| usize::from_str_radix(s, 16).ok())
                .unwrap_or_else(|| {
                    panic!(
                        "{:?}: bad chunk size {:?}",
                        self.wire,
                        String::from_utf8_lossy(&self.raw[at..at + eol])
                    )
                });
            let data = at + eol + 2;
            if self.raw.len() < data + size + 2 {
                break;
            }
            assert_eq!(
                &self.raw[data + size..data + size + 2],
                b"\r\n",
                "chunk end"
            );
            at = data + size + 2;
            if size == 0 {
                self.ended = Some("the last chunk".to_owned());
            }
            self.body.extend_from_slice(&self.raw[data..data + size]);
        }
        self.raw.drain(..at);
        self.lines();
    }

    /// RFC 6455 §5.2, server frames (never masked).
    fn frames(&mut self) {
        let mut at = 0;
        while self.ended.is_none() {
            let frame = &self.raw[at..];
            if frame.len() < 2 {
                break;
            }
            let (fin, opcode) = (frame[0] & 0x80 != 0, frame[0] & 0x0F);
            assert_eq!(frame[1] & 0x80, 0, "a server frame is not masked");
            let (length, header) = match frame[1] & 0x7F {
                126 if frame.len() >= 4 => (u16::from_be_bytes([frame[2], frame[3]]) as usize, 4),
                127 if frame.len() >= 10 => {
                    let mut be = [0u8; 8];
                    be.copy_from_slice(&frame[2..10]);
                    (u64::from_be_bytes(be) as usize, 10)
                }
                126 | 127 => break,
                n => (n as usize, 2),
            };
            if frame.len() < header + length {
                break;
            }
            let payload = frame[header..header + length].to_vec();
            at += header + length;
            match opcode {
                0x1 => {
                    assert!(fin, "a channel message is one frame");
                    let text = String::from_utf8(payload).expect("a text frame is UTF-8");
                    self.json(&text);
                }
                0x9 | 0xA => {} // ping, pong
                0x8 => self.ended = Some(format!("a close frame {payload:?}")),
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
        self.raw.drain(..at);
    }

    fn lines(&mut self) {
        let mut at = 0;
        while let Some(eol) = self.body[at..].iter().position(|&b| b == b'\n') {
            let line = String::from_utf8(self.body[at..at + eol].to_vec()).expect("UTF-8 lines");
            at += eol + 1;
            self.line(line.strip_suffix('\r').unwrap_or(&line));
        }
        self.body.drain(..at);
    }

    fn line(&mut self, line: &str) {
        match self.wire {
            Wire::Sse => self.sse_line(line),
            Wire::Iframe => {
                const OPEN: &str = "<script>parent.postMessage(";
                const CLOSE: &str = ",\"*\")</script>";
                if let Some(json) = line.strip_prefix(OPEN).and_then(|l| l.strip_suffix(CLOSE)) {
                    self.json(json);
                } else {
                    // The opening document, its padding, `<!-- ping -->`.
                    assert!(!line.contains("<script"), "a broken script line {line:?}");
                }
            }
            Wire::Ws => unreachable!("WebSocket messages are frames"),
            // ndjson: an empty line is a heartbeat.
            _ if line.is_empty() => {}
            _ => self.json(line),
        }
    }

    /// WHATWG HTML §9.2.6, as much of it as this server's streams need: fields
    /// until a blank line, comments (`: ping`) and `retry:` skipped.
    fn sse_line(&mut self, line: &str) {
        if line.is_empty() {
            let fields = std::mem::take(&mut self.sse);
            match (fields.event.as_deref(), fields.data) {
                (_, None) => {} // `retry:` alone
                (Some("gap"), Some(data)) => self.push(Got::Gap {
                    oldest: number(&data, "oldest"),
                }),
                (None, Some(data)) => self.push(Got::Message {
                    id: fields.id.expect("an id: line for every message"),
                    data,
                }),
                (Some(other), _) => panic!("unexpected event {other:?}"),
            }
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "id" => self.sse.id = Some(value.parse().expect("a numeric id")),
            "event" => self.sse.event = Some(value.to_owned()),
            "data" => match &mut self.sse.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.sse.data = Some(value.to_owned()),
            },
            "retry" => {}
            other => panic!("unexpected field {other:?} in {line:?}"),
        }
    }

    /// `{"gap":true,"oldest":N}` or `{"id":N,"event":"message","data":"…"}`.
    fn json(&mut self, json: &str) {
        let got = if json.starts_with("{\"gap\":true,") {
            Got::Gap {
                oldest: number(json, "oldest"),
            }
        } else {
            assert!(json.contains("\"event\":\"message\""), "{json}");
            Got::Message {
                id: number(json, "id"),
                data: string(json, "data"),
            }
        };
        self.push(got);
    }

    fn push(&mut self, got: Got) {
        if let Got::Message { id, .. } = got {
            self.last = id;
        }
        self.got.push(got);
    }
}

/// The number after `"key":` in `json`.
fn number(json: &str, key: &str) -> u64 {
    let at = json
        .find(&format!("\"{key}\":"))
        .unwrap_or_else(|| panic!("no {key} in {json}"));
    let digits: String = json[at + key.len() + 3..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no number for {key} in {json}"))
}

/// The string after `"key":` in `json`, unescaped.
fn string(json: &str, key: &str) -> String {
    let start = json
        .find(&format!("\"{key}\":\""))
        .unwrap_or_else(|| panic!("no {key} in {json}"))
        + key.len()
        + 4;
    let mut out = String::new();
    let mut chars = json[start..].chars();
    loop {
        match chars.next().expect("a closed string") {
            '"' => return out,
            '\\' => match chars.next().expect("an escape") {
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    let unit = u32::from_str_radix(&hex, 16).expect("\\uXXXX");
                    out.push(char::from_u32(unit).expect("a BMP scalar"));
                }
                other => out.push(other), // \" \\ \/
            },
            c => out.push(c),
        }
    }
}

/// Reads `stream` (blocking, with its read timeout) into `decoder` until it has
/// message `last`, or the stream ends.
fn read_until(stream: &mut TcpStream, decoder: &mut Decoder, last: u64) {
    let mut buf = vec![0u8; 64 * 1024];
    while !decoder.done(last) {
        match stream.read(&mut buf) {
            Ok(0) => decoder.ended = Some("EOF".to_owned()),
            Ok(n) => decoder.feed(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => panic!(
                "{:?}: read failed after id {}: {e}",
                decoder.wire, decoder.last
            ),
        }
    }
}

/// Where `got` first differs from `expected`, if it does.
fn first_difference(got: &[Got], expected: &[Got]) -> Option<String> {
    if got == expected {
        return None;
    }
    let at = got
        .iter()
        .zip(expected)
        .position(|(g, e)| g != e)
        .unwrap_or(got.len().min(expected.len()));
    Some(format!(
        "{} items instead of {}, the first difference at #{at}: {:?} instead of {:?}",
        got.len(),
        expected.len(),
        got.get(at),
        expected.get(at)
    ))
}

// ---------------------------------------------------------------------------
// 1. Fan-out to 2,000 subscribers.

/// One subscriber of the fan-out test, read by one of the reader threads.
struct Subscriber {
    stream: TcpStream,
    decoder: Decoder,
}

/// Reads its share of the subscribers in turn (non-blocking sockets, a 1 ms
/// nap when a whole round brought nothing) until each has message `last` or
/// ended, or `deadline` passes; then once more, for anything that follows.
fn read_share(mut share: Vec<Subscriber>, last: u64, deadline: Instant) -> Vec<Subscriber> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut round = |share: &mut Vec<Subscriber>, all: bool| {
        let (mut pending, mut progress) = (0, false);
        for subscriber in share.iter_mut() {
            if !all && subscriber.decoder.done(last) {
                continue;
            }
            pending += 1;
            match subscriber.stream.read(&mut buf) {
                Ok(0) => subscriber.decoder.ended = Some("EOF".to_owned()),
                Ok(n) => {
                    subscriber.decoder.feed(&buf[..n]);
                    progress = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => subscriber.decoder.ended = Some(format!("a read failed: {e}")),
            }
        }
        (pending, progress)
    };
    loop {
        let (pending, progress) = round(&mut share, false);
        if pending == 0 || Instant::now() > deadline {
            break;
        }
        if !progress {
            thread::sleep(Duration::from_millis(1));
        }
    }
    round(&mut share, true); // a duplicate or an extra message would show here
    share
}

#[test]
fn two_thousand_subscribers_across_every_streaming_transport_get_every_message_once_in_order() {
    let _serial = one_at_a_time();
    const SUBSCRIBERS: usize = 2_000;
    const MESSAGES: u64 = 200;
    const READERS: usize = 16;
    let servers = Servers::start(
        Config {
            max_connections: 4_000,
            max_threads: 4_500,
            ..Config::default()
        },
        Options::default(),
    );
    let channel = servers.http.hub.channel("f").unwrap();
    let wires = Wire::all();
    let mut shares: Vec<Vec<Subscriber>> = (0..READERS).map(|_| Vec::new()).collect();
    for i in 0..SUBSCRIBERS {
        let wire = wires[i % wires.len()];
        let stream = subscribe(servers.addr(wire), wire, "f");
        shares[i % READERS].push(Subscriber {
            stream,
            decoder: Decoder::new(wire),
        });
    }
    wait_until(
        LIVENESS,
        || format!("{} of {SUBSCRIBERS} subscribed", channel.waiters()),
        || channel.waiters() >= SUBSCRIBERS,
    );
    assert_eq!(channel.waiters(), SUBSCRIBERS);

    let deadline = Instant::now() + LIVENESS;
    let readers: Vec<_> = shares
        .into_iter()
        .map(|share| {
            for subscriber in &share {
                subscriber.stream.set_nonblocking(true).unwrap();
            }
            thread::spawn(move || read_share(share, MESSAGES, deadline))
        })
        .collect();
    for i in 0..MESSAGES {
        let id = channel.publish("message", &i.to_string()).unwrap();
        assert_eq!(id, i + 1);
    }
    let subscribers: Vec<Subscriber> = readers
        .into_iter()
        .flat_map(|reader| reader.join().expect("a reader thread"))
        .collect();

    let expected: Vec<Got> = (1..=MESSAGES)
        .map(|id| Got::Message {
            id,
            data: (id - 1).to_string(),
        })
        .collect();
    let mut failures = Vec::new();
    for wire in &wires {
        let of_wire: Vec<&Subscriber> = subscribers
            .iter()
            .filter(|s| s.decoder.wire == *wire)
            .collect();
        assert_eq!(of_wire.len(), SUBSCRIBERS / wires.len(), "{wire:?}");
        for subscriber in of_wire {
            if let Some(difference) = first_difference(&subscriber.decoder.got, &expected) {
                failures.push(format!(
                    "{wire:?}: {difference} (ended: {:?})",
                    subscriber.decoder.ended
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {SUBSCRIBERS} subscribers did not get ids 1..={MESSAGES} once each, in order; the first few: {:#?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
}

// ---------------------------------------------------------------------------
// 2. A stalled subscriber.

/// A message of 4 KiB that names its id.
fn big(id: u64) -> String {
    let mut data = format!("{id:06}:");
    data.push_str(&"x".repeat(4096 - data.len()));
    data
}

/// Checks what a subscriber that may have fallen behind got: the ids from 1 to
/// `last` in order, each once, with their data, except where a gap was
/// announced, which must skip something and be followed by its `oldest`.
/// Returns the gaps as (the id that was due, oldest).
fn check_with_gaps(got: &[Got], last: u64, who: &str) -> Vec<(u64, u64)> {
    let mut due = 1;
    let mut gaps = Vec::new();
    for (at, item) in got.iter().enumerate() {
        match item {
            Got::Gap { oldest } => {
                assert!(
                    *oldest > due,
                    "{who}: at #{at} a gap to {oldest} when {due} was due: nothing was skipped"
                );
                gaps.push((due, *oldest));
                due = *oldest;
            }
            Got::Message { id, data } => {
                assert_eq!(*id, due, "{who}: at #{at}, after gaps {gaps:?}");
                assert!(*data == big(*id), "{who}: the data of {id}");
                due += 1;
            }
        }
    }
    assert_eq!(due, last + 1, "{who}: ended before {last} (gaps {gaps:?})");
    gaps
}

#[test]
fn a_stalled_subscriber_does_not_delay_the_others_and_catches_up_or_is_told_of_the_gap() {
    let _serial = one_at_a_time();
    // 8 MB of data: about twice what the buffers of a loopback socket that is
    // not read took here (the sender's grows to tcp_wmem's 4 MiB ceiling; the
    // stalled subscribers got ids 1 to 994 before their first gap).
    const MESSAGES: u64 = 2_000;
    const WINDOW: usize = 64;
    const READERS: usize = 10;
    // A stalled subscriber is dropped when a write to it takes longer than the
    // write timeout; here it must outlast the readers' LIVENESS bound instead.
    let server = TestServer::with(
        Config {
            write_timeout: LIVENESS * 6,
            ..Config::default()
        },
        Options {
            window: WINDOW,
            ..Options::default()
        },
    );
    let channel = server.hub.channel("s").unwrap();
    let mut stalled: Vec<(Wire, TcpStream, Decoder)> = [Wire::Sse, Wire::Stream]
        .into_iter()
        .map(|wire| (wire, subscribe(server.addr, wire, "s"), Decoder::new(wire)))
        .collect();
    // The WebSocket one completes its handshake, then stops reading.
    stalled.push((
        Wire::Ws,
        raw_session(&server, "/channels/s/ws"),
        Decoder::after_head(Wire::Ws),
    ));
    let stalled_count = stalled.len();
    let readers: Vec<(Wire, TcpStream)> = (0..READERS)
        .map(|i| {
            let wire = [Wire::Sse, Wire::Stream, Wire::Iframe, Wire::Ws][i % 4];
            (wire, subscribe(server.addr, wire, "s"))
        })
        .collect();
    wait_until(
        LIVENESS,
        || format!("{} subscribed", channel.waiters()),
        || channel.waiters() >= READERS + stalled_count,
    );

    // Each reader reports the last id it got; the publisher keeps within half
    // the window of the slowest reader, so that only the stalled ones can fall
    // out of it.
    let progress: Arc<Vec<AtomicU64>> = Arc::new((0..READERS).map(|_| AtomicU64::new(0)).collect());
    let started = Instant::now();
    let reading: Vec<_> = readers
        .into_iter()
        .enumerate()
        .map(|(i, (wire, mut stream))| {
            let progress = Arc::clone(&progress);
            thread::spawn(move || {
                let mut decoder = Decoder::new(wire);
                let mut buf = vec![0u8; 64 * 1024];
                while !decoder.done(MESSAGES) {
                    match stream.read(&mut buf) {
                        Ok(0) => decoder.ended = Some("EOF".to_owned()),
                        Ok(n) => decoder.feed(&buf[..n]),
                        Err(e) => decoder.ended = Some(format!("a read failed: {e}")),
                    }
                    progress[i].store(decoder.last, Ordering::SeqCst);
                }
                (wire, decoder)
            })
        })
        .collect();
    for id in 1..=MESSAGES {
        let slowest = || {
            progress
                .iter()
                .map(|p| p.load(Ordering::SeqCst))
                .min()
                .unwrap()
        };
        while slowest() + (WINDOW as u64) / 2 < id {
            assert!(
                started.elapsed() < LIVENESS,
                "the readers are stuck at {:?} (publishing {id})",
                progress
                    .iter()
                    .map(|p| p.load(Ordering::SeqCst))
                    .collect::<Vec<_>>()
            );
            thread::sleep(Duration::from_micros(200));
        }
        assert_eq!(channel.publish("message", &big(id)).unwrap(), id);
    }
    for reader in reading {
        let (wire, decoder) = reader.join().expect("a reader thread");
        let who = format!("reader {wire:?}");
        assert_eq!(decoder.ended, None, "{who}");
        let gaps = check_with_gaps(&decoder.got, MESSAGES, &who);
        assert_eq!(gaps, [], "{who}: was never behind by half the window");
    }
    assert!(
        started.elapsed() < LIVENESS,
        "the readers took {:?}: the stalled subscribers held them up",
        started.elapsed()
    );

    // Now the stalled ones read: what their sockets held, then a gap, then the
    // window's messages up to the last.
    for (wire, mut stream, mut decoder) in stalled {
        let who = format!("stalled {wire:?}");
        read_until(&mut stream, &mut decoder, MESSAGES);
        assert_eq!(decoder.ended, None, "{who}");
        assert!(
            matches!(decoder.got.first(), Some(Got::Message { id: 1, .. })),
            "{who}: the first message came before the stall"
        );
        let gaps = check_with_gaps(&decoder.got, MESSAGES, &who);
        assert!(
            !gaps.is_empty(),
            "{who}: 8 MB through a window of {WINDOW} without a gap"
        );
    }
}

// ---------------------------------------------------------------------------
// 3. Subscribers that leave.

/// Subscribes over `wire` to a channel of its own, then leaves without a word
/// (having read what was sent, or not); within 2 s its connection, its thread
/// and the channel's broadcaster are gone.
fn leaves_within_two_seconds(servers: &Servers, wire: Wire, read_first: bool) {
    let who = format!("{wire:?} (read first: {read_first})");
    let name = format!("quiet-{wire:?}-{read_first}");
    let channel = servers.http.hub.channel(&name).unwrap();
    let handle = servers.handle(wire);
    let (connections, threads) = (handle.open_connections(), handle.threads());
    let mut client = subscribe(servers.addr(wire), wire, &name);
    wait_until(
        LIVENESS,
        || format!("{who}: never subscribed"),
        || channel.waiters() == 1 && handle.open_connections() == connections + 1,
    );
    assert_eq!(
        handle.threads(),
        threads + 2,
        "{who}: the connection's thread and the broadcaster"
    );
    if read_first {
        // What the server sent is here (it was written before the
        // subscription joined): read it, so that the close is a plain FIN.
        client.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 4096];
        while matches!(client.read(&mut buf), Ok(n) if n > 0) {}
    }
    drop(client);
    let left = Instant::now();
    let deadline = left + Duration::from_secs(2);
    let state = || {
        format!(
            "{who}: {:?} after leaving: {} connections (before: {connections}), {} threads (before: {threads}), {} waiters",
            left.elapsed(),
            handle.open_connections(),
            handle.threads(),
            channel.waiters()
        )
    };
    while handle.open_connections() != connections || handle.threads() > threads + 1 {
        assert!(Instant::now() < deadline, "{}", state());
        thread::sleep(Duration::from_millis(10));
    }
    // The broadcaster may look for its subscribers only once a second.
    while handle.threads() != threads {
        assert!(Instant::now() < deadline, "{}", state());
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(channel.waiters(), 0, "{}", state());
}

#[test]
fn a_subscriber_that_leaves_a_quiet_channel_is_gone_within_two_seconds() {
    let _serial = one_at_a_time();
    let servers = Servers::start(Config::default(), Options::default());
    for wire in Wire::all() {
        for read_first in [true, false] {
            leaves_within_two_seconds(&servers, wire, read_first);
        }
    }
}

// ---------------------------------------------------------------------------
// 4. WebSocket threads.

#[test]
fn websocket_subscribers_run_on_one_thread_each_plus_a_constant() {
    let _serial = one_at_a_time();
    const CLIENTS: usize = 300;
    let server = TestServer::start();
    let channel = server.hub.channel("w").unwrap();
    let mut clients: Vec<TcpStream> = (0..CLIENTS)
        .map(|_| raw_session(&server, "/channels/w/ws"))
        .collect();
    wait_until(
        LIVENESS,
        || format!("{} of {CLIENTS} subscribed", channel.waiters()),
        || channel.waiters() >= CLIENTS,
    );
    assert_eq!(channel.waiters(), CLIENTS);
    assert_eq!(
        server.shutdown.threads(),
        CLIENTS + 1,
        "a thread per subscriber and the channel's broadcaster"
    );
    assert_eq!(server.shutdown.open_connections(), CLIENTS);
    channel.publish("message", "to all").unwrap();
    let expected = [Got::Message {
        id: 1,
        data: "to all".to_owned(),
    }];
    for (i, client) in clients.iter_mut().enumerate() {
        let mut decoder = Decoder::after_head(Wire::Ws);
        read_until(client, &mut decoder, 1);
        assert_eq!(decoder.got, expected, "client {i}");
    }
}
