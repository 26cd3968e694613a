//! The plain TCP line protocol and the policy answer, over real sockets.

#![cfg(all(feature = "tcp", feature = "polling"))]

mod common;

use common::*;
use realtime_web::server::{Config, Server, ShutdownHandle};
use realtime_web::showcase::Options;
use realtime_web::transport::{tcp, StreamConfig};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// The showcase over HTTP and the line protocol on a second port, one hub.
struct Both {
    http: TestServer,
    tcp: SocketAddr,
    tcp_stop: ShutdownHandle,
}

impl Drop for Both {
    fn drop(&mut self) {
        self.tcp_stop.shutdown();
    }
}

fn start(window: usize) -> Both {
    start_with(window, Config::default())
}

/// [`start`] with `config` for the line protocol's server.
fn start_with(window: usize, config: Config) -> Both {
    let http = TestServer::with(
        Config::default(),
        Options {
            window,
            ..Options::default()
        },
    );
    let server = Server::bind("127.0.0.1:0", config).unwrap();
    let tcp = server.local_addr();
    let tcp_stop = server.shutdown_handle();
    let stream = StreamConfig {
        heartbeat: Duration::from_millis(200),
        ..StreamConfig::default()
    };
    let handler = tcp::handler(
        std::sync::Arc::clone(&http.hub),
        Vec::new(),
        stream,
        realtime_web::transport::access::Access::open(),
    );
    std::thread::spawn(move || server.serve_raw(handler));
    Both {
        http,
        tcp,
        tcp_stop,
    }
}

fn client(both: &Both, first: &str) -> BufReader<TcpStream> {
    let mut stream = TcpStream::connect(both.tcp).unwrap();
    stream.set_read_timeout(Some(LIVENESS)).unwrap();
    stream.write_all(first.as_bytes()).unwrap();
    BufReader::new(stream)
}

/// The next line that is not a heartbeat.
fn next_line(reader: &mut BufReader<TcpStream>) -> String {
    loop {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "the connection closed"
        );
        if line != "\n" {
            return line.trim_end().to_owned();
        }
    }
}

fn waiting(both: &Both, channel: &str, n: usize) {
    let deadline = Instant::now() + LIVENESS;
    while both.http.hub.find(channel).map_or(0, |c| c.waiters()) < n {
        assert!(Instant::now() < deadline, "no subscriber on {channel}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn policy_request_gets_the_policy_and_a_close() {
    let both = start(1024);
    let mut reader = client(&both, "<policy-file-request/>\0");
    let mut answer = Vec::new();
    reader.read_to_end(&mut answer).unwrap();
    let answer = String::from_utf8(answer).unwrap();
    assert!(answer.starts_with("<?xml version=\"1.0\"?>"));
    assert!(answer.contains(&format!(
        "<allow-access-from domain=\"*\" to-ports=\"{}\"/>",
        both.tcp.port()
    )));
    assert!(answer.ends_with("</cross-domain-policy>\n\0"));
}

#[test]
fn subscribe_and_receive_messages_published_over_http() {
    let both = start(1024);
    let mut reader = client(&both, "SUB news\n");
    waiting(&both, "news", 1);
    post(
        &both.http.url("/channels/news/publish?event=alert"),
        b"hello over HTTP",
    );
    assert_eq!(
        next_line(&mut reader),
        r#"{"id":1,"event":"alert","data":"hello over HTTP"}"#
    );
}

#[test]
fn publish_over_tcp_and_read_with_poll() {
    let both = start(1024);
    let mut reader = client(&both, "SUB room\r\n");
    waiting(&both, "room", 1);
    reader
        .get_mut()
        .write_all(b"PUB hello from nc\nPUB second\n")
        .unwrap();
    assert_eq!(
        next_line(&mut reader),
        r#"{"id":1,"event":"message","data":"hello from nc"}"#
    );
    assert_eq!(
        next_line(&mut reader),
        r#"{"id":2,"event":"message","data":"second"}"#
    );
    let (_, body) = get(&both.http.url("/channels/room/poll"));
    assert!(
        body.contains(r#""data":"hello from nc""#) && body.contains(r#""next":2"#),
        "{body}"
    );
    reader.get_mut().write_all(b"HELLO\n").unwrap();
    assert_eq!(next_line(&mut reader), "ERR unknown command");
}

#[test]
fn resume_with_since_and_gap() {
    let both = start(4);
    let channel = both.http.hub.channel("r").unwrap();
    for i in 1..=10 {
        channel.publish("message", &i.to_string()).unwrap();
    }
    let mut resumed = client(&both, "SUB r 8\n");
    assert!(next_line(&mut resumed).starts_with(r#"{"id":9,"#));
    assert!(next_line(&mut resumed).starts_with(r#"{"id":10,"#));
    let mut gap = client(&both, "SUB r 2\n");
    assert_eq!(next_line(&mut gap), r#"{"gap":true,"oldest":7}"#);
    assert!(next_line(&mut gap).starts_with(r#"{"id":7,"#));
}

/// `SUB ch ID` with the largest ids: the gap, the window, and news after it.
#[test]
fn the_largest_ids_get_the_gap_then_the_window() {
    let both = start(4);
    let channel = both.http.hub.channel("r").unwrap();
    for i in 1..=10 {
        channel.publish("message", &i.to_string()).unwrap();
    }
    for id in ["18446744073709551615", "18446744073709551614"] {
        let mut reader = client(&both, &format!("SUB r {id}\n"));
        assert_eq!(next_line(&mut reader), r#"{"gap":true,"oldest":7}"#);
        for expected in 7..=10 {
            assert!(next_line(&mut reader).starts_with(&format!("{{\"id\":{expected},")));
        }
    }
}

/// At the thread limit no broadcaster can start for a new channel: the
/// subscriber is told so in a line, and closed; the first one still works.
#[test]
fn a_subscription_without_a_broadcaster_is_refused_with_a_line() {
    // Three threads: the first subscriber's connection and its channel's
    // broadcaster, then the second subscriber's connection.
    let both = start_with(
        1024,
        Config {
            max_threads: 3,
            ..Config::default()
        },
    );
    let mut first = client(&both, "SUB one\n");
    waiting(&both, "one", 1);
    let mut second = client(&both, "SUB two\n");
    assert_eq!(next_line(&mut second), "ERR server busy, try again later");
    assert!(is_closed(&mut second));
    both.http
        .hub
        .channel("one")
        .unwrap()
        .publish("message", "still here")
        .unwrap();
    assert!(next_line(&mut first).contains("still here"));
}

#[test]
fn bad_first_lines_and_overlong_lines_are_refused_and_closed() {
    let both = start(1024);
    for first in ["HELLO\n", "SUB a.b\n", "SUB news x\n", "sub news\n"] {
        let mut reader = client(&both, first);
        let line = next_line(&mut reader);
        assert!(line.starts_with("ERR "), "{first:?}: {line}");
        assert!(is_closed(&mut reader), "{first:?}");
    }
    let mut reader = client(&both, "SUB news\n");
    waiting(&both, "news", 1);
    let _ = reader.get_mut().write_all(&vec![b'x'; tcp::MAX_LINE + 10]);
    assert_eq!(next_line(&mut reader), "ERR line too long");
    assert!(is_closed(&mut reader));
}

#[test]
fn a_vanished_client_leaves_no_thread() {
    let both = start(1024);
    let reader = client(&both, "SUB gone\n");
    waiting(&both, "gone", 1);
    assert_eq!(both.tcp_stop.threads(), 2, "a reader and a pump");
    drop(reader);
    // The pump's next heartbeat finds the socket gone.
    let deadline = Instant::now() + LIVENESS;
    while both.tcp_stop.threads() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(both.tcp_stop.threads(), 0);
}

#[test]
fn shutdown_closes_subscribers() {
    let both = start(1024);
    let mut reader = client(&both, "SUB end\n");
    waiting(&both, "end", 1);
    both.http.hub.close();
    let mut rest = String::new();
    let _ = reader.read_to_string(&mut rest);
    assert!(rest.trim().is_empty(), "{rest:?}");
}
