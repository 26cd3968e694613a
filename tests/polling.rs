//! Ajax polling (`GET /channels/{ch}/poll`) and publishing, as the contract
//! describes them, over real sockets.

#![cfg(feature = "polling")]

mod common;

use common::*;
use realtime_web::server::Config;
use realtime_web::showcase::Options;

fn poll(server: &TestServer, channel: &str, since: Option<u64>) -> (u16, String) {
    let query = since.map(|s| format!("?since={s}")).unwrap_or_default();
    get(&server.url(&format!("/channels/{channel}/poll{query}")))
}

#[test]
fn empty_channel() {
    let server = TestServer::start();
    assert_eq!(
        poll(&server, "fresh", None),
        (200, r#"{"messages":[],"next":0,"gap":false}"#.into())
    );
}

#[test]
fn poll_returns_what_was_published_after_the_cursor() {
    let server = TestServer::start();
    for text in ["one", "two", "three"] {
        post(&server.url("/channels/news/publish"), text.as_bytes());
    }
    post(
        &server.url("/channels/news/publish?event=alert"),
        "line\nbreak \"quoted\" ☃".as_bytes(),
    );
    let (status, body) = poll(&server, "news", None);
    assert_eq!(status, 200);
    assert_eq!(
        body,
        concat!(
            r#"{"messages":[{"id":1,"event":"message","data":"one"},"#,
            r#"{"id":2,"event":"message","data":"two"},"#,
            r#"{"id":3,"event":"message","data":"three"},"#,
            r#"{"id":4,"event":"alert","data":"line\nbreak \"quoted\" ☃"}],"next":4,"gap":false}"#
        )
    );
    let (_, body) = poll(&server, "news", Some(2));
    assert!(body.starts_with(r#"{"messages":[{"id":3,"#), "{body}");
    assert!(body.ends_with(r#""next":4,"gap":false}"#));
    assert_eq!(
        poll(&server, "news", Some(4)).1,
        r#"{"messages":[],"next":4,"gap":false}"#
    );
}

#[test]
fn poll_reply_headers() {
    let server = TestServer::start();
    let (response, _) = exchange(
        &server,
        b"GET /channels/h/poll HTTP/1.1\r\nHost: t\r\nOrigin: https://x.example\r\n\r\n",
    );
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.header("cache-control"), Some("no-store"));
    assert_eq!(response.header("access-control-allow-origin"), Some("*"));
}

#[test]
fn gap_after_the_window_moved_on() {
    let server = TestServer::with(
        Config::default(),
        Options {
            window: 4,
            ..Options::default()
        },
    );
    for i in 1..=10 {
        post(
            &server.url("/channels/g/publish"),
            format!("{i}").as_bytes(),
        );
    }
    let (_, body) = poll(&server, "g", Some(2));
    assert!(body.starts_with(r#"{"messages":[{"id":7,"#), "{body}");
    assert!(body.ends_with(r#""next":10,"gap":true}"#), "{body}");
    let (_, body) = poll(&server, "g", Some(6));
    assert!(body.ends_with(r#""next":10,"gap":false}"#), "{body}");
}

/// A cursor is the client's: the largest ones are ahead of any channel, so they
/// get the whole window with the gap (issue 11: `cursor + 1` overflowed).
#[test]
fn the_largest_cursors_get_the_window_and_a_gap() {
    let (server, _) = TestServer::with_evicted(4, "g");
    for since in ["18446744073709551615", "18446744073709551614"] {
        let (status, body) = get(&server.url(&format!("/channels/g/poll?since={since}")));
        assert_eq!(status, 200, "{since}: {body}");
        assert!(body.starts_with(r#"{"messages":[{"id":7,"#), "{body}");
        assert!(body.ends_with(r#""next":10,"gap":true}"#), "{body}");
    }
}

#[test]
fn a_client_polling_in_a_loop_misses_nothing() {
    let server = TestServer::start();
    let publisher = {
        let url = server.url("/channels/loop/publish");
        std::thread::spawn(move || {
            for i in 1..=300 {
                assert_eq!(post(&url, format!("{i}").as_bytes()).0, 200);
            }
        })
    };
    let mut cursor = 0;
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + LIVENESS * 3;
    while seen.len() < 300 && std::time::Instant::now() < deadline {
        let (_, body) = poll(&server, "loop", Some(cursor));
        for id in ids_in(&body) {
            seen.push(id);
        }
        cursor = next_in(&body);
        assert!(body.ends_with(r#""gap":false}"#));
    }
    publisher.join().unwrap();
    assert_eq!(seen, (1..=300).collect::<Vec<u64>>());
}

#[test]
fn bad_requests() {
    let server = TestServer::start();
    for (path, status) in [
        ("/channels/a.b/poll", 400),
        ("/channels/a%2Fb/poll", 400),
        (&format!("/channels/{}/poll", "x".repeat(65)), 400),
        ("/channels/ok/poll?since=-1", 400),
        ("/channels/ok/poll?since=abc", 400),
        ("/channels/ok/poll?since=", 400),
        ("/channels/ok/poll?since=18446744073709551616", 400),
    ] {
        let (got, body) = get(&server.url(path));
        assert_eq!(got, status, "{path}");
        assert!(body.starts_with(r#"{"error":"#), "{path}: {body}");
    }
    for (path, body, status) in [
        ("/channels/a.b/publish", &b"x"[..], 400),
        ("/channels/ok/publish?event=two%20words", b"x", 400),
        ("/channels/ok/publish?event=", b"x", 400),
        ("/channels/ok/publish", b"\xff\xfe", 400),
    ] {
        assert_eq!(post(&server.url(path), body).0, status, "{path}");
    }
    assert!(
        server.hub.find("ok").is_none(),
        "refused publishes create no channel"
    );
}

#[test]
fn message_size_limit() {
    let server = TestServer::start();
    let url = server.url("/channels/size/publish");
    assert_eq!(post(&url, &vec![b'a'; 65_536]), (200, r#"{"id":1}"#.into()));
    // Refused by the route's body limit before the body is read.
    let (status, body) = post(&url, &vec![b'a'; 65_537]);
    assert_eq!(status, 413);
    assert_eq!(body, r#"{"error":"request body too large"}"#);
    assert_eq!(
        post(&url, b""),
        (200, r#"{"id":2}"#.into()),
        "the empty text is a message"
    );
}

#[test]
fn two_hundred_concurrent_pollers() {
    let server = TestServer::start();
    post(&server.url("/channels/crowd/publish"), b"for everyone");
    let url = server.url("/channels/crowd/poll?since=0");
    let pollers: Vec<_> = (0..200)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || get(&url))
        })
        .collect();
    for poller in pollers {
        assert_eq!(
            poller.join().unwrap(),
            (200, r#"{"messages":[{"id":1,"event":"message","data":"for everyone"}],"next":1,"gap":false}"#.into())
        );
    }
}

#[test]
fn channel_limit() {
    let server = TestServer::start();
    let limit = server.hub.config().max_channels;
    // Reads alone cannot fill the table: a channel nobody holds and nobody
    // published to makes room for the next.
    for i in 0..limit + 10 {
        assert_eq!(get(&server.url(&format!("/channels/junk{i}/poll"))).0, 200);
    }
    // Channels with messages are kept, and at the limit a new one is refused.
    for i in 0..limit {
        server
            .hub
            .channel(&format!("c{i}"))
            .unwrap()
            .publish("message", "kept")
            .unwrap();
    }
    let (status, body) = get(&server.url("/channels/one-too-many/poll"));
    assert_eq!(
        (status, body.as_str()),
        (503, r#"{"error":"too many channels"}"#)
    );
    assert_eq!(
        get(&server.url("/channels/c0/poll")).0,
        200,
        "existing channels still work"
    );
}

/// The ids in a batch reply, read without a JSON parser: every `"id":N`.
fn ids_in(body: &str) -> Vec<u64> {
    body.split("\"id\":")
        .skip(1)
        .map(|rest| rest.split(',').next().unwrap().parse().unwrap())
        .collect()
}

fn next_in(body: &str) -> u64 {
    let rest = body.rsplit("\"next\":").next().unwrap();
    rest.split(',').next().unwrap().parse().unwrap()
}

#[test]
fn stats_count_requests_connections_and_bytes() {
    use std::io::{Read, Write};
    let server = TestServer::start();
    let request = b"GET /channels/s/poll?since=0 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    let mut stream = server.connect();
    stream.write_all(request).unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).unwrap();
    let (status, stats) = get(&server.url("/stats"));
    assert_eq!(status, 200);
    let expected = format!(
        r#""poll":{{"requests":1,"open":0,"connections":1,"bytes_read":{},"bytes_written":{}}}"#,
        request.len(),
        reply.len()
    );
    assert!(stats.contains(&expected), "{stats}\nexpected {expected}");
    // Every transport is listed from the start, at zero.
    assert!(stats.contains(r#""publish":{"requests":0,"#), "{stats}");
    // Two requests on one keep-alive connection: two requests, one connection.
    let mut stream = server.connect();
    stream.write_all(b"GET /channels/s/poll HTTP/1.1\r\nHost: t\r\n\r\nGET /channels/s/poll HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").unwrap();
    stream.read_to_end(&mut Vec::new()).unwrap();
    let (_, stats) = get(&server.url("/stats"));
    assert!(
        stats.contains(r#""poll":{"requests":3,"open":0,"connections":2,"#),
        "{stats}"
    );
}
