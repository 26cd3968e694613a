//! Server-Sent Events (`GET /channels/{ch}/sse`), read with a parser written to
//! the WHATWG rules, over real sockets.

#![cfg(feature = "sse")]

mod common;

use common::*;
use realtime_web::hub::Channel;
use realtime_web::server::Config;
use realtime_web::showcase::Options;
use realtime_web::transport::StreamConfig;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An SSE subscription: the stream and a parser over it.
struct Subscriber {
    stream: Streaming,
    parser: SseParser,
    queue: std::collections::VecDeque<SseEvent>,
}

impl Subscriber {
    fn open(server: &TestServer, path: &str, headers: &[(&str, &str)]) -> Subscriber {
        let stream = Streaming::open(server, path, headers);
        assert_eq!(stream.head.status, 200);
        let mut subscriber = Subscriber {
            stream,
            parser: SseParser::default(),
            queue: Default::default(),
        };
        // The stream opens with retry: before any event.
        while subscriber.parser.retry.is_none() {
            subscriber.read_more().expect("the opening");
        }
        subscriber
    }

    /// Reads one more chunk; `false` when the body ended.
    fn read_more(&mut self) -> Option<()> {
        let chunk = self.stream.next_chunk().expect("a chunk")?;
        let events = self.parser.feed(&chunk);
        self.queue.extend(events);
        Some(())
    }

    fn next_event(&mut self) -> SseEvent {
        loop {
            if let Some(event) = self.queue.pop_front() {
                return event;
            }
            self.read_more().expect("the stream ended before the event");
        }
    }
}

fn channel_of(server: &TestServer, name: &str) -> Arc<Channel> {
    server.hub.channel(name).unwrap()
}

fn with_stream(stream: StreamConfig, window: usize) -> TestServer {
    TestServer::with(
        Config::default(),
        Options {
            stream,
            window,
            ..Options::default()
        },
    )
}

#[test]
fn headers_retry_and_events() {
    let server = TestServer::start();
    let mut subscriber = Subscriber::open(
        &server,
        "/channels/e/sse",
        &[("Origin", "https://x.example")],
    );
    let head = &subscriber.stream.head;
    assert_eq!(head.header("content-type"), Some("text/event-stream"));
    assert_eq!(head.header("cache-control"), Some("no-cache"));
    assert_eq!(head.header("x-accel-buffering"), Some("no"));
    assert_eq!(head.header("access-control-allow-origin"), Some("*"));
    assert_eq!(subscriber.parser.retry, Some(2000));

    let channel = channel_of(&server, "e");
    channel.publish("message", "plain").unwrap();
    channel.publish("alert", "one\r\ntwo\rthree\nfour").unwrap();
    channel.publish("message", "").unwrap();
    channel.publish("message", "trailing\n").unwrap();
    channel
        .publish("message", "data: not a field\nid: 999")
        .unwrap();
    let expected = [
        ("message", "plain", "1"),
        ("alert", "one\ntwo\nthree\nfour", "2"),
        ("message", "", "3"),
        ("message", "trailing\n", "4"),
        ("message", "data: not a field\nid: 999", "5"),
    ];
    for (event, data, id) in expected {
        let got = subscriber.next_event();
        assert_eq!(
            (
                got.event.as_str(),
                got.data.as_str(),
                got.last_event_id.as_str()
            ),
            (event, data, id)
        );
    }
}

#[test]
fn starts_with_new_messages_only() {
    let server = TestServer::start();
    let channel = channel_of(&server, "new");
    channel.publish("message", "old").unwrap();
    let mut subscriber = Subscriber::open(&server, "/channels/new/sse", &[]);
    channel.publish("message", "fresh").unwrap();
    assert_eq!(subscriber.next_event().data, "fresh");
}

#[test]
fn resumes_after_last_event_id_header_or_query() {
    let server = TestServer::start();
    let channel = channel_of(&server, "r");
    for i in 1..=5 {
        channel.publish("message", &i.to_string()).unwrap();
    }
    let mut by_header = Subscriber::open(&server, "/channels/r/sse", &[("Last-Event-ID", "3")]);
    assert_eq!(by_header.next_event().data, "4");
    assert_eq!(by_header.next_event().data, "5");
    let mut by_query = Subscriber::open(&server, "/channels/r/sse?lastEventId=2", &[]);
    for expected in ["3", "4", "5"] {
        assert_eq!(by_query.next_event().data, expected);
    }
    // A foreign id does not fail the stream: it starts with new messages.
    let mut foreign = Subscriber::open(&server, "/channels/r/sse", &[("Last-Event-ID", "abc-123")]);
    channel.publish("message", "6").unwrap();
    assert_eq!(foreign.next_event().data, "6");
    assert_eq!(by_header.next_event().data, "6");
}

#[test]
fn gap_event_before_the_replay() {
    let server = with_stream(StreamConfig::default(), 4);
    let channel = channel_of(&server, "g");
    for i in 1..=10 {
        channel.publish("message", &i.to_string()).unwrap();
    }
    let mut subscriber = Subscriber::open(&server, "/channels/g/sse", &[("Last-Event-ID", "2")]);
    let gap = subscriber.next_event();
    assert_eq!(
        (gap.event.as_str(), gap.data.as_str()),
        ("gap", r#"{"oldest":7}"#)
    );
    for expected in 7..=10 {
        let event = subscriber.next_event();
        assert_eq!(event.data, expected.to_string());
        assert_eq!(event.last_event_id, expected.to_string());
    }
}

/// The largest ids a client can claim are ahead of the channel: the gap event,
/// then the window, from the header and the query alike.
#[test]
fn the_largest_last_event_ids_get_the_gap_and_the_window() {
    let server = with_stream(StreamConfig::default(), 4);
    let channel = channel_of(&server, "g");
    for i in 1..=10 {
        channel.publish("message", &i.to_string()).unwrap();
    }
    for id in ["18446744073709551615", "18446744073709551614"] {
        let by_header = Subscriber::open(&server, "/channels/g/sse", &[("Last-Event-ID", id)]);
        let by_query = Subscriber::open(&server, &format!("/channels/g/sse?lastEventId={id}"), &[]);
        for mut subscriber in [by_header, by_query] {
            let gap = subscriber.next_event();
            assert_eq!(
                (gap.event.as_str(), gap.data.as_str()),
                ("gap", r#"{"oldest":7}"#)
            );
            for expected in 7..=10 {
                assert_eq!(subscriber.next_event().data, expected.to_string());
            }
        }
    }
}

#[test]
fn heartbeat_comment_when_idle() {
    let server = with_stream(
        StreamConfig {
            heartbeat: Duration::from_millis(100),
            ..StreamConfig::default()
        },
        1024,
    );
    let mut subscriber = Subscriber::open(&server, "/channels/h/sse", &[]);
    let deadline = Instant::now() + LIVENESS;
    while !subscriber.parser.comments.iter().any(|c| c == " ping") {
        assert!(Instant::now() < deadline, "no heartbeat");
        subscriber.read_more().unwrap();
    }
    assert!(
        subscriber.queue.is_empty(),
        "a heartbeat dispatches no event"
    );
}

#[test]
fn five_hundred_subscribers_receive_every_message_in_order() {
    const SUBSCRIBERS: usize = 500;
    const MESSAGES: u64 = 100;
    let server = TestServer::start();
    let channel = channel_of(&server, "fan");
    let subscribers: Vec<_> = (0..SUBSCRIBERS)
        .map(|_| Subscriber::open(&server, "/channels/fan/sse", &[]))
        .collect();
    let readers: Vec<_> = subscribers
        .into_iter()
        .map(|mut subscriber| {
            std::thread::spawn(move || {
                (1..=MESSAGES)
                    .map(|_| {
                        let event = subscriber.next_event();
                        assert_eq!(event.data, event.last_event_id, "data is the id");
                        event.last_event_id.parse::<u64>().unwrap()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for i in 1..=MESSAGES {
        channel.publish("message", &i.to_string()).unwrap();
        if i % 10 == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    for reader in readers {
        assert_eq!(reader.join().unwrap(), (1..=MESSAGES).collect::<Vec<_>>());
    }
}

#[test]
fn a_subscriber_that_stops_reading_is_dropped_while_another_keeps_receiving() {
    let server = TestServer::with(
        Config {
            write_timeout: Duration::from_millis(300),
            ..Config::default()
        },
        Options::default(),
    );
    let channel = channel_of(&server, "slow");
    let stuck = Subscriber::open(&server, "/channels/slow/sse", &[]);
    let mut reading = Subscriber::open(&server, "/channels/slow/sse", &[]);
    assert_eq!(server.shutdown.open_connections(), 2);
    let big = "x".repeat(16 * 1024);
    let reader = std::thread::spawn(move || {
        let mut ids = Vec::new();
        while ids.len() < 300 {
            let event = reading.next_event();
            assert_ne!(event.event, "gap", "the reading subscriber kept up");
            ids.push(event.last_event_id.parse::<u64>().unwrap());
        }
        ids
    });
    // About 5 MB: far more than the stuck client's socket buffers hold.
    for _ in 0..300 {
        channel.publish("message", &big).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(reader.join().unwrap(), (1..=300).collect::<Vec<_>>());
    let deadline = Instant::now() + LIVENESS;
    while server.shutdown.open_connections() > 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        server.shutdown.open_connections(),
        1,
        "the stuck subscriber was dropped"
    );
    drop(stuck);
}

#[test]
fn shutdown_ends_the_stream_cleanly() {
    let server = TestServer::start();
    let mut subscriber = Subscriber::open(&server, "/channels/end/sse", &[]);
    channel_of(&server, "end")
        .publish("message", "last")
        .unwrap();
    assert_eq!(subscriber.next_event().data, "last");
    let took = server.stop();
    assert!(took < LIVENESS);
    while subscriber.read_more().is_some() {}
    assert!(
        subscriber.stream.is_closed(),
        "closed after the final chunk"
    );
}

#[test]
fn bad_channel_is_refused() {
    let server = TestServer::start();
    let (status, body) = get(&server.url("/channels/no.dots/sse"));
    assert_eq!(status, 400);
    assert!(body.starts_with(r#"{"error":"#));
}

#[test]
fn stats_count_an_open_stream_and_its_bytes() {
    let server = TestServer::start();
    let mut subscriber = Subscriber::open(&server, "/channels/st/sse", &[]);
    channel_of(&server, "st")
        .publish("message", "counted")
        .unwrap();
    assert_eq!(subscriber.next_event().data, "counted");
    let (_, stats) = get(&server.url("/stats"));
    let sse = stats
        .split(r#""sse":"#)
        .nth(1)
        .unwrap()
        .split('}')
        .next()
        .unwrap()
        .to_owned();
    assert!(
        sse.starts_with(r#"{"requests":1,"open":1,"connections":1,"bytes_read":"#),
        "{sse}"
    );
    let written: u64 = sse.rsplit(':').next().unwrap().parse().unwrap();
    assert!(written > 100, "head, retry and one event: {sse}");
    drop(subscriber);
}
