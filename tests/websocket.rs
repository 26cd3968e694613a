//! WebSocket over real sockets: the handshake and its refusals, frames of every
//! length class, each protocol violation and its close code, fragmentation,
//! the closing handshake both ways, and the channel endpoint.

#![cfg(feature = "websocket")]

mod common;

use common::ws::*;
use common::*;
use realtime_web::server::Config;
use realtime_web::showcase::Options;
use realtime_web::transport::websocket::{
    self, connect, ClientOptions, CloseFrame, Message, OpCode, WebSocket, WsConfig,
};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

fn echo_client(server: &TestServer) -> WebSocket {
    connect(&ws_url(server, "/echo")).expect("connect to /echo")
}

#[test]
fn handshake_success_headers() {
    let server = TestServer::start();
    let (response, _) = exchange(&server, handshake_request("/echo", "").as_bytes());
    assert_eq!(response.status, 101);
    assert_eq!(response.header("upgrade"), Some("websocket"));
    assert_eq!(response.header("connection"), Some("Upgrade"));
    assert_eq!(
        response.header("sec-websocket-accept"),
        Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    );
    assert_eq!(
        response.header("sec-websocket-extensions"),
        None,
        "no extension negotiated"
    );
    assert_eq!(response.header("sec-websocket-protocol"), None);
}

#[test]
fn echo_every_length_class_both_ways() {
    let server = TestServer::start();
    let mut ws = echo_client(&server);
    for len in [0, 1, 125, 126, 127, 65535, 65536, 1 << 20] {
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        ws.send_binary(&data).unwrap();
        assert_eq!(ws.read().unwrap(), Message::Binary(data), "binary {len}");
        let text: String = (0..len)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        ws.send_text(&text).unwrap();
        assert_eq!(ws.read().unwrap(), Message::Text(text), "text {len}");
    }
    let frame = ws.close(1000, "done").unwrap();
    assert_eq!(frame.map(|f| f.code), Some(1000));
}

#[test]
fn fragments_with_a_ping_between_them() {
    let server = TestServer::start();
    let mut ws = echo_client(&server);
    let sender = ws.sender();
    sender
        .fragment(OpCode::Text, "frag".as_bytes(), false)
        .unwrap();
    sender.ping(b"between").unwrap();
    sender
        .fragment(OpCode::Continuation, "ment".as_bytes(), false)
        .unwrap();
    // A multi-byte character split across two fragments.
    let snowman = "☃".as_bytes();
    sender
        .fragment(OpCode::Continuation, &snowman[..1], false)
        .unwrap();
    sender
        .fragment(OpCode::Continuation, &snowman[1..], true)
        .unwrap();
    assert_eq!(ws.read().unwrap(), Message::Text("fragment☃".into()));
}

#[test]
fn close_initiated_by_the_client() {
    let server = TestServer::start();
    let mut stream = raw_session(&server, "/echo");
    let mut payload = 1000u16.to_be_bytes().to_vec();
    payload.extend_from_slice(b"bye");
    stream.write_all(&client_frame(0x88, &payload)).unwrap();
    assert_eq!(
        read_close_code(&mut stream),
        Some(1000),
        "the code is echoed"
    );
    assert_tcp_closed(&mut stream);
    // The same with the crate's client.
    let mut ws = echo_client(&server);
    assert_eq!(
        ws.close(4000, "app reason").unwrap(),
        Some(CloseFrame {
            code: 4000,
            reason: String::new()
        })
    );
    assert!(matches!(ws.read(), Err(websocket::Error::Closed)));
}

#[test]
fn close_initiated_by_the_server_at_shutdown() {
    let server = TestServer::start();
    let mut ws = connect(&ws_url(&server, "/channels/bye/ws")).unwrap();
    let deadline = Instant::now() + LIVENESS;
    while server.hub.find("bye").map_or(0, |c| c.waiters()) < 1 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(2));
    }
    let stopping = std::thread::spawn(move || server.stop());
    match ws.read() {
        Ok(Message::Close(Some(frame))) => assert_eq!(frame.code, 1001),
        other => panic!("expected close 1001, got {other:?}"),
    }
    assert!(stopping.join().unwrap() < LIVENESS);
}

#[test]
fn server_answers_pings_and_ignores_pongs() {
    let server = TestServer::start();
    let mut stream = raw_session(&server, "/echo");
    stream
        .write_all(&client_frame(0x8A, b"unsolicited"))
        .unwrap();
    stream
        .write_all(&client_frame(0x89, b"are you there"))
        .unwrap();
    let mut head = [0u8; 2];
    stream.read_exact(&mut head).unwrap();
    assert_eq!(head, [0x8A, 13], "a pong with the ping's payload");
    let mut payload = [0u8; 13];
    stream.read_exact(&mut payload).unwrap();
    assert_eq!(&payload, b"are you there");
}

#[test]
fn channel_endpoint_delivers_and_publishes() {
    let server = TestServer::start();
    let mut alice = connect(&ws_url(&server, "/channels/room/ws")).unwrap();
    let mut bob = connect(&ws_url(&server, "/channels/room/ws")).unwrap();
    let room = server.hub.channel("room").unwrap();
    let deadline = Instant::now() + LIVENESS;
    while room.waiters() < 2 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(2));
    }
    post(
        &server.url("/channels/room/publish?event=news"),
        b"from HTTP",
    );
    let expected = Message::Text(r#"{"id":1,"event":"news","data":"from HTTP"}"#.into());
    assert_eq!(alice.read().unwrap(), expected);
    assert_eq!(bob.read().unwrap(), expected);

    alice.send_text("from \"alice\"").unwrap();
    let echo = Message::Text(r#"{"id":2,"event":"message","data":"from \"alice\""}"#.into());
    assert_eq!(bob.read().unwrap(), echo);
    assert_eq!(
        alice.read().unwrap(),
        echo,
        "the sender receives its own message"
    );
    let (_, polled) = get(&server.url("/channels/room/poll?since=1"));
    assert_eq!(
        polled,
        r#"{"messages":[{"id":2,"event":"message","data":"from \"alice\""}],"next":2,"gap":false}"#
    );
}

#[test]
fn channel_endpoint_replays_with_since_and_announces_gaps() {
    let (server, _) = TestServer::with_evicted(4, "r");
    let mut replay = connect(&ws_url(&server, "/channels/r/ws?since=8")).unwrap();
    assert!(matches!(replay.read().unwrap(), Message::Text(t) if t.starts_with(r#"{"id":9,"#)));
    let mut gap = connect(&ws_url(&server, "/channels/r/ws?since=2")).unwrap();
    assert_eq!(
        gap.read().unwrap(),
        Message::Text(r#"{"gap":true,"oldest":7}"#.into())
    );
    assert!(matches!(gap.read().unwrap(), Message::Text(t) if t.starts_with(r#"{"id":7,"#)));
    let (status, _) = get(&server.url("/channels/r/ws?since=x"));
    assert_eq!(status, 400);
}

/// The largest cursors are ahead of the channel: the gap, the window, then new
/// messages, on a pump thread that must not panic (nothing would catch it).
#[test]
fn the_largest_cursors_get_the_gap_then_the_window_then_news() {
    let (server, channel) = TestServer::with_evicted(4, "r");
    let mut opened = Vec::new();
    for since in ["18446744073709551615", "18446744073709551614"] {
        let mut ws = connect(&ws_url(&server, &format!("/channels/r/ws?since={since}"))).unwrap();
        let gap = r#"{"gap":true,"oldest":7}"#;
        assert_eq!(ws.read().unwrap(), Message::Text(gap.into()));
        for id in 7..=10 {
            let prefix = format!("{{\"id\":{id},");
            assert!(matches!(ws.read().unwrap(), Message::Text(t) if t.starts_with(&prefix)));
        }
        opened.push(ws);
    }
    channel.publish("message", "news").unwrap();
    for ws in &mut opened {
        let news = r#"{"id":11,"#;
        assert!(matches!(ws.read().unwrap(), Message::Text(t) if t.starts_with(news)));
    }
}

#[test]
fn two_hundred_concurrent_clients() {
    const CLIENTS: usize = 200;
    let server = TestServer::start();
    let url = ws_url(&server, "/channels/crowd/ws");
    let mut clients: Vec<WebSocket> = (0..CLIENTS).map(|_| connect(&url).unwrap()).collect();
    let crowd = server.hub.channel("crowd").unwrap();
    let deadline = Instant::now() + LIVENESS;
    while crowd.waiters() < CLIENTS {
        assert!(Instant::now() < deadline, "{} waiting", crowd.waiters());
        std::thread::sleep(Duration::from_millis(5));
    }
    for (i, client) in clients.iter().enumerate() {
        client.send_text(&format!("hello from {i}")).unwrap();
    }
    let readers: Vec<_> = clients
        .drain(..)
        .map(|mut client| {
            std::thread::spawn(move || {
                let ids: Vec<u64> = (0..CLIENTS)
                    .map(|_| match client.read().unwrap() {
                        Message::Text(json) => {
                            json[6..].split(',').next().unwrap().parse().unwrap()
                        }
                        other => panic!("{other:?}"),
                    })
                    .collect();
                let _ = client.close(1000, "");
                ids
            })
        })
        .collect();
    for reader in readers {
        assert_eq!(
            reader.join().unwrap(),
            (1..=CLIENTS as u64).collect::<Vec<_>>()
        );
    }
    assert_eq!(crowd.last_id(), CLIENTS as u64);
}

#[test]
fn client_offers_a_subprotocol_the_server_may_choose() {
    let server = TestServer::with(
        Config::default(),
        Options {
            websocket: WsConfig {
                protocols: vec!["chat.v1".into()],
                ..WsConfig::default()
            },
            ..Options::default()
        },
    );
    let (response, _) = exchange(
        &server,
        handshake_request("/echo", "Sec-WebSocket-Protocol: other, chat.v1\r\n").as_bytes(),
    );
    assert_eq!(response.header("sec-websocket-protocol"), Some("chat.v1"));
    let options = ClientOptions {
        protocols: vec!["chat.v1".into()],
        ..ClientOptions::default()
    };
    let mut ws = websocket::connect_with(&ws_url(&server, "/echo"), options).unwrap();
    ws.send_text("hi").unwrap();
    assert_eq!(ws.read().unwrap(), Message::Text("hi".into()));
}

#[test]
fn a_client_that_vanishes_costs_nothing() {
    let server = TestServer::start();
    let mut stream = raw_session(&server, "/echo");
    stream
        .write_all(&client_frame(0x01, b"half a mess"))
        .unwrap();
    stream.write_all(&client_frame(0x81, b"")[..3]).unwrap();
    drop(stream);
    let deadline = Instant::now() + LIVENESS;
    while server.shutdown.open_connections() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(server.shutdown.open_connections(), 0);
    let mut ws = echo_client(&server);
    ws.send_text("still fine").unwrap();
    assert_eq!(ws.read().unwrap(), Message::Text("still fine".into()));
}

#[test]
fn thread_limit_counts_broadcasters_and_refuses_politely() {
    let server = TestServer::with(
        Config {
            max_threads: 3,
            ..Config::default()
        },
        Options::default(),
    );
    // The first subscription takes two threads: its connection and the
    // channel's broadcaster.
    let mut first = connect(&ws_url(&server, "/channels/busy/ws")).unwrap();
    let channel = server.hub.channel("busy").unwrap();
    let deadline = Instant::now() + LIVENESS;
    while channel.waiters() < 1 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(2));
    }
    // A subscription to another channel gets its connection thread (the
    // third) but no broadcaster: 1011.
    let mut second = connect(&ws_url(&server, "/channels/other/ws")).unwrap();
    match second.read() {
        Ok(Message::Close(Some(frame))) => {
            assert_eq!(
                (frame.code, frame.reason.as_str()),
                (1011, "server busy, try again later")
            )
        }
        other => panic!("expected close 1011, got {other:?}"),
    }
    drop(second);
    // At the limit, a new connection is refused with 503 before any thread starts.
    let deadline = Instant::now() + LIVENESS;
    while server.shutdown.open_connections() > 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let (held, _kept_open) = exchange(&server, b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(held.status, 200, "the third thread");
    let (response, _) = exchange(&server, b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(response.status, 503);
    // The first subscription still works.
    channel.publish("message", "still here").unwrap();
    assert!(matches!(first.read().unwrap(), Message::Text(t) if t.contains("still here")));
}
