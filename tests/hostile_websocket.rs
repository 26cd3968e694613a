//! Hostile WebSocket input over raw sockets: bad handshakes with their statuses,
//! and each RFC 6455 violation after the handshake with the close code it must
//! produce (1002 protocol, 1003 unsupported data, 1007 invalid UTF-8, 1009 too
//! big), the server serving fresh connections after each.

#![cfg(feature = "websocket")]

mod common;

use common::ws::*;
use common::*;
use realtime_web::server::Config;
use realtime_web::showcase::Options;
use realtime_web::transport::websocket::{connect, Message, WsConfig};
use std::io::Write;

fn violation(server: &TestServer, path: &str, frames: &[Vec<u8>]) -> Option<u16> {
    let mut stream = raw_session(server, path);
    for frame in frames {
        if stream.write_all(frame).is_err() {
            break;
        }
    }
    let code = read_close_code(&mut stream);
    // Answer the close, as a client does; after a failure the server may be
    // gone already, so the write may fail.
    let _ = stream.write_all(&client_frame(0x88, &code.unwrap_or(1000).to_be_bytes()));
    assert_tcp_closed(&mut stream);
    code
}

#[test]
fn handshake_refusals() {
    let server = TestServer::with(
        Config::default(),
        Options {
            allow_origins: vec!["https://app.example".into()],
            ..Options::default()
        },
    );
    let cases: [(String, u16); 7] = [
        (
            handshake_request("/echo", "").replacen("GET", "POST", 1),
            405,
        ),
        ("GET /echo HTTP/1.1\r\nHost: t\r\n\r\n".to_owned(), 400),
        (
            handshake_request("/echo", "").replace("Connection: Upgrade\r\n", ""),
            400,
        ),
        (
            handshake_request("/echo", "").replace("Version: 13", "Version: 8"),
            426,
        ),
        (handshake_request("/echo", "").replace(KEY, "c2hvcnQ="), 400),
        (
            handshake_request("/echo", "Origin: https://evil.example\r\n"),
            403,
        ),
        (handshake_request("/channels/a.b/ws", ""), 400),
    ];
    for (request, status) in cases {
        let (response, _) = exchange(&server, request.as_bytes());
        assert_eq!(response.status, status, "{request}");
        assert!(response.text().starts_with(r#"{"error":"#), "{request}");
        if status == 426 {
            assert_eq!(response.header("sec-websocket-version"), Some("13"));
        }
    }
    let (ok, _) = exchange(
        &server,
        handshake_request("/echo", "Origin: https://app.example\r\n").as_bytes(),
    );
    assert_eq!(ok.status, 101);
    assert!(server.hub.find("a").is_none());
}

#[test]
fn each_violation_closes_with_its_code() {
    let server = TestServer::start();
    let cases: Vec<(&str, Vec<Vec<u8>>, u16)> = vec![
        ("RSV1 set", vec![client_frame(0xC1, b"x")], 1002),
        ("reserved opcode 3", vec![client_frame(0x83, b"x")], 1002),
        (
            "reserved control opcode 0xB",
            vec![client_frame(0x8B, b"")],
            1002,
        ),
        ("unmasked frame", vec![vec![0x81, 0x01, b'x']], 1002),
        ("fragmented ping", vec![client_frame(0x09, b"x")], 1002),
        (
            "ping of 126 bytes",
            vec![client_frame(0x89, &[0; 126])],
            1002,
        ),
        ("continuation first", vec![client_frame(0x80, b"x")], 1002),
        (
            "text inside a fragmented text",
            vec![client_frame(0x01, b"a"), client_frame(0x81, b"b")],
            1002,
        ),
        ("invalid UTF-8", vec![client_frame(0x81, b"\xff")], 1007),
        (
            "invalid UTF-8 across fragments",
            vec![client_frame(0x01, b"ok\xF0\x9F"), client_frame(0x80, b"(x")],
            1007,
        ),
        (
            "text ending inside a character",
            vec![client_frame(0x81, b"ok\xE2\x82")],
            1007,
        ),
        (
            "close with one byte",
            vec![client_frame(0x88, &[0x03])],
            1002,
        ),
        (
            "close with code 1005",
            vec![client_frame(0x88, &1005u16.to_be_bytes())],
            1002,
        ),
        (
            "close with code 999",
            vec![client_frame(0x88, &999u16.to_be_bytes())],
            1002,
        ),
        (
            "close with code 5000",
            vec![client_frame(0x88, &5000u16.to_be_bytes())],
            1002,
        ),
        (
            "close reason not UTF-8",
            vec![client_frame(0x88, &[0x03, 0xE8, 0xFF])],
            1007,
        ),
        (
            "64-bit length with the high bit",
            vec![vec![0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]],
            1002,
        ),
    ];
    for (what, frames, code) in cases {
        assert_eq!(violation(&server, "/echo", &frames), Some(code), "{what}");
    }
}

#[test]
fn invalid_utf8_fails_before_the_frame_is_complete() {
    let server = TestServer::start();
    let mut stream = raw_session(&server, "/echo");
    // A 1000-byte text frame whose first bytes are already invalid; send only them.
    let mut frame = client_frame(0x81, &[b'a'; 1000]);
    let key = [0x12, 0x34, 0x56, 0x78];
    frame[8] = 0xFF ^ key[0];
    stream.write_all(&frame[..20]).unwrap();
    assert_eq!(read_close_code(&mut stream), Some(1007));
}

#[test]
fn messages_over_the_limit_close_with_1009() {
    let server = TestServer::with(
        Config::default(),
        Options {
            websocket: WsConfig {
                max_frame: 1000,
                max_message: 1500,
                ..WsConfig::default()
            },
            ..Options::default()
        },
    );
    assert_eq!(
        violation(&server, "/echo", &[client_frame(0x82, &[0; 1001])]),
        Some(1009),
        "frame"
    );
    assert_eq!(
        violation(
            &server,
            "/echo",
            &[
                client_frame(0x02, &[0; 1000]),
                client_frame(0x80, &[0; 501])
            ]
        ),
        Some(1009),
        "message"
    );
    // The channel endpoint holds text to the hub's 64 KiB limit.
    let server = TestServer::start();
    assert_eq!(
        violation(
            &server,
            "/channels/big/ws",
            &[client_frame(0x81, &vec![b'a'; 65_537])]
        ),
        Some(1009)
    );
    assert_eq!(
        violation(&server, "/channels/big/ws", &[client_frame(0x82, b"bin")]),
        Some(1003)
    );
}

#[test]
fn more_violations_and_the_server_keeps_serving() {
    let server = TestServer::start();
    let cases: Vec<(&str, Vec<Vec<u8>>, u16)> = vec![
        ("RSV2 set", vec![client_frame(0xA1, b"x")], 1002),
        ("RSV3 set", vec![client_frame(0x91, b"x")], 1002),
        ("opcode 0xF", vec![client_frame(0x8F, b"")], 1002),
        (
            "pong of 126 bytes",
            vec![client_frame(0x8A, &[0; 126])],
            1002,
        ),
        (
            "close of 126 bytes",
            vec![client_frame(0x88, &[0x03; 126])],
            1002,
        ),
        (
            "fragmented close",
            vec![client_frame(0x08, &1000u16.to_be_bytes())],
            1002,
        ),
        (
            "binary inside a fragmented text",
            vec![client_frame(0x01, b"a"), client_frame(0x82, b"b")],
            1002,
        ),
        (
            "continuation after a whole message",
            vec![client_frame(0x81, b"done"), client_frame(0x80, b"more")],
            1002,
        ),
        (
            "overlong UTF-8",
            vec![client_frame(0x81, b"\xC0\xAF")],
            1007,
        ),
        (
            "a UTF-16 surrogate",
            vec![client_frame(0x81, b"\xED\xA0\x80")],
            1007,
        ),
        (
            "past U+10FFFF",
            vec![client_frame(0x81, b"\xF4\x90\x80\x80")],
            1007,
        ),
    ];
    for (what, frames, code) in cases {
        assert_eq!(violation(&server, "/echo", &frames), Some(code), "{what}");
        let mut fresh = connect(&ws_url(&server, "/echo")).unwrap();
        fresh.send_text("still serving").unwrap();
        assert_eq!(
            fresh.read().unwrap(),
            Message::Text("still serving".into()),
            "{what}"
        );
    }
}
