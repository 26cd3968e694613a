//! Raw WebSocket helpers for the tests: a handshake written by hand, masked
//! client frames built byte by byte, and the server's close code read back —
//! independent of the crate's own client, so the server is checked by other code
//! than its own.

#![allow(dead_code)]

use super::{TestServer, LIVENESS};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

/// The `Sec-WebSocket-Key` of RFC 6455 §1.3's example.
pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// The `ws://` URL of `path` on the test server.
pub fn ws_url(server: &TestServer, path: &str) -> String {
    format!("ws://{}{}", server.addr, path)
}

/// An opening handshake (RFC 6455 §4.1) for `path`, with `extra` header lines.
pub fn handshake_request(path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

/// A raw client after a successful handshake: frames are written by hand.
pub fn raw_session(server: &TestServer, path: &str) -> TcpStream {
    raw_session_at(server.addr, path)
}

/// [`raw_session`] with any server at `addr`.
pub fn raw_session_at(addr: SocketAddr, path: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(LIVENESS)).unwrap();
    stream
        .write_all(handshake_request(path, "").as_bytes())
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101 "),
        "{}",
        String::from_utf8_lossy(&head)
    );
    stream
}

/// A masked client frame (the key is fixed: these tests are about the server).
pub fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x12, 0x34, 0x56, 0x78];
    let mut out = vec![first];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n <= 0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    out
}

/// Reads server frames until a close frame; returns its code (None if empty).
pub fn read_close_code(stream: &mut TcpStream) -> Option<u16> {
    loop {
        let mut head = [0u8; 2];
        stream
            .read_exact(&mut head)
            .expect("a frame from the server");
        assert_eq!(head[1] & 0x80, 0, "server frames are not masked");
        let len = match head[1] & 0x7F {
            126 => {
                let mut b = [0u8; 2];
                stream.read_exact(&mut b).unwrap();
                u16::from_be_bytes(b) as usize
            }
            127 => {
                let mut b = [0u8; 8];
                stream.read_exact(&mut b).unwrap();
                u64::from_be_bytes(b) as usize
            }
            n => n as usize,
        };
        let mut payload = vec![0u8; len];
        stream.read_exact(&mut payload).unwrap();
        if head[0] & 0x0F == 0x8 {
            return (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
        }
    }
}

/// After the close frame, the server closes TCP.
pub fn assert_tcp_closed(stream: &mut TcpStream) {
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
}
