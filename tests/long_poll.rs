//! Ajax long-polling and JSONP long polling, over real sockets.

#![cfg(feature = "long-polling")]

mod common;

use common::*;
use realtime_web::hub::Channel;
use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Sends a GET on a new connection without waiting for the reply.
fn send_get(server: &TestServer, path: &str) -> BufReader<TcpStream> {
    let mut stream = server.connect();
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
        .unwrap();
    BufReader::new(stream)
}

/// The channel, once a request has created it, and once `n` readers wait on it.
fn waiting(server: &TestServer, name: &str, n: usize) -> Arc<Channel> {
    let deadline = Instant::now() + LIVENESS;
    loop {
        if let Some(channel) = server.hub.find(name) {
            if channel.waiters() >= n {
                return channel;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{n} waiters never arrived on {name}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn a_waiting_request_is_answered_by_a_later_publish() {
    let server = TestServer::start();
    let started = Instant::now();
    let mut reader = send_get(&server, "/channels/w/long-poll?since=0&timeout=30000");
    waiting(&server, "w", 1);
    assert_eq!(post(&server.url("/channels/w/publish"), b"news").0, 200);
    let reply = read_response_to(&mut reader, false).unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert_eq!(
        reply.text(),
        r#"{"messages":[{"id":1,"event":"message","data":"news"}],"next":1,"gap":false}"#
    );
    assert!(started.elapsed() < LIVENESS);
}

#[test]
fn timeout_returns_an_empty_list() {
    let server = TestServer::start();
    let started = Instant::now();
    let (status, body) = get(&server.url("/channels/t/long-poll?since=0&timeout=300"));
    let took = started.elapsed();
    assert_eq!(
        (status, body.as_str()),
        (200, r#"{"messages":[],"next":0,"gap":false}"#)
    );
    assert!(
        took >= Duration::from_millis(300),
        "answered after {took:?}"
    );
    assert!(
        took < Duration::from_millis(300) + LIVENESS / 2,
        "answered after {took:?}"
    );
}

#[test]
fn a_message_published_before_the_request_is_answered_at_once() {
    let server = TestServer::start();
    post(&server.url("/channels/early/publish"), b"already here");
    let started = Instant::now();
    let (status, body) = get(&server.url("/channels/early/long-poll?since=0&timeout=60000"));
    assert_eq!(status, 200);
    assert!(body.contains(r#""data":"already here""#));
    assert!(
        started.elapsed() < LIVENESS,
        "it waited instead of answering"
    );
}

#[test]
fn a_client_long_polling_in_a_loop_misses_nothing() {
    const MESSAGES: u64 = 1000;
    let server = TestServer::start();
    let channel = server.hub.channel("loop").unwrap();
    let publisher = std::thread::spawn(move || {
        for i in 1..=MESSAGES {
            channel.publish("message", &i.to_string()).unwrap();
            if i % 7 == 0 {
                std::thread::yield_now(); // let the client get between messages
            }
        }
    });
    // One keep-alive connection, the classic loop: ask, handle, ask again with next.
    let mut stream = server.connect();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let (mut cursor, mut seen, mut rounds) = (0u64, Vec::new(), 0);
    let deadline = Instant::now() + LIVENESS * 3;
    while (seen.len() as u64) < MESSAGES && Instant::now() < deadline {
        let request = format!(
            "GET /channels/loop/long-poll?since={cursor}&timeout=5000 HTTP/1.1\r\nHost: t\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).unwrap();
        let body = read_response_to(&mut reader, false).unwrap().text();
        assert!(body.ends_with(r#""gap":false}"#), "{body}");
        for (id, data) in ids_and_data(&body) {
            assert_eq!(data, id.to_string());
            seen.push(id);
        }
        cursor = next_in(&body);
        rounds += 1;
    }
    publisher.join().unwrap();
    assert_eq!(
        seen,
        (1..=MESSAGES).collect::<Vec<_>>(),
        "after {rounds} rounds"
    );
}

#[test]
fn a_thousand_long_pollers_receive_the_same_publish() {
    const CLIENTS: usize = 1000;
    let server = TestServer::start();
    let mut readers: Vec<_> = (0..CLIENTS)
        .map(|_| send_get(&server, "/channels/crowd/long-poll?since=0&timeout=60000"))
        .collect();
    let channel = waiting(&server, "crowd", CLIENTS);
    let published = Instant::now();
    channel.publish("message", "to all").unwrap();
    for reader in &mut readers {
        let reply = read_response_to(reader, false).unwrap();
        assert_eq!(
            reply.text(),
            r#"{"messages":[{"id":1,"event":"message","data":"to all"}],"next":1,"gap":false}"#
        );
    }
    assert!(published.elapsed() < LIVENESS);
    assert_eq!(channel.waiters(), 0);
}

#[test]
fn a_gap_after_the_window_moved_on() {
    let (server, channel) = TestServer::with_evicted(4, "g");
    let (_, body) = get(&server.url("/channels/g/long-poll?since=2&timeout=60000"));
    assert!(body.starts_with(r#"{"messages":[{"id":7,"#), "{body}");
    assert!(body.ends_with(r#""next":10,"gap":true}"#), "{body}");
    // `next` continues without loss: the following round waits for #11.
    let mut reader = send_get(&server, "/channels/g/long-poll?since=10&timeout=60000");
    waiting(&server, "g", 1);
    channel.publish("message", "11").unwrap();
    let body = read_response_to(&mut reader, false).unwrap().text();
    assert!(body.starts_with(r#"{"messages":[{"id":11,"#), "{body}");
}

/// The largest cursors are ahead of the channel: answered at once with the
/// window and the gap, on long-poll and JSONP alike, never a 500.
#[test]
fn the_largest_cursors_get_the_window_and_a_gap() {
    let (server, _) = TestServer::with_evicted(4, "g");
    for since in ["18446744073709551615", "18446744073709551614"] {
        for (path, start) in [
            ("long-poll?timeout=60000&", r#"{"messages":[{"id":7,"#),
            (
                "jsonp?callback=cb&timeout=60000&",
                r#"cb({"messages":[{"id":7,"#,
            ),
        ] {
            let (status, body) = get(&server.url(&format!("/channels/g/{path}since={since}")));
            assert_eq!(status, 200, "{path}{since}: {body}");
            assert!(body.starts_with(start), "{body}");
            assert!(body.contains(r#""next":10,"gap":true}"#), "{body}");
        }
    }
}

#[test]
fn bad_parameters() {
    let server = TestServer::start();
    for path in [
        "/channels/b/long-poll?timeout=-1",
        "/channels/b/long-poll?timeout=soon",
        "/channels/b/long-poll?timeout=",
        "/channels/b/long-poll?since=-5",
        "/channels/b/long-poll?since=1e3",
        "/channels/b.c/long-poll",
        "/channels/b/jsonp?callback=cb&timeout=-1",
        "/channels/b/jsonp?callback=cb&since=x",
    ] {
        let (status, body) = get(&server.url(path));
        assert_eq!(status, 400, "{path}");
        assert!(body.starts_with(r#"{"error":"#), "{path}: {body}");
    }
    // A timeout over the maximum is lowered, not refused.
    post(&server.url("/channels/b/publish"), b"x");
    assert_eq!(
        get(&server.url("/channels/b/long-poll?timeout=99999999999")).0,
        200
    );
}

#[test]
fn jsonp_wraps_the_long_poll_body() {
    let server = TestServer::start();
    let mut reader = send_get(
        &server,
        "/channels/j/jsonp?since=0&callback=app.onBatch&timeout=30000",
    );
    waiting(&server, "j", 1);
    post(&server.url("/channels/j/publish"), b"hi");
    let reply = read_response_to(&mut reader, false).unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("application/javascript; charset=utf-8")
    );
    assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert_eq!(
        reply.text(),
        r#"app.onBatch({"messages":[{"id":1,"event":"message","data":"hi"}],"next":1,"gap":false});"#
    );
}

#[test]
fn jsonp_refuses_bad_callbacks_without_echoing_them() {
    let server = TestServer::start();
    for callback in [
        None,
        Some(""),
        Some("alert(document.cookie)"),
        Some("a%3Bb"),            // a;b
        Some("x%3C%2Fscript%3E"), // x</script>
        Some("1abc"),
        Some("a%20b"),
        Some("a%5B0%5D"),    // a[0]
        Some("cb%E2%80%A8"), // cb + U+2028
        Some(&*"a".repeat(65)),
    ] {
        let path = match callback {
            Some(c) => format!("/channels/j/jsonp?since=0&callback={c}"),
            None => "/channels/j/jsonp?since=0".to_owned(),
        };
        let (status, body) = get(&server.url(&path));
        assert_eq!(status, 400, "{callback:?}");
        assert!(body.starts_with(r#"{"error":"#));
        assert!(
            !body.contains("alert") && !body.contains("script") && !body.contains("aaaa"),
            "{body}"
        );
    }
    assert!(
        server.hub.find("j").is_none(),
        "refused before the channel was touched"
    );
}

#[test]
fn jsonp_data_cannot_break_out_of_the_script() {
    let server = TestServer::start();
    let nasty = "</script><script>alert(1)</script>\u{2028}\u{2029}<!--&";
    server
        .hub
        .channel("x")
        .unwrap()
        .publish("message", nasty)
        .unwrap();
    let (status, body) = get(&server.url("/channels/x/jsonp?since=0&callback=cb"));
    assert_eq!(status, 200);
    assert!(
        !body.contains('<') && !body.contains('>') && !body.contains('&'),
        "{body}"
    );
    assert!(!body.contains('\u{2028}') && !body.contains('\u{2029}'));
    assert!(body.contains(r#"\u003c/script\u003e\u003cscript\u003ealert(1)\u003c/script\u003e\u2028\u2029\u003c!--\u0026"#), "{body}");
    // Long-poll JSON (not embedded in a script) still escapes the separators.
    let (_, body) = get(&server.url("/channels/x/long-poll?since=0"));
    assert!(body.contains(r#"\u2028\u2029"#) && !body.contains('\u{2028}'));
}

#[test]
fn shutdown_answers_every_waiting_request_and_closes() {
    let server = TestServer::start();
    let mut readers: Vec<_> = (0..5)
        .map(|i| {
            let path = if i % 2 == 0 {
                "/channels/s/long-poll?since=0&timeout=60000"
            } else {
                "/channels/s/jsonp?since=0&timeout=60000&callback=cb"
            };
            send_get(&server, path)
        })
        .collect();
    waiting(&server, "s", 5);
    let took = server.stop();
    assert!(took < LIVENESS, "serve took {took:?}");
    for (i, reader) in readers.iter_mut().enumerate() {
        let reply = read_response_to(reader, false).unwrap();
        assert_eq!(reply.status, 200);
        assert!(reply.says_close());
        let expected = r#"{"messages":[],"next":0,"gap":false}"#;
        if i % 2 == 0 {
            assert_eq!(reply.text(), expected);
        } else {
            assert_eq!(reply.text(), format!("cb({expected});"));
        }
        assert!(is_closed(reader));
    }
}

#[test]
fn a_client_that_leaves_while_waiting_costs_only_its_thread_until_the_deadline() {
    let server = TestServer::start();
    let reader = send_get(&server, "/channels/gone/long-poll?since=0&timeout=400");
    let other = send_get(&server, "/channels/gone/long-poll?since=0&timeout=60000");
    waiting(&server, "gone", 2);
    drop(reader); // the client closes its socket while the server waits
    let deadline = Instant::now() + LIVENESS;
    while server.shutdown.open_connections() > 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        server.shutdown.open_connections(),
        1,
        "the abandoned long-poll's thread ended"
    );
    // The write to the vanished client failed quietly; everyone else is served.
    post(&server.url("/channels/gone/publish"), b"still here");
    let mut other = other;
    assert!(read_response_to(&mut other, false)
        .unwrap()
        .text()
        .contains("still here"));
}

fn next_in(body: &str) -> u64 {
    let rest = body.rsplit("\"next\":").next().unwrap();
    rest.split(',').next().unwrap().parse().unwrap()
}
