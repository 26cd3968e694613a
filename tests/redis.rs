//! Several nodes sharing their channels through a real Redis (feature
//! `redis`): one id sequence per channel whichever node publishes, every
//! subscriber of every node fed, cursors that resume on any node, and each
//! failure of Redis as a client sees it.
//!
//! Each test starts its own `redis-server` (Debian's package; `.ci/run`
//! installs it) on a free loopback port, with its data in a temporary
//! directory, and stops it by its pid. Without `redis-server` a test says so
//! and passes, except under CI (`CI` set), where it fails.

#![cfg(all(
    feature = "redis",
    feature = "polling",
    feature = "long-polling",
    feature = "sse",
    feature = "comet",
    feature = "websocket"
))]

mod common;

use common::{await_waiters, get, ids_and_data, post, SseParser, Streaming, TestServer, LIVENESS};
use realtime_web::codec::resp::Reply;
use realtime_web::redis::{Connection, Url};
use realtime_web::server::Config;
use realtime_web::showcase::Options;
use realtime_web::transport::websocket::{self, Message};
use realtime_web::transport::StreamConfig;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` of the test's own.
struct Redis {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Redis {
    /// Starts one, or says why not: `None` outside CI without the program.
    fn start(name: &str) -> Option<Redis> {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("rtw-redis-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Redis::start_at(port, dir)
    }

    fn start_at(port: u16, dir: PathBuf) -> Option<Redis> {
        let spawned = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(error) => {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "redis-server is needed under CI: {error}"
                );
                eprintln!("skipped: no redis-server ({error}); `apt-get install redis-server`");
                return None;
            }
        };
        let redis = Redis { child, port, dir };
        let deadline = Instant::now() + LIVENESS;
        while redis.connect().is_err() {
            assert!(Instant::now() < deadline, "redis-server did not answer");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(redis)
    }

    fn url(&self) -> Url {
        Url::parse(&format!("redis://127.0.0.1:{}", self.port)).unwrap()
    }

    fn connect(&self) -> std::io::Result<Connection> {
        Connection::open(&self.url(), LIVENESS)
    }

    /// Stops it (its data is gone: it keeps none on disk), and returns how to
    /// start another on the same port.
    fn stop(mut self) -> (u16, PathBuf) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        (self.port, std::mem::take(&mut self.dir))
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A node: the showcase over a hub shared through `redis`.
fn node(redis: &[&Redis]) -> TestServer {
    TestServer::with(
        Config::default(),
        Options {
            redis: redis.iter().map(|r| r.url()).collect(),
            stream: StreamConfig {
                heartbeat: Duration::from_millis(300),
                ..StreamConfig::default()
            },
            ..Options::default()
        },
    )
}

fn publish(node: &TestServer, channel: &str, text: &str) -> (u16, String) {
    post(
        &node.url(&format!("/channels/{channel}/publish")),
        text.as_bytes(),
    )
}

/// The ids and texts a poll on `node` after `since` returns.
fn poll(node: &TestServer, channel: &str, since: u64) -> (Vec<(u64, String)>, bool) {
    let (status, body) = get(&node.url(&format!("/channels/{channel}/poll?since={since}")));
    assert_eq!(status, 200, "{body}");
    (ids_and_data(&body), body.contains("\"gap\":true"))
}

/// Waits until a poll on `node` holds `count` messages after `since`.
fn until_polled(node: &TestServer, channel: &str, since: u64, count: usize) -> Vec<(u64, String)> {
    let deadline = Instant::now() + LIVENESS;
    loop {
        let (messages, _) = poll(node, channel, since);
        if messages.len() >= count {
            return messages;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {count}: {messages:?}",
            messages.len()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The next events of an SSE stream, until `count` arrived.
fn sse_events(
    stream: &mut Streaming,
    parser: &mut SseParser,
    count: usize,
) -> Vec<(String, String)> {
    let mut events = Vec::new();
    while events.len() < count {
        let chunk = stream.next_chunk().unwrap().expect("the stream goes on");
        for event in parser.feed(&chunk) {
            events.push((event.last_event_id, event.data));
        }
    }
    events
}

#[test]
fn two_nodes_share_one_id_sequence_and_every_transport_delivers() {
    let Some(redis) = Redis::start("share") else {
        return;
    };
    let (a, b) = (node(&[&redis]), node(&[&redis]));
    // Subscribers on both nodes before anything is published.
    let mut sse = Streaming::open(&b, "/channels/shared/sse", &[]);
    let mut stream = Streaming::open(&a, "/channels/shared/stream", &[]);
    let mut iframe = Streaming::open(&b, "/channels/shared/iframe", &[]);
    let mut ws = websocket::connect(&format!("ws://{}/channels/shared/ws", b.addr)).unwrap();
    await_waiters(&a.hub, "shared", 1);
    await_waiters(&b.hub, "shared", 3);
    for i in 1..=20 {
        let on = if i % 2 == 0 { &a } else { &b };
        let (status, body) = publish(on, "shared", &format!("m{i}"));
        assert_eq!(
            (status, body),
            (200, format!("{{\"id\":{i}}}")),
            "one sequence"
        );
    }
    let expected: Vec<(u64, String)> = (1..=20).map(|i| (i, format!("m{i}"))).collect();
    assert_eq!(until_polled(&a, "shared", 0, 20), expected);
    assert_eq!(until_polled(&b, "shared", 0, 20), expected);
    // Long-poll and JSONP on either node, after a cursor.
    let (_, body) = get(&b.url("/channels/shared/long-poll?since=18"));
    assert!(
        body.contains("\"id\":19") && body.contains("\"id\":20") && !body.contains("\"id\":18")
    );
    let (_, body) = get(&a.url("/channels/shared/jsonp?since=19&callback=cb"));
    assert!(
        body.starts_with("cb(") && body.contains("\"data\":\"m20\""),
        "{body}"
    );
    // The streams: every message once, in order.
    let events = sse_events(&mut sse, &mut SseParser::default(), 20);
    let ids: Vec<String> = events.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(ids, (1..=20).map(|i| i.to_string()).collect::<Vec<_>>());
    let mut lines = String::new();
    while lines.lines().filter(|l| !l.is_empty()).count() < 20 {
        let chunk = stream.next_chunk().unwrap().expect("the stream goes on");
        lines.push_str(&String::from_utf8_lossy(&chunk));
    }
    for (i, line) in lines.lines().filter(|l| !l.is_empty()).enumerate() {
        assert!(line.starts_with(&format!("{{\"id\":{},", i + 1)), "{line}");
    }
    let mut frame = String::new();
    while !frame.contains("m20") {
        let chunk = iframe.next_chunk().unwrap().expect("the frame goes on");
        frame.push_str(&String::from_utf8_lossy(&chunk));
    }
    let positions: Vec<usize> = (1..=20)
        .map(|i| {
            frame
                .find(&format!("{{\"id\":{i},"))
                .expect("every message")
        })
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "in order");
    for i in 1..=20 {
        let Message::Text(text) = ws.read().unwrap() else {
            panic!("a text frame");
        };
        assert!(text.starts_with(&format!("{{\"id\":{i},")), "{text}");
    }
    // A WebSocket subscriber's own message takes the next id, on every node.
    ws.send_text("from ws").unwrap();
    assert_eq!(
        until_polled(&a, "shared", 20, 1),
        [(21, "from ws".to_owned())]
    );
    // The TCP line protocol on node A, resuming after 19.
    #[cfg(feature = "tcp")]
    {
        use realtime_web::server::Server;
        use realtime_web::transport::{access::Access, tcp};
        use std::io::{BufRead, BufReader, Write};
        let server = Server::bind("127.0.0.1:0", Config::default()).unwrap();
        let (addr, stop) = (server.local_addr(), server.shutdown_handle());
        let handler = tcp::handler(
            a.hub.clone(),
            Vec::new(),
            StreamConfig::default(),
            Access::open(),
        );
        let serving = std::thread::spawn(move || server.serve_raw(handler));
        let mut line_client = std::net::TcpStream::connect(addr).unwrap();
        line_client.set_read_timeout(Some(LIVENESS)).unwrap();
        line_client.write_all(b"SUB shared 19\n").unwrap();
        let mut lines = BufReader::new(line_client).lines();
        for id in [20, 21] {
            let line = lines.next().unwrap().unwrap();
            assert!(line.starts_with(&format!("{{\"id\":{id},")), "{line}");
        }
        stop.shutdown();
        serving.join().unwrap().unwrap();
    }
}

#[test]
fn a_cursor_from_one_node_resumes_on_another_with_the_gap_rule() {
    let Some(redis) = Redis::start("resume") else {
        return;
    };
    let (a, b) = (node(&[&redis]), node(&[&redis]));
    for i in 1..=5 {
        publish(&a, "r", &format!("{i}"));
    }
    let (seen, _) = poll(&a, "r", 0);
    let cursor = seen.last().unwrap().0;
    for i in 6..=8 {
        publish(&a, "r", &format!("{i}"));
    }
    let resumed = until_polled(&b, "r", cursor, 3);
    assert_eq!(resumed.iter().map(|m| m.0).collect::<Vec<_>>(), [6, 7, 8]);
    // SSE on B resumes after A's Last-Event-ID.
    let mut sse = Streaming::open(&b, "/channels/r/sse", &[("Last-Event-ID", "6")]);
    let events = sse_events(&mut sse, &mut SseParser::default(), 2);
    assert_eq!(events, [("7".into(), "7".into()), ("8".into(), "8".into())]);
    // A cursor ahead of the channel gets the whole window and the gap.
    let (window, gap) = poll(&b, "r", 100);
    assert!(gap);
    assert_eq!(window.len(), 8);
}

#[test]
fn messages_published_while_a_node_reconnects_arrive_once() {
    let Some(redis) = Redis::start("reconnect") else {
        return;
    };
    let (a, b) = (node(&[&redis]), node(&[&redis]));
    publish(&a, "k", "before");
    let mut sse = Streaming::open(&a, "/channels/k/sse", &[("Last-Event-ID", "1")]);
    await_waiters(&a.hub, "k", 1);
    // Every client connection of Redis is cut: both nodes reconnect, and B
    // publishes while A's reader is away.
    let mut admin = redis.connect().unwrap();
    let killed = admin.call(&[b"CLIENT", b"KILL", b"TYPE", b"normal", b"SKIPME", b"yes"]);
    assert!(
        matches!(killed, Ok(Reply::Integer(n)) if n >= 2),
        "{killed:?}"
    );
    let deadline = Instant::now() + LIVENESS;
    let mut published = 0;
    while published < 5 {
        assert!(Instant::now() < deadline, "publishing never came back");
        if publish(&b, "k", &format!("during {published}")).0 == 200 {
            published += 1;
        }
    }
    let events = sse_events(&mut sse, &mut SseParser::default(), 5);
    let ids: Vec<&str> = events.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["2", "3", "4", "5", "6"], "each once, in order");
    assert_eq!(until_polled(&a, "k", 0, 6).len(), 6);
}

#[test]
fn redis_lost_then_restarted_empty() {
    let Some(redis) = Redis::start("lost") else {
        return;
    };
    let (a, b) = (node(&[&redis]), node(&[&redis]));
    for i in 1..=3 {
        publish(&a, "l", &format!("old {i}"));
    }
    let mut sse = Streaming::open(&b, "/channels/l/sse", &[("Last-Event-ID", "3")]);
    let mut parser = SseParser::default();
    await_waiters(&b.hub, "l", 1);
    let (port, dir) = redis.stop();
    // Publishing answers 503; the open stream stays, with its heartbeats.
    let (status, body) = publish(&a, "l", "lost");
    assert_eq!(
        (status, body.as_str()),
        (503, r#"{"error":"channel store unavailable"}"#)
    );
    let mut heartbeats = 0;
    while heartbeats < 2 {
        let chunk = sse.next_chunk().unwrap().expect("the stream stays open");
        assert!(
            parser.feed(&chunk).is_empty(),
            "no event while Redis is away"
        );
        heartbeats += usize::from(chunk.starts_with(b": ping"));
    }
    // A long-poll times out as usual.
    let (status, body) = get(&b.url("/channels/l/long-poll?since=3&timeout=50"));
    assert_eq!(status, 200);
    assert!(body.contains("\"messages\":[]"), "{body}");
    // Redis comes back empty: ids start again at 1, and a client whose cursor
    // is ahead gets the whole (new) window with the gap.
    let _redis = Redis::start_at(port, dir).expect("started before");
    let deadline = Instant::now() + LIVENESS;
    let id = loop {
        assert!(Instant::now() < deadline, "publishing never came back");
        let (status, body) = publish(&a, "l", "new 1");
        if status == 200 {
            break body;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(id, r#"{"id":1}"#);
    let mut events = Vec::new();
    while events.len() < 2 {
        let chunk = sse.next_chunk().unwrap().expect("the stream goes on");
        events.extend(parser.feed(&chunk));
    }
    assert_eq!(
        (events[0].event.as_str(), events[0].data.as_str()),
        ("gap", r#"{"oldest":1}"#)
    );
    assert_eq!(
        (events[1].last_event_id.as_str(), events[1].data.as_str()),
        ("1", "new 1")
    );
    let deadline = Instant::now() + LIVENESS;
    loop {
        let (window, gap) = poll(&b, "l", 3);
        if window == [(1, "new 1".to_owned())] {
            assert!(gap, "cursor 3 is ahead of the new run");
            break;
        }
        assert!(Instant::now() < deadline, "{window:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn several_redis_servers_share_the_channels_out_by_name() {
    let (Some(one), Some(two)) = (Redis::start("spread-1"), Redis::start("spread-2")) else {
        return;
    };
    let (a, b) = (node(&[&one, &two]), node(&[&one, &two]));
    let channels: Vec<String> = (0..12).map(|i| format!("c{i}")).collect();
    for round in 1..=3 {
        for channel in &channels {
            let on = if round % 2 == 0 { &a } else { &b };
            let (status, body) = publish(on, channel, "x");
            assert_eq!(
                (status, body),
                (200, format!("{{\"id\":{round}}}")),
                "{channel}"
            );
        }
    }
    let holds = |redis: &Redis| {
        let mut connection = redis.connect().unwrap();
        channels
            .iter()
            .filter(|c| {
                let key = format!("rtw:{{{c}}}:seq");
                connection.call(&[b"GET", key.as_bytes()]).unwrap()
                    == Reply::Bulk(Some(b"3".to_vec()))
            })
            .count()
    };
    let (on_one, on_two) = (holds(&one), holds(&two));
    assert_eq!(
        on_one + on_two,
        channels.len(),
        "each channel on exactly one server"
    );
    assert!(on_one > 0 && on_two > 0, "{on_one} and {on_two}");
}

#[test]
fn the_binary_says_when_redis_is_unreachable_and_exits_1() {
    let port = free_port(); // nothing listens there
    let output = Command::new(env!("CARGO_BIN_EXE_realtime-web"))
        .args([
            "--addr",
            "127.0.0.1:0",
            "--redis",
            &format!("redis://127.0.0.1:{port}"),
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
}

#[test]
fn the_binary_says_once_when_redis_is_lost_and_once_when_it_is_back() {
    use std::io::{BufRead, BufReader};
    let Some(redis) = Redis::start("words") else {
        return;
    };
    let mut binary = Command::new(env!("CARGO_BIN_EXE_realtime-web"))
        .args(["--addr", "127.0.0.1:0", "--redis"])
        .arg(format!("redis://127.0.0.1:{}", redis.port))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // stderr, a line at a time, on a thread: a read never blocks the test.
    let (lines, said) = std::sync::mpsc::channel();
    let stderr = binary.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    std::thread::sleep(Duration::from_millis(200)); // its reader is connected
    let (port, dir) = redis.stop();
    let lost = said.recv_timeout(LIVENESS).expect("a word about the loss");
    assert_eq!(
        lost,
        format!("realtime-web: lost Redis at 127.0.0.1:{port}; reconnecting")
    );
    // Backing off, it says nothing more while Redis stays away.
    let more = said.recv_timeout(Duration::from_millis(700));
    assert!(more.is_err(), "{more:?}");
    let _redis = Redis::start_at(port, dir).expect("started before");
    let back = said
        .recv_timeout(LIVENESS)
        .expect("a word about the return");
    assert_eq!(
        back,
        format!("realtime-web: Redis at 127.0.0.1:{port} is back")
    );
    let _ = binary.kill();
    let _ = binary.wait();
}

#[test]
fn concurrent_publishers_on_both_nodes_leave_no_hole_and_no_duplicate() {
    let Some(redis) = Redis::start("concurrent") else {
        return;
    };
    let (a, b) = (node(&[&redis]), node(&[&redis]));
    let mut sse = Streaming::open(&a, "/channels/busy/sse", &[]);
    await_waiters(&a.hub, "busy", 1);
    // Four threads on each node publish at once, from Rust.
    std::thread::scope(|scope| {
        for (n, node) in [&a, &b].into_iter().enumerate() {
            for t in 0..4 {
                let channel = node.hub.channel("busy").unwrap();
                scope.spawn(move || {
                    for i in 0..25 {
                        channel.publish("message", &format!("{n}-{t}-{i}")).unwrap();
                    }
                });
            }
        }
    });
    for node in [&a, &b] {
        let got = until_polled(node, "busy", 0, 200);
        let ids: Vec<u64> = got.iter().map(|m| m.0).collect();
        assert_eq!(ids, (1..=200).collect::<Vec<_>>(), "no hole, no duplicate");
        let mut texts: Vec<&String> = got.iter().map(|m| &m.1).collect();
        texts.sort();
        texts.dedup();
        assert_eq!(texts.len(), 200, "every message once");
    }
    let events = sse_events(&mut sse, &mut SseParser::default(), 200);
    let ids: Vec<String> = events.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(ids, (1..=200).map(|i| i.to_string()).collect::<Vec<_>>());
}
