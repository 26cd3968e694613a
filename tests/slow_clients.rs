//! Slow and dead clients: slowloris, subscribers that stop reading, and clients
//! that vanish half-way. None of them may stop the server from serving others,
//! and none may leave a thread behind.

#![cfg(all(feature = "sse", feature = "comet", feature = "websocket"))]

mod common;

use common::*;
use realtime_web::server::Config;
use realtime_web::showcase::Options;
use realtime_web::transport::websocket::{self, Message};
use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn await_threads(server: &TestServer, target: usize) -> usize {
    let deadline = Instant::now() + LIVENESS;
    while server.shutdown.threads() > target && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    server.shutdown.threads()
}

#[test]
fn slowloris_does_not_stop_normal_requests_and_each_gets_408() {
    const DRIPPERS: usize = 500;
    let server = TestServer::with_config(Config {
        header_timeout: Duration::from_secs(2),
        ..Config::default()
    });
    let mut drippers: Vec<TcpStream> = (0..DRIPPERS)
        .map(|_| {
            let mut stream = server.connect();
            stream
                .write_all(b"GET /health HTTP/1.1\r\nX-Drip: ")
                .unwrap();
            stream
        })
        .collect();
    // Drip one byte per connection every 100 ms while normal clients are served.
    let started = Instant::now();
    let mut served = 0;
    while started.elapsed() < Duration::from_millis(1500) {
        for stream in &mut drippers {
            let _ = stream.write_all(b"x");
        }
        let (response, _) = exchange(&server, b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(response.status, 200, "a normal request during the attack");
        served += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(served > 0);
    // Every dripper is cut off by the header deadline, with 408.
    for stream in drippers {
        let mut reader = BufReader::new(stream);
        let response = read_response_to(&mut reader, false).expect("a 408");
        assert_eq!(response.status, 408);
        assert!(response.says_close());
    }
    assert_eq!(await_threads(&server, 0), 0, "no dripper's thread is left");
}

/// One subscriber that never reads and one that does, on `path`; the stuck one
/// is dropped by the write timeout, the other receives every message.
fn stuck_and_reading(
    path: &str,
    read_ids: impl FnOnce(BufReader<TcpStream>, u64) -> Vec<u64> + Send + 'static,
) {
    let server = TestServer::with(
        Config {
            write_timeout: Duration::from_millis(300),
            ..Config::default()
        },
        Options::default(),
    );
    let channel = server.hub.channel("slow").unwrap();
    let open = |server: &TestServer| {
        let mut stream = server.connect();
        stream
            .write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
            .unwrap();
        stream
    };
    let stuck = open(&server);
    let reading = BufReader::new(open(&server));
    let deadline = Instant::now() + LIVENESS;
    while channel.waiters() < 2 {
        assert!(
            Instant::now() < deadline,
            "{path}: subscribers never waited"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    const MESSAGES: u64 = 200;
    let reader = std::thread::spawn(move || read_ids(reading, MESSAGES));
    let big = "x".repeat(24 * 1024); // ~5 MB in all: more than any socket buffer holds
    for _ in 0..MESSAGES {
        channel.publish("message", &big).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(
        reader.join().unwrap(),
        (1..=MESSAGES).collect::<Vec<_>>(),
        "{path}: the reading subscriber got everything"
    );
    let deadline = Instant::now() + LIVENESS;
    while server.shutdown.open_connections() > 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        server.shutdown.open_connections(),
        1,
        "{path}: the stuck subscriber was dropped"
    );
    drop(stuck);
}

/// Reads ids from raw bytes: every `"id":N` (JSON) in order of arrival.
fn ids_from_raw(mut reader: BufReader<TcpStream>, wanted: u64) -> Vec<u64> {
    let mut ids = Vec::new();
    let mut pending = String::new();
    let mut buf = [0u8; 65536];
    while (ids.len() as u64) < wanted {
        let n = reader.read(&mut buf).expect("read");
        assert!(n > 0, "the stream ended");
        pending.push_str(&String::from_utf8_lossy(&buf[..n]));
        while let Some(at) = pending.find("\"id\":") {
            let rest = &pending[at + 5..];
            let Some(end) = rest.find(',') else { break };
            ids.push(rest[..end].parse().expect("an id"));
            pending.drain(..at + 5 + end);
        }
    }
    ids
}

#[test]
fn a_stream_reader_that_stops_is_dropped() {
    stuck_and_reading("/channels/slow/stream", ids_from_raw);
}

#[test]
fn a_frame_reader_that_stops_is_dropped() {
    stuck_and_reading("/channels/slow/iframe", ids_from_raw);
}

#[test]
fn a_websocket_reader_that_stops_is_dropped() {
    let server = TestServer::with(
        Config {
            write_timeout: Duration::from_millis(300),
            ..Config::default()
        },
        Options::default(),
    );
    let url = format!("ws://{}/channels/slow/ws", server.addr);
    // Uncompressed: the stuck client's socket must fill up with the messages.
    let plain = || {
        let options = websocket::ClientOptions {
            config: Some(websocket::WsConfig {
                ping_interval: None,
                #[cfg(feature = "deflate")]
                deflate: false,
                ..websocket::WsConfig::default()
            }),
            ..websocket::ClientOptions::default()
        };
        websocket::connect_with(&url, options).unwrap()
    };
    let stuck = plain();
    let mut reading = plain();
    let channel = server.hub.channel("slow").unwrap();
    let deadline = Instant::now() + LIVENESS;
    while channel.waiters() < 2 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(5));
    }
    const MESSAGES: u64 = 200;
    let reader = std::thread::spawn(move || {
        let ids = (0..MESSAGES)
            .map(|_| match reading.read().unwrap() {
                Message::Text(json) => json[6..].split(',').next().unwrap().parse::<u64>().unwrap(),
                other => panic!("{other:?}"),
            })
            .collect::<Vec<_>>();
        (ids, reading) // kept open: its two threads must stay
    });
    let big = "x".repeat(24 * 1024);
    for _ in 0..MESSAGES {
        channel.publish("message", &big).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    let (ids, _reading) = reader.join().unwrap();
    assert_eq!(ids, (1..=MESSAGES).collect::<Vec<_>>());
    // The stuck client's pump failed its write and shut the socket: both of its
    // threads end, leaving the reading client's two.
    assert_eq!(
        await_threads(&server, 2),
        2,
        "the stuck subscription's threads ended"
    );
    drop(stuck);
}

#[test]
fn clients_that_vanish_half_way_leave_no_thread() {
    let server = TestServer::start();
    let half_ways: [&[u8]; 5] = [
        b"GET /health HTTP/1.1\r\nHo",                                            // mid-head
        b"POST /channels/v/publish HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nabc", // mid-body
        b"POST /channels/v/publish HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc", // mid-chunk
        b"GET /channels/v/long-poll?timeout=60000 HTTP/1.1\r\nHost: t\r\n\r\n",    // mid-wait
        b"GET /channels/v/sse HTTP/1.1\r\nHost: t\r\n\r\n",                        // mid-stream
    ];
    for raw in half_ways {
        let mut stream = server.connect();
        stream.write_all(raw).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        drop(stream);
    }
    // Mid-frame: a WebSocket whose frame stops after its header.
    let mut ws = server.connect();
    ws.write_all(b"GET /channels/v/ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").unwrap();
    ws.write_all(&[0x81, 0x85, 1, 2, 3, 4, b'h']).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    drop(ws);
    // A long-poll and a stream only notice at their next write: publish one.
    std::thread::sleep(Duration::from_millis(50));
    server
        .hub
        .channel("v")
        .unwrap()
        .publish("message", "anyone?")
        .unwrap();
    // The WebSocket's pump notices at its next wake-up (a message: the one above).
    assert_eq!(
        await_threads(&server, 0),
        0,
        "threads left: {}",
        server.shutdown.threads()
    );
    let (response, _) = exchange(&server, b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(response.status, 200);
}
