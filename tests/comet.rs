//! XHR streaming (`/stream`) and the forever frame (`/iframe`), over real
//! sockets: both must carry exactly what `poll` returns.

#![cfg(feature = "comet")]

mod common;

use common::*;
use realtime_web::server::Config;
use realtime_web::showcase::Options;
use realtime_web::transport::StreamConfig;
use std::time::{Duration, Instant};

/// Reads ndjson lines off a stream, one at a time.
struct Lines {
    stream: Streaming,
    pending: String,
}

impl Lines {
    fn open(server: &TestServer, path: &str) -> Lines {
        let stream = Streaming::open(server, path, &[]);
        assert_eq!(stream.head.status, 200, "{path}");
        Lines {
            stream,
            pending: String::new(),
        }
    }

    fn next_line(&mut self) -> String {
        loop {
            if let Some(end) = self.pending.find('\n') {
                let line = self.pending[..end].to_owned();
                self.pending.drain(..=end);
                return line;
            }
            let chunk = self.stream.next_chunk().unwrap().expect("the stream ended");
            self.pending.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// The next line that is not a heartbeat (or prelude).
    fn next_message(&mut self) -> String {
        loop {
            let line = self.next_line();
            if !line.trim().is_empty() {
                return line;
            }
        }
    }
}

/// Reads the forever frame's scripts off a stream.
struct Frame {
    stream: Streaming,
    pending: String,
    opening: String,
}

const POST_START: &str = "<script>parent.postMessage(";
const POST_END: &str = ",\"*\")</script>\n";

impl Frame {
    fn open(server: &TestServer, path: &str) -> Frame {
        let mut stream = Streaming::open(server, path, &[]);
        assert_eq!(stream.head.status, 200, "{path}");
        let opening = String::from_utf8(stream.next_chunk().unwrap().unwrap()).unwrap();
        Frame {
            stream,
            pending: String::new(),
            opening,
        }
    }

    /// The next piece: a posted payload, or a comment (heartbeat).
    fn next_piece(&mut self) -> Piece {
        loop {
            if let Some(end) = self.pending.find('\n') {
                let piece: String = self.pending.drain(..=end).collect();
                if piece == "<!-- ping -->\n" {
                    return Piece::Ping;
                }
                if piece == "</body></html>\n" {
                    return Piece::End;
                }
                let payload = piece
                    .strip_prefix(POST_START)
                    .and_then(|p| p.strip_suffix(POST_END))
                    .unwrap_or_else(|| panic!("not a post script: {piece:?}"));
                return Piece::Post(payload.to_owned());
            }
            let chunk = self.stream.next_chunk().unwrap().expect("the stream ended");
            self.pending.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    fn next_post(&mut self) -> String {
        loop {
            if let Piece::Post(payload) = self.next_piece() {
                return payload;
            }
        }
    }
}

#[derive(Debug, PartialEq)]
enum Piece {
    Post(String),
    Ping,
    End,
}

/// The HTML-safe JSON of the frame, back to plain JSON.
fn unescape_html_safe(json: &str) -> String {
    json.replace("\\u003c", "<")
        .replace("\\u003e", ">")
        .replace("\\u0026", "&")
}

const TEXTS: [&str; 6] = [
    "plain",
    "",
    "quote \" and backslash \\ and tab \t",
    "line\nbreaks\r\nand\rreturns",
    "</script><script>alert(1)</script><!-- & -->",
    "separators \u{2028} \u{2029} and ☃",
];

#[test]
fn stream_and_frame_carry_exactly_what_poll_returns() {
    let server = TestServer::start();
    let channel = server.hub.channel("same").unwrap();
    for (i, text) in TEXTS.iter().enumerate() {
        let event = if i % 2 == 0 { "message" } else { "update" };
        channel.publish(event, text).unwrap();
    }
    let mut lines = Lines::open(&server, "/channels/same/stream?since=0");
    let mut frame = Frame::open(&server, "/channels/same/iframe?since=0");
    let streamed: Vec<String> = (0..TEXTS.len()).map(|_| lines.next_message()).collect();
    let posted: Vec<String> = (0..TEXTS.len()).map(|_| frame.next_post()).collect();

    let (_, polled) = get(&server.url("/channels/same/poll?since=0"));
    assert_eq!(
        polled,
        format!(
            r#"{{"messages":[{}],"next":6,"gap":false}}"#,
            streamed.join(",")
        )
    );
    for (post, line) in posted.iter().zip(&streamed) {
        assert_eq!(&unescape_html_safe(post), line);
    }
}

#[test]
fn stream_headers_and_new_messages_only() {
    let server = TestServer::start();
    let channel = server.hub.channel("s").unwrap();
    channel.publish("message", "before").unwrap();
    let mut lines = Lines::open(&server, "/channels/s/stream");
    let head = &lines.stream.head;
    assert_eq!(head.header("content-type"), Some("application/x-ndjson"));
    assert_eq!(head.header("transfer-encoding"), Some("chunked"));
    assert_eq!(head.header("cache-control"), Some("no-cache"));
    assert_eq!(head.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(head.header("x-accel-buffering"), Some("no"));
    channel.publish("message", "after").unwrap();
    assert_eq!(
        lines.next_message(),
        r#"{"id":2,"event":"message","data":"after"}"#
    );
}

#[test]
fn frame_opening_is_a_padded_document() {
    let server = TestServer::start();
    let frame = Frame::open(&server, "/channels/f/iframe");
    let head = &frame.stream.head;
    assert_eq!(
        head.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(head.header("x-content-type-options"), Some("nosniff"));
    assert!(frame
        .opening
        .starts_with("<!doctype html><html><head><meta charset=\"utf-8\">"));
    assert!(
        frame.opening.len() > 1024,
        "padded past 1 KiB: {}",
        frame.opening.len()
    );
    assert!(frame.opening.ends_with("-->\n"));
}

#[test]
fn frame_data_cannot_break_out_of_its_script() {
    let server = TestServer::start();
    let channel = server.hub.channel("x").unwrap();
    let mut frame = Frame::open(&server, "/channels/x/iframe");
    for text in TEXTS {
        channel.publish("message", text).unwrap();
    }
    for _ in TEXTS {
        // next_post checks that each piece is exactly one whole post script.
        let payload = frame.next_post();
        for forbidden in ['<', '>', '&', '\u{2028}', '\u{2029}'] {
            assert!(!payload.contains(forbidden), "{forbidden:?} in {payload}");
        }
    }
}

#[test]
fn gap_comes_first_on_both() {
    let (server, _) = TestServer::with_evicted(4, "g");
    let mut lines = Lines::open(&server, "/channels/g/stream?since=2");
    assert_eq!(lines.next_message(), r#"{"gap":true,"oldest":7}"#);
    assert!(lines.next_message().starts_with(r#"{"id":7,"#));
    let mut frame = Frame::open(&server, "/channels/g/iframe?since=2");
    assert_eq!(frame.next_post(), r#"{"gap":true,"oldest":7}"#);
    assert!(frame.next_post().starts_with(r#"{"id":7,"#));
    // Without a gap, the replay is plain.
    let mut lines = Lines::open(&server, "/channels/g/stream?since=8");
    assert!(lines.next_message().starts_with(r#"{"id":9,"#));
}

/// The largest cursors are ahead of the channel: both streams open with the
/// gap and the window, and keep streaming what comes next.
#[test]
fn the_largest_cursors_get_the_window_and_a_gap() {
    let (server, channel) = TestServer::with_evicted(4, "g");
    let mut opened = Vec::new();
    for since in ["18446744073709551615", "18446744073709551614"] {
        let mut lines = Lines::open(&server, &format!("/channels/g/stream?since={since}"));
        let mut frame = Frame::open(&server, &format!("/channels/g/iframe?since={since}"));
        assert_eq!(lines.next_message(), r#"{"gap":true,"oldest":7}"#);
        assert_eq!(frame.next_post(), r#"{"gap":true,"oldest":7}"#);
        for id in 7..=10 {
            let prefix = format!("{{\"id\":{id},");
            assert!(lines.next_message().starts_with(&prefix));
            assert!(frame.next_post().starts_with(&prefix));
        }
        opened.push((lines, frame));
    }
    channel.publish("message", "news").unwrap();
    for (lines, frame) in &mut opened {
        assert!(lines.next_message().starts_with(r#"{"id":11,"#));
        assert!(frame.next_post().starts_with(r#"{"id":11,"#));
    }
}

#[test]
fn heartbeats_when_idle() {
    let server = TestServer::with(
        Config::default(),
        Options {
            stream: StreamConfig {
                heartbeat: Duration::from_millis(100),
                ..StreamConfig::default()
            },
            ..Options::default()
        },
    );
    let started = Instant::now();
    let mut lines = Lines::open(&server, "/channels/h/stream");
    assert_eq!(lines.next_line(), "", "an empty line");
    let mut frame = Frame::open(&server, "/channels/h/iframe");
    assert_eq!(frame.next_piece(), Piece::Ping);
    assert!(started.elapsed() < LIVENESS);
}

#[test]
fn prelude_on_request() {
    let server = TestServer::start();
    let mut stream = Streaming::open(&server, "/channels/p/stream?prelude=1", &[]);
    let prelude = stream.next_chunk().unwrap().unwrap();
    assert_eq!(prelude.len(), 2049);
    assert!(prelude[..2048].iter().all(|&b| b == b' '));
    assert_eq!(prelude[2048], b'\n');
}

#[test]
fn shutdown_ends_both_cleanly() {
    let server = TestServer::start();
    let mut lines = Lines::open(&server, "/channels/end/stream");
    let mut frame = Frame::open(&server, "/channels/end/iframe");
    let waiting = Instant::now() + LIVENESS;
    while server.hub.find("end").map_or(0, |c| c.waiters()) < 2 {
        assert!(Instant::now() < waiting);
        std::thread::sleep(Duration::from_millis(2));
    }
    server
        .hub
        .find("end")
        .unwrap()
        .publish("message", "bye")
        .unwrap();
    assert!(lines.next_message().contains("bye"));
    assert!(frame.next_post().contains("bye"));
    assert!(server.stop() < LIVENESS);
    assert_eq!(frame.next_piece(), Piece::End, "the document is closed");
    assert_eq!(
        frame.stream.next_chunk().unwrap(),
        None,
        "then the chunked body"
    );
    assert!(frame.stream.is_closed());
    assert_eq!(lines.stream.next_chunk().unwrap(), None);
    assert!(lines.stream.is_closed());
}

#[test]
fn bad_parameters() {
    let server = TestServer::start();
    for path in [
        "/channels/b/stream?since=x",
        "/channels/b/iframe?since=-1",
        "/channels/b.c/stream",
        "/channels/b.c/iframe",
    ] {
        let (status, body) = get(&server.url(path));
        assert_eq!(status, 400, "{path}");
        assert!(body.starts_with(r#"{"error":"#));
    }
    assert!(
        server.hub.find("b").is_none(),
        "refused before the channel was created"
    );
}
