//! permessage-deflate (RFC 7692) on the wire, with raw sockets and the crate's
//! own codec on the test's side: the negotiation, RSV1 on compressed frames,
//! messages both ways, and the rules that fail a connection.

#![cfg(all(feature = "deflate", feature = "polling"))]

mod common;

use common::ws::{client_frame, read_close_code};
use common::{await_waiters, TestServer, LIVENESS};
use realtime_web::codec::deflate::Deflater;
use realtime_web::codec::inflate::Inflater;
use std::io::{Read, Write};
use std::net::TcpStream;

/// A handshake offering `extensions`; returns the socket and the `101` head.
fn handshake(server: &TestServer, path: &str, extensions: &str) -> (TcpStream, String) {
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.set_read_timeout(Some(LIVENESS)).unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extensions}\r\n"
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    (stream, head)
}

/// The next server frame: (first byte, payload).
fn frame(stream: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head).unwrap();
    let len = match head[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            stream.read_exact(&mut b).unwrap();
            usize::from(u16::from_be_bytes(b))
        }
        127 => {
            let mut b = [0u8; 8];
            stream.read_exact(&mut b).unwrap();
            u64::from_be_bytes(b) as usize
        }
        n => usize::from(n),
    };
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload).unwrap();
    (head[0], payload)
}

fn inflate(inflater: &mut Inflater, payload: &[u8]) -> Vec<u8> {
    let mut input = payload.to_vec();
    input.extend_from_slice(&[0x00, 0x00, 0xff, 0xff]);
    let mut out = Vec::new();
    inflater.inflate(&input, &mut out, 1 << 24).unwrap();
    out
}

#[test]
fn a_channel_subscriber_gets_compressed_frames_shared_by_all() {
    let server = TestServer::start();
    let offer = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";
    let (mut a, head) = handshake(&server, "/channels/z/ws", offer);
    assert!(
        head.contains(
            "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n"
        ),
        "{head}"
    );
    let (mut b, _) = handshake(&server, "/channels/z/ws", offer);
    let channel = server.hub.channel("z").unwrap();
    await_waiters(&server.hub, "z", 2);
    channel
        .publish("message", &"compress me ".repeat(20))
        .unwrap();
    let (first_a, payload_a) = frame(&mut a);
    let (first_b, payload_b) = frame(&mut b);
    assert_eq!(first_a, 0x80 | 0x40 | 0x1, "FIN, RSV1, text");
    assert_eq!(
        (first_a, &payload_a),
        (first_b, &payload_b),
        "the same bytes for both"
    );
    let text = inflate(&mut Inflater::new(15), &payload_a);
    let expected = format!(
        "{{\"id\":1,\"event\":\"message\",\"data\":\"{}\"}}",
        "compress me ".repeat(20)
    );
    assert_eq!(String::from_utf8(text).unwrap(), expected);
    assert!(
        payload_a.len() < expected.len() / 2,
        "{} bytes",
        payload_a.len()
    );
}

#[test]
fn echo_inflates_a_compressed_message_and_answers_compressed() {
    let server = TestServer::start();
    let offer = "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=8; client_max_window_bits=8\r\n";
    let (mut stream, head) = handshake(&server, "/echo", offer);
    assert!(head.contains("server_max_window_bits=8"), "{head}");
    let mut deflater = Deflater::new(8);
    let mut inflater = Inflater::new(8);
    for text in ["hello", "hello hello hello", "κόσμε"] {
        let mut compressed = Vec::new();
        deflater.compress(text.as_bytes(), &mut compressed);
        let mut message = client_frame(0x81, &compressed);
        message[0] |= 0x40; // RSV1: compressed
        stream.write_all(&message).unwrap();
        let (first, payload) = frame(&mut stream);
        assert_eq!(first, 0xc1, "FIN, RSV1, text");
        assert_eq!(inflate(&mut inflater, &payload), text.as_bytes());
    }
    // An uncompressed message is fine too (RFC 7692 §6).
    stream.write_all(&client_frame(0x81, b"plain")).unwrap();
    let (_, payload) = frame(&mut stream);
    assert_eq!(inflate(&mut inflater, &payload), b"plain");
}

#[test]
fn rsv1_where_it_may_not_be_fails_the_connection() {
    let server = TestServer::start();
    // Without the extension.
    let (mut plain, head) = handshake(&server, "/echo", "");
    assert!(!head.contains("Sec-WebSocket-Extensions"), "{head}");
    let mut message = client_frame(0x81, b"x");
    message[0] |= 0x40;
    plain.write_all(&message).unwrap();
    assert_eq!(read_close_code(&mut plain), Some(1002));
    // With it, on a continuation frame.
    let offer = "Sec-WebSocket-Extensions: permessage-deflate\r\n";
    let (mut stream, _) = handshake(&server, "/echo", offer);
    stream.write_all(&client_frame(0x01, b"part")).unwrap();
    let mut continuation = client_frame(0x80, b"rest");
    continuation[0] |= 0x40;
    stream.write_all(&continuation).unwrap();
    assert_eq!(read_close_code(&mut stream), Some(1002));
    // Data that does not inflate.
    let (mut stream, _) = handshake(&server, "/echo", offer);
    let mut garbage = client_frame(0x81, &[0xff, 0xff, 0xff]);
    garbage[0] |= 0x40;
    stream.write_all(&garbage).unwrap();
    assert_eq!(read_close_code(&mut stream), Some(1007));
}

#[test]
fn the_message_limit_applies_to_the_inflated_size() {
    let server = TestServer::start();
    let offer = "Sec-WebSocket-Extensions: permessage-deflate\r\n";
    let (mut stream, _) = handshake(&server, "/channels/big/ws", offer);
    // 100 KiB of zeros compress to a few hundred bytes; the channel's limit
    // is 64 KiB of text.
    let mut compressed = Vec::new();
    Deflater::new(15).compress(&vec![b'0'; 100 * 1024], &mut compressed);
    assert!(compressed.len() < 1024);
    let mut message = client_frame(0x81, &compressed);
    message[0] |= 0x40;
    stream.write_all(&message).unwrap();
    assert_eq!(read_close_code(&mut stream), Some(1009));
    assert_eq!(server.hub.channel("big").unwrap().last_id(), 0);
}
