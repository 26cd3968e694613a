//! Embedding the crate as a new user would, over real sockets: the channel
//! endpoints mounted beside one's own routes, an access rule, read-only
//! subscribers, peer addresses, JSON messages on every transport, and a
//! shutdown that needs no hook.

#![cfg(all(
    feature = "polling",
    feature = "long-polling",
    feature = "sse",
    feature = "comet",
    feature = "websocket"
))]

mod common;

use common::ws::{client_frame, handshake_request, raw_session_at, read_close_code};
use common::{
    await_waiters, read_response_to, RawResponse, SseParser, Streaming, TestServer, LIVENESS,
};
use realtime_web::transport::websocket::{self, Message, WsConfig};
use realtime_web::{
    Asking, Config, Cors, Endpoints, Hub, HubConfig, Request, Response, Router, Server, Stopped,
    Transport,
};
use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A router served on a free loopback port, with no shutdown hook of the
/// test's own: whatever closes the hub is the router's.
struct Running {
    addr: SocketAddr,
    stop: realtime_web::ShutdownHandle,
    serving: JoinHandle<std::io::Result<Stopped>>,
}

fn serve(router: Router, config: Config) -> Running {
    let server = Server::bind("127.0.0.1:0", config).unwrap();
    let (addr, stop) = (server.local_addr(), server.shutdown_handle());
    let serving = std::thread::spawn(move || server.serve(router));
    Running {
        addr,
        stop,
        serving,
    }
}

impl Running {
    fn request(&self, raw: &str) -> RawResponse {
        let mut stream = TcpStream::connect(self.addr).unwrap();
        stream.set_read_timeout(Some(LIVENESS)).unwrap();
        stream.write_all(raw.as_bytes()).unwrap();
        read_response_to(&mut BufReader::new(stream), false).unwrap()
    }

    fn get(&self, target: &str, headers: &str) -> RawResponse {
        self.request(&format!(
            "GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{headers}\r\n"
        ))
    }

    fn shut_down(self) -> Stopped {
        self.stop.shutdown();
        self.serving.join().unwrap().unwrap()
    }
}

fn token_rule(asking: &Asking<'_>) -> Result<(), Response> {
    let request = asking
        .request
        .expect("HTTP transports ask with their request");
    let query = request.query("token");
    let bearer = request.header("authorization");
    if query.as_deref() == Some("secret") || bearer == Some("Bearer secret") {
        Ok(())
    } else {
        Err(Response::error(401, "a token is required"))
    }
}

#[test]
fn every_transport_refuses_without_the_token_with_cors_and_a_reason_phrase() {
    let hub = Arc::new(Hub::new(HubConfig::default()));
    let running = serve(
        Endpoints::new(Arc::clone(&hub)).access(token_rule).router(),
        Config::default(),
    );
    let origin = "Origin: http://page.example\r\n";
    for transport in Transport::ALL {
        let path = format!("/channels/c/{}", transport.name());
        let extra = match transport {
            Transport::WebSocket => handshake_request(&path, origin),
            _ => format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{origin}\r\n"),
        };
        let refused = running.request(&extra);
        assert_eq!(refused.status, 401, "{path}");
        assert_eq!(
            refused.header("access-control-allow-origin"),
            Some("*"),
            "{path}"
        );
        assert_eq!(
            refused.text(),
            r#"{"error":"a token is required"}"#,
            "{path}"
        );
    }
    // The status line has its reason phrase.
    let mut raw = TcpStream::connect(running.addr).unwrap();
    raw.set_read_timeout(Some(LIVENESS)).unwrap();
    raw.write_all(b"GET /channels/c/poll HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    raw.read_to_string(&mut reply).unwrap();
    assert!(
        reply.starts_with("HTTP/1.1 401 Unauthorized\r\n"),
        "{reply}"
    );
    // With the token, in the query or the header, the transports answer.
    assert_eq!(running.get("/channels/c/poll?token=secret", "").status, 200);
    let bearer = running.get("/channels/c/poll", "Authorization: Bearer secret\r\n");
    assert_eq!(bearer.status, 200);
    // A page may send the header cross-origin: the preflight allows it.
    let preflight = running.request(
        "OPTIONS /channels/c/poll HTTP/1.1\r\nHost: t\r\nConnection: close\r\nOrigin: http://page.example\r\nAccess-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: authorization\r\n\r\n",
    );
    let allowed = preflight.header("access-control-allow-headers").unwrap();
    assert!(allowed.contains("Authorization"), "{allowed}");
    // Nothing publishes over HTTP unless asked.
    let publish = running.request(
        "POST /channels/c/publish?token=secret HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi",
    );
    assert!(matches!(publish.status, 404 | 405), "{}", publish.status);
    assert_eq!(hub.channel("c").unwrap().last_id(), 0);
    assert_eq!(
        running.shut_down(),
        Stopped {
            cut: 0,
            threads_left: 0
        }
    );
}

#[test]
fn read_only_websocket_subscribers_are_closed_with_1008_and_others_publish() {
    let hub = Arc::new(Hub::new(HubConfig::default()));
    let running = serve(Endpoints::new(Arc::clone(&hub)).router(), Config::default());
    let mut session = raw_session_at(running.addr, "/channels/c/ws");
    session.write_all(&client_frame(0x81, b"may I?")).unwrap();
    assert_eq!(read_close_code(&mut session), Some(1008));
    assert_eq!(hub.channel("c").unwrap().last_id(), 0, "nothing published");
    running.shut_down();

    let hub = Arc::new(Hub::new(HubConfig::default()));
    let endpoints = Endpoints::new(Arc::clone(&hub)).subscribers_publish(true);
    let running = serve(endpoints.router(), Config::default());
    let mut session = raw_session_at(running.addr, "/channels/c/ws");
    session.write_all(&client_frame(0x81, b"hello")).unwrap();
    let channel = hub.channel("c").unwrap();
    let batch = channel.wait_after(0, Instant::now() + LIVENESS);
    assert_eq!(&*batch.messages[0].data, "hello");
    drop(session);
    running.shut_down();
}

#[test]
fn the_peer_address_is_on_the_request_and_the_websocket() {
    let router = Router::new()
        .get("/whoami", |request: Request| {
            Response::text(request.peer_addr().map_or("none".into(), |a| a.to_string()))
        })
        .get("/whoami-ws", |request: Request| {
            websocket::accept(
                &request,
                &Cors::allow_any(),
                &WsConfig::default(),
                |ws, _| {
                    let peer = ws.peer_addr().map_or("none".into(), |a| a.to_string());
                    let _ = ws.send_text(&peer);
                },
            )
        });
    let running = serve(router, Config::default());
    let mut stream = TcpStream::connect(running.addr).unwrap();
    stream.set_read_timeout(Some(LIVENESS)).unwrap();
    let me = stream.local_addr().unwrap();
    stream
        .write_all(b"GET /whoami HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let reply = read_response_to(&mut BufReader::new(stream), false).unwrap();
    assert_eq!(reply.text(), me.to_string());

    let url = format!("ws://{}/whoami-ws", running.addr);
    let mut ws = websocket::connect(&url).unwrap();
    let me = ws.socket().local_addr().unwrap();
    assert_eq!(ws.read().unwrap(), Message::Text(me.to_string()));
    running.shut_down();
}

/// Reads a streamed body until it holds `text`.
fn stream_until(stream: &mut Streaming, text: &str) -> String {
    let mut seen = String::new();
    while !seen.contains(text) {
        let chunk = stream.next_chunk().unwrap().expect("the stream goes on");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    seen
}

#[test]
fn json_messages_are_values_on_every_transport() {
    let server = TestServer::start();
    let channel = server.hub.channel("j").unwrap();
    channel
        .publish_json("reading", "{\"celsius\": 20.1,\n \"ok\": true}")
        .unwrap();
    let value = r#""data":{"celsius": 20.1,  "ok": true}"#;
    for transport in ["poll", "long-poll", "jsonp"] {
        let target = format!("/channels/j/{transport}?since=0&callback=cb");
        let (status, body) = common::get(&server.url(&target));
        assert_eq!(status, 200, "{transport}");
        assert!(body.contains(value), "{transport}: {body}");
    }
    for transport in ["stream", "iframe"] {
        let mut stream = Streaming::open(&server, &format!("/channels/j/{transport}?since=0"), &[]);
        stream_until(&mut stream, value);
    }
    // SSE carries the JSON text itself, or with ?envelope=1 the message JSON.
    let mut sse = Streaming::open(&server, "/channels/j/sse", &[("Last-Event-ID", "0")]);
    let mut parser = SseParser::default();
    let text = stream_until(&mut sse, "\n\n");
    let event = parser.feed(text.as_bytes()).pop().unwrap_or_else(|| {
        let more = stream_until(&mut sse, "ok");
        parser.feed(more.as_bytes()).pop().expect("an event")
    });
    assert_eq!(event.data, "{\"celsius\": 20.1,\n \"ok\": true}");
    let mut enveloped = Streaming::open(&server, "/channels/j/sse?envelope=1&lastEventId=0", &[]);
    let text = stream_until(&mut enveloped, value);
    assert!(
        text.contains(&format!(
            "data: {{\"id\":1,\"event\":\"reading\",{value}}}\n"
        )),
        "{text}"
    );
    // WebSocket: the message JSON in a text frame.
    let url = format!("ws://{}/channels/j/ws?since=0", server.addr);
    let mut ws = websocket::connect(&url).unwrap();
    match ws.read().unwrap() {
        Message::Text(text) => assert!(text.contains(value), "{text}"),
        other => panic!("{other:?}"),
    }
    // Over HTTP: JSON when the body says so, and checked.
    let publish = |body: &str| {
        let raw = format!(
            "POST /channels/j/publish HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let mut stream = server.connect();
        stream.write_all(raw.as_bytes()).unwrap();
        read_response_to(&mut BufReader::new(stream), false).unwrap()
    };
    assert_eq!(publish("[1, 2, 3]").status, 200);
    let refused = publish("{not json}");
    assert_eq!(refused.status, 400);
    assert_eq!(refused.text(), r#"{"error":"message is not JSON"}"#);
    let (_, body) = common::get(&server.url("/channels/j/poll?since=1"));
    assert!(body.contains(r#""data":[1, 2, 3]"#), "{body}");
    assert_eq!(channel.last_id(), 2, "the refused body was not published");
}

/// `GET /cmd`: a custom WebSocket that only reads until the session ends.
fn custom_session(request: Request) -> Response {
    websocket::accept(
        &request,
        &Cors::allow_any(),
        &WsConfig::default(),
        |mut ws, _| {
            while let Ok(Message::Text(text)) = ws.read() {
                let _ = ws.send_text(&text);
            }
        },
    )
}

#[test]
fn shutdown_ends_every_transport_and_every_thread_without_a_hook() {
    // Nothing open: serve returns, with nothing cut.
    let hub = Arc::new(Hub::new(HubConfig::default()));
    let running = serve(Endpoints::new(hub).router(), Config::default());
    assert_eq!(
        running.shut_down(),
        Stopped {
            cut: 0,
            threads_left: 0
        }
    );

    // One client held on each transport. The deadline is a second: a
    // connection still open then is cut and counted.
    let hub = Arc::new(Hub::new(HubConfig::default()));
    let router = Router::new()
        .get("/cmd", custom_session)
        .merge(Endpoints::new(Arc::clone(&hub)).router());
    let config = Config {
        shutdown_timeout: Duration::from_secs(1),
        ..Config::default()
    };
    let running = serve(router, config);
    let open = |path: &str| {
        let mut stream = TcpStream::connect(running.addr).unwrap();
        stream.set_read_timeout(Some(LIVENESS)).unwrap();
        stream
            .write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
            .unwrap();
        stream
    };
    let held: Vec<TcpStream> = ["long-poll", "jsonp", "stream", "iframe", "sse"]
        .iter()
        .map(|t| open(&format!("/channels/c/{t}?since=0&callback=cb")))
        .collect();
    let mut subscriber = raw_session_at(running.addr, "/channels/c/ws");
    let mut custom = raw_session_at(running.addr, "/cmd");
    await_waiters(&hub, "c", 6);
    let stopped = running.shut_down();
    assert_eq!(
        stopped,
        Stopped {
            cut: 0,
            threads_left: 0
        }
    );
    assert_eq!(read_close_code(&mut subscriber), Some(1001));
    assert_eq!(read_close_code(&mut custom), Some(1001));
    for mut stream in held {
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).unwrap();
        assert!(reply.starts_with(b"HTTP/1.1 200 OK\r\n"));
    }
}

#[test]
fn the_endpoints_nest_under_a_prefix_beside_the_programs_routes() {
    let hub = Arc::new(Hub::new(HubConfig::default()));
    let endpoints = Endpoints::new(Arc::clone(&hub)).transports(&[Transport::Poll]);
    let router = Router::new()
        .get("/api", |_: Request| Response::text("mine"))
        .nest("/live", endpoints.router());
    let running = serve(router, Config::default());
    assert_eq!(running.get("/api", "").text(), "mine");
    hub.channel("c").unwrap().publish("message", "hi").unwrap();
    let polled = running.get("/live/channels/c/poll?since=0", "");
    assert_eq!(polled.status, 200);
    assert!(polled.text().contains(r#""data":"hi""#));
    assert_eq!(running.get("/channels/c/poll", "").status, 404);
    assert_eq!(
        running.get("/live/channels/c/sse", "").status,
        404,
        "not chosen"
    );
    running.shut_down();
}

#[cfg(feature = "tcp")]
#[test]
fn the_line_protocol_asks_the_same_policy() {
    use realtime_web::transport::{tcp, StreamConfig};
    use realtime_web::Access;
    use std::io::BufRead;
    let hub = Arc::new(Hub::new(HubConfig::default()));
    let access = Access::read_only().rule(|asking| match asking.channel {
        "secret" => Err(Response::error(403, "no")),
        _ => {
            assert!(asking.request.is_none() && asking.peer.is_some());
            Ok(())
        }
    });
    let server = Server::bind("127.0.0.1:0", Config::default()).unwrap();
    let (addr, stop) = (server.local_addr(), server.shutdown_handle());
    let handler = tcp::handler(
        Arc::clone(&hub),
        Vec::new(),
        StreamConfig::default(),
        access,
    );
    let serving = std::thread::spawn(move || server.serve_raw(handler));
    let line = |send: &str| {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(LIVENESS)).unwrap();
        stream.write_all(send.as_bytes()).unwrap();
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line).unwrap();
        line
    };
    assert_eq!(line("SUB secret\n"), "ERR not allowed\n");
    // A JSON message is a value on this transport too.
    let json = hub.channel("j").unwrap();
    json.publish_json("reading", r#"{"celsius":20.1}"#).unwrap();
    assert_eq!(
        line("SUB j 0\n"),
        "{\"id\":1,\"event\":\"reading\",\"data\":{\"celsius\":20.1}}\n"
    );
    assert_eq!(
        line("SUB open\nPUB hi\n"),
        "ERR publishing is not allowed\n"
    );
    assert_eq!(hub.channel("open").unwrap().last_id(), 0);
    stop.shutdown();
    serving.join().unwrap().unwrap();
}
