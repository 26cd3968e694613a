//! Helpers for the integration tests: a showcase server on `127.0.0.1:0`, and a
//! deliberately separate, minimal HTTP/1.1 response reader for raw sockets (the
//! tests must not trust the server's own parser to check the server).

#![allow(dead_code)]

#[cfg(feature = "websocket")]
pub mod browser;
#[cfg(feature = "websocket")]
pub mod fuzz;
#[cfg(feature = "websocket")]
pub mod ws;

use realtime_web::hub::Hub;
use realtime_web::server::{Config, Server, ShutdownHandle};
use realtime_web::showcase::{self, Options};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A generous bound for anything that should happen "at once".
pub const LIVENESS: Duration = Duration::from_secs(10);

/// The showcase router served on a free loopback port, shut down on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    pub hub: Arc<Hub>,
    pub shutdown: ShutdownHandle,
    thread: Option<JoinHandle<io::Result<realtime_web::server::Stopped>>>,
}

impl TestServer {
    pub fn start() -> TestServer {
        TestServer::with(Config::default(), Options::default())
    }

    /// A server whose channels retain only `window` messages, and the channel
    /// `name` in it with messages "1" to "10" published: retained 7 to 10, so
    /// a cursor below 6 meets a gap.
    pub fn with_evicted(
        window: usize,
        name: &str,
    ) -> (TestServer, Arc<realtime_web::hub::Channel>) {
        let server = TestServer::with(
            Config::default(),
            Options {
                window,
                ..Options::default()
            },
        );
        let channel = server.hub.channel(name).unwrap();
        for i in 1..=10 {
            channel.publish("message", &i.to_string()).unwrap();
        }
        (server, channel)
    }

    pub fn with_config(config: Config) -> TestServer {
        TestServer::with(config, Options::default())
    }

    pub fn with(config: Config, options: Options) -> TestServer {
        let server = Server::bind("127.0.0.1:0", config).expect("bind 127.0.0.1:0");
        let addr = server.local_addr();
        let hub = Arc::new(Hub::new(options.hub_config()));
        let closing = Arc::clone(&hub);
        server.on_shutdown(move || closing.close());
        let shutdown = server.shutdown_handle();
        let router = showcase::router(Arc::clone(&hub), &options);
        let thread = std::thread::spawn(move || server.serve(router));
        TestServer {
            addr,
            hub,
            shutdown,
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Connects a raw client with a read timeout.
    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr).expect("connect");
        stream.set_read_timeout(Some(LIVENESS)).unwrap();
        stream
    }

    /// Shuts down and waits for `serve` to return; returns how long that took.
    pub fn stop(mut self) -> Duration {
        let start = Instant::now();
        self.shutdown.shutdown();
        if let Some(thread) = self.thread.take() {
            thread.join().expect("serve thread").expect("serve result");
        }
        start.elapsed()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.shutdown();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A response as read off the wire.
#[derive(Debug)]
pub struct RawResponse {
    pub version: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn says_close(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// Reads one response. `head_only` for replies to HEAD (no body whatever the
/// headers say).
pub fn read_response_to(reader: &mut impl BufRead, head_only: bool) -> io::Result<RawResponse> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    let mut parts = line.trim_end_matches("\r\n").splitn(3, ' ');
    let version = parts.next().unwrap_or("").to_owned();
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("bad status line {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end_matches("\r\n");
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').expect("header line with a colon");
        headers.push((name.to_owned(), value.trim().to_owned()));
    }
    let mut response = RawResponse {
        version,
        status,
        headers,
        body: Vec::new(),
    };
    if head_only || status == 204 || status == 304 || (100..200).contains(&status) {
        return Ok(response);
    }
    if let Some(length) = response.header("content-length") {
        let mut body = vec![0; length.parse().expect("numeric content-length")];
        reader.read_exact(&mut body)?;
        response.body = body;
    } else if response
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let size = usize::from_str_radix(size.trim_end(), 16).expect("chunk size");
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
            response.body.extend_from_slice(&chunk[..size]);
        }
    } else {
        reader.read_to_end(&mut response.body)?;
    }
    Ok(response)
}

/// Sends `raw` on a new connection and reads one response.
pub fn exchange(server: &TestServer, raw: &[u8]) -> (RawResponse, BufReader<TcpStream>) {
    let mut stream = server.connect();
    stream.write_all(raw).unwrap();
    let mut reader = BufReader::new(stream);
    let response = read_response_to(&mut reader, false).expect("a response");
    (response, reader)
}

/// Whether the server closed the connection: the next read sees end of stream
/// (or a reset) within the liveness bound.
pub fn is_closed(reader: &mut BufReader<TcpStream>) -> bool {
    let mut byte = [0u8; 1];
    match reader.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ),
    }
}

/// An agent that reports 4xx and 5xx replies as replies.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(LIVENESS * 3))
        .build()
        .into()
}

/// `GET url`: (status, body).
pub fn get(url: &str) -> (u16, String) {
    let mut response = agent().get(url).call().expect("GET");
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_string().expect("body"))
}

/// `POST url` with `body`: (status, body).
pub fn post(url: &str, body: &[u8]) -> (u16, String) {
    let mut response = agent().post(url).send(body).expect("POST");
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_string().expect("body"))
}

/// A response body read while it streams: the head first, then one chunk of the
/// chunked coding at a time.
pub struct Streaming {
    pub head: RawResponse,
    reader: BufReader<TcpStream>,
    ended: bool,
}

impl Streaming {
    /// Sends `GET path` with `headers` on a new connection and reads the head.
    pub fn open(server: &TestServer, path: &str, headers: &[(&str, &str)]) -> Streaming {
        let mut stream = server.connect();
        let mut request = format!("GET {path} HTTP/1.1\r\nHost: t\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).unwrap();
        let mut reader = BufReader::new(stream);
        let head = read_response_to(&mut reader, true).expect("response head");
        Streaming {
            head,
            reader,
            ended: false,
        }
    }

    /// The next chunk's data; `None` after the last chunk (a cleanly ended body).
    pub fn next_chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        if self.ended {
            return Ok(None);
        }
        let mut size = String::new();
        if self.reader.read_line(&mut size)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let size = usize::from_str_radix(size.trim_end(), 16)
            .map_err(|_| io::Error::other(format!("bad chunk size {size:?}")))?;
        let mut data = vec![0; size + 2];
        self.reader.read_exact(&mut data)?;
        assert_eq!(&data[size..], b"\r\n", "chunk data ends with CRLF");
        data.truncate(size);
        if size == 0 {
            self.ended = true;
            return Ok(None);
        }
        Ok(Some(data))
    }

    /// Whether the server closed the connection after the body.
    pub fn is_closed(&mut self) -> bool {
        is_closed(&mut self.reader)
    }
}

/// One event as a browser's `EventSource` would dispatch it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub event: String,
    pub data: String,
    pub last_event_id: String,
}

/// An event-stream parser written to WHATWG HTML §9.2.6 "Interpreting an event
/// stream", independent of the server's writer.
#[derive(Debug, Default)]
pub struct SseParser {
    pending: Vec<u8>,
    last_was_cr: bool,
    started: bool,
    data: String,
    event_type: String,
    last_event_id: String,
    /// The reconnection time from the last valid `retry:` field.
    pub retry: Option<u64>,
    /// Every comment line seen, without its colon.
    pub comments: Vec<String>,
}

impl SseParser {
    /// Feeds bytes; returns the events dispatched by them.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        let mut events = Vec::new();
        for &b in bytes {
            // end-of-line = ( cr lf / cr / lf ); an LF right after a CR is part of it.
            if b == b'\n' && self.last_was_cr {
                self.last_was_cr = false;
                continue;
            }
            self.last_was_cr = b == b'\r';
            if b == b'\r' || b == b'\n' {
                let line = std::mem::take(&mut self.pending);
                let mut line = String::from_utf8(line).expect("the stream is UTF-8");
                if !self.started {
                    self.started = true;
                    if let Some(rest) = line.strip_prefix('\u{feff}') {
                        line = rest.to_owned();
                    }
                }
                if let Some(event) = self.line(&line) {
                    events.push(event);
                }
            } else {
                self.pending.push(b);
            }
        }
        events
    }

    fn line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            return self.dispatch();
        }
        if let Some(comment) = line.strip_prefix(':') {
            self.comments.push(comment.to_owned());
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => self.event_type = value.to_owned(),
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
            }
            "id" if !value.contains('\0') => self.last_event_id = value.to_owned(),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                self.retry = value.parse().ok();
            }
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event_type = std::mem::take(&mut self.event_type);
        if self.data.is_empty() {
            return None;
        }
        let mut data = std::mem::take(&mut self.data);
        if data.ends_with('\n') {
            data.pop();
        }
        Some(SseEvent {
            event: if event_type.is_empty() {
                "message".to_owned()
            } else {
                event_type
            },
            data,
            last_event_id: self.last_event_id.clone(),
        })
    }
}

/// (id, data) of every message in a batch reply, read without a JSON parser
/// (the data in these tests is plain digits or words).
pub fn ids_and_data(body: &str) -> Vec<(u64, String)> {
    body.split("{\"id\":")
        .skip(1)
        .map(|rest| {
            let id = rest.split(',').next().unwrap().parse().unwrap();
            let data = rest
                .split("\"data\":\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .to_owned();
            (id, data)
        })
        .collect()
}

/// Waits until `n` readers wait on `hub`'s channel `name` — long-polls and
/// broadcast subscribers (at most [`LIVENESS`]).
pub fn await_waiters(hub: &Hub, name: &str, n: usize) {
    let deadline = Instant::now() + LIVENESS;
    loop {
        let waiting = hub.find(name).map_or(0, |c| c.waiters());
        if waiting >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{waiting} of {n} readers on {name}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}
