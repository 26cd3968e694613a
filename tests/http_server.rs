//! The server and the regular-HTTP endpoints of the contract, over real sockets.

mod common;

use common::*;
use realtime_web::http::{Request, Response};
use realtime_web::server::{Config, Server};
use realtime_web::showcase::Options;
use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const GET_HEALTH: &[u8] = b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n";

fn short_timeouts() -> Config {
    Config {
        idle_timeout: Duration::from_millis(300),
        header_timeout: Duration::from_millis(300),
        body_timeout: Duration::from_millis(300),
        write_timeout: Duration::from_millis(300),
        ..Config::default()
    }
}

/// A fresh connection still gets a good answer.
fn assert_serves(server: &TestServer) {
    let (response, _) = exchange(server, GET_HEALTH);
    assert_eq!((response.status, response.text().as_str()), (200, "ok"));
}

#[test]
fn health_and_index() {
    let server = TestServer::start();
    let (status, body) = get(&server.url("/health"));
    assert_eq!((status, body.as_str()), (200, "ok"));
    let (response, _) = exchange(&server, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(response.text().contains("<title>realtime-web</title>"));
    assert!(response.header("date").is_some_and(|d| d.ends_with(" GMT")));
}

#[test]
fn publish_answers_with_the_id() {
    let server = TestServer::start();
    assert_eq!(
        post(&server.url("/channels/a/publish"), b"one"),
        (200, r#"{"id":1}"#.into())
    );
    assert_eq!(
        post(&server.url("/channels/a/publish?event=tick"), b""),
        (200, r#"{"id":2}"#.into())
    );
    assert_eq!(
        post(&server.url("/channels/b/publish"), b"x"),
        (200, r#"{"id":1}"#.into())
    );
    let batch = server.hub.find("a").unwrap().read_after(0);
    assert_eq!(&*batch.messages[1].event, "tick");
    assert_eq!(&*batch.messages[1].data, "");
}

#[test]
fn unknown_path_and_wrong_method() {
    let server = TestServer::start();
    let (response, _) = exchange(&server, b"GET /nowhere HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(response.status, 404);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.text(), r#"{"error":"not found"}"#);
    let (response, _) = exchange(
        &server,
        b"GET /channels/a/publish HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    assert_eq!(response.status, 405);
    assert_eq!(response.header("allow"), Some("POST, OPTIONS"));
    assert_eq!(response.text(), r#"{"error":"method not allowed"}"#);
}

#[test]
fn cors_preflight_and_origin() {
    let server = TestServer::start();
    let (response, _) = exchange(
        &server,
        b"OPTIONS /channels/a/publish HTTP/1.1\r\nHost: t\r\nOrigin: https://x.example\r\nAccess-Control-Request-Method: POST\r\n\r\n",
    );
    assert_eq!(response.status, 204);
    assert_eq!(response.header("access-control-allow-origin"), Some("*"));
    assert_eq!(
        response.header("access-control-allow-methods"),
        Some("POST, OPTIONS")
    );
    assert!(response.header("access-control-allow-headers").is_some());
    assert!(response.header("access-control-max-age").is_some());
    assert_eq!(
        response.header("content-length"),
        None,
        "204 has no body framing"
    );

    let listed = TestServer::with(
        Config::default(),
        Options {
            allow_origins: vec!["https://app.example".into()],
            ..Options::default()
        },
    );
    let (ok, _) = exchange(
        &listed,
        b"GET /health HTTP/1.1\r\nHost: t\r\nOrigin: https://app.example\r\n\r\n",
    );
    assert_eq!(
        ok.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(ok.header("vary"), Some("Origin"));
    let (preflight, _) = exchange(
        &listed,
        b"OPTIONS /health HTTP/1.1\r\nHost: t\r\nOrigin: https://evil.example\r\nAccess-Control-Request-Method: GET\r\n\r\n",
    );
    assert_eq!(preflight.status, 204);
    assert_eq!(preflight.header("access-control-allow-origin"), None);
}

#[test]
fn two_requests_on_one_connection() {
    let server = TestServer::start();
    let mut stream = server.connect();
    stream.write_all(GET_HEALTH).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let first = read_response_to(&mut reader, false).unwrap();
    stream
        .write_all(b"POST /channels/k/publish HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi")
        .unwrap();
    let second = read_response_to(&mut reader, false).unwrap();
    assert_eq!((first.status, first.text().as_str()), (200, "ok"));
    assert_eq!(
        (second.status, second.text().as_str()),
        (200, r#"{"id":1}"#)
    );
    assert!(!first.says_close() && !second.says_close());
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let server = TestServer::start();
    let mut stream = server.connect();
    let mut pipeline = Vec::new();
    for i in 0..5 {
        let body = format!("m{i}");
        pipeline.extend_from_slice(
            format!(
                "POST /channels/p/publish HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
        pipeline.extend_from_slice(b"GET /nowhere HTTP/1.1\r\nHost: t\r\n\r\n");
    }
    pipeline.extend_from_slice(GET_HEALTH);
    stream.write_all(&pipeline).unwrap();
    let mut reader = BufReader::new(stream);
    for i in 1..=5 {
        let published = read_response_to(&mut reader, false).unwrap();
        assert_eq!(published.text(), format!("{{\"id\":{i}}}"));
        assert_eq!(read_response_to(&mut reader, false).unwrap().status, 404);
    }
    assert_eq!(read_response_to(&mut reader, false).unwrap().text(), "ok");
    let data: Vec<String> = server
        .hub
        .find("p")
        .unwrap()
        .read_after(0)
        .messages
        .iter()
        .map(|m| m.data.to_string())
        .collect();
    assert_eq!(data, ["m0", "m1", "m2", "m3", "m4"]);
}

#[test]
fn chunked_request_body() {
    let server = TestServer::start();
    let (response, mut reader) = exchange(
        &server,
        b"POST /channels/c/publish HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nhel\r\n2\r\nlo\r\n0\r\nX-Trailer: t\r\n\r\nGET /health HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    assert_eq!(
        (response.status, response.text().as_str()),
        (200, r#"{"id":1}"#)
    );
    assert_eq!(
        &*server.hub.find("c").unwrap().read_after(0).messages[0].data,
        "hello"
    );
    // The request after the trailer section was found where it starts.
    assert_eq!(read_response_to(&mut reader, false).unwrap().text(), "ok");
}

#[test]
fn expect_100_continue_is_answered_before_the_body() {
    let server = TestServer::start();
    let mut stream = server.connect();
    stream
        .write_all(b"POST /channels/e/publish HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let interim = read_response_to(&mut reader, false).unwrap();
    assert_eq!(interim.status, 100);
    stream.write_all(b"hello").unwrap();
    let done = read_response_to(&mut reader, false).unwrap();
    assert_eq!((done.status, done.text().as_str()), (200, r#"{"id":1}"#));
}

/// RFC 9110 §10.1.1: a body the route will refuse is not invited. The route's
/// own limit (publish: the hub's 64 KiB message limit) is below the server's
/// 1 MiB, and the client waiting for `100 Continue` gets `413` at once instead,
/// and the connection closes, the body never read.
#[test]
fn expect_100_continue_for_a_body_the_route_refuses_gets_413_at_once() {
    let server = TestServer::start();
    let mut stream = server.connect();
    stream
        .write_all(b"POST /channels/e/publish HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 1000000\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let refused = read_response_to(&mut reader, false).unwrap();
    assert_eq!(refused.status, 413, "not 100: the body would be refused");
    assert!(refused.says_close());
    assert!(refused.text().starts_with(r#"{"error":"#));
    assert!(is_closed(&mut reader));
    assert!(server.hub.find("e").is_none(), "nothing was published");
    // Within the route's limit, the body is still invited.
    let mut stream = server.connect();
    stream
        .write_all(b"POST /channels/e/publish HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 65536\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    assert_eq!(read_response_to(&mut reader, false).unwrap().status, 100);
}

#[test]
fn http_1_0_closes_unless_keep_alive() {
    let server = TestServer::start();
    let (response, mut reader) = exchange(&server, b"GET /health HTTP/1.0\r\n\r\n");
    assert_eq!(response.version, "HTTP/1.0");
    assert!(response.says_close());
    assert!(is_closed(&mut reader));

    let mut stream = server.connect();
    stream
        .write_all(b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let first = read_response_to(&mut reader, false).unwrap();
    assert_eq!(first.header("connection"), Some("keep-alive"));
    stream.write_all(b"GET /health HTTP/1.0\r\n\r\n").unwrap();
    assert_eq!(read_response_to(&mut reader, false).unwrap().text(), "ok");
}

#[test]
fn connection_close_is_honoured() {
    let server = TestServer::start();
    let (response, mut reader) = exchange(
        &server,
        b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert!(response.says_close());
    assert!(is_closed(&mut reader));
}

#[test]
fn head_sends_no_body() {
    let server = TestServer::start();
    let mut stream = server.connect();
    stream
        .write_all(b"HEAD /health HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    stream.write_all(GET_HEALTH).unwrap();
    let mut reader = BufReader::new(stream);
    let head = read_response_to(&mut reader, true).unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("2"));
    // If HEAD had sent a body, these bytes would be "ok" instead of a status line.
    let next = read_response_to(&mut reader, false).unwrap();
    assert_eq!((next.status, next.text().as_str()), (200, "ok"));
}

#[test]
fn absolute_form_target() {
    let server = TestServer::start();
    let (response, _) = exchange(&server, b"GET http://t/health HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!((response.status, response.text().as_str()), (200, "ok"));
}

#[test]
fn endless_request_line_is_cut_off() {
    let server = TestServer::start();
    let mut stream = server.connect();
    // No line end ever: the server must answer once the line passes the limit,
    // without waiting for the rest.
    let junk = vec![b'a'; 64 * 1024];
    let _ = stream.write_all(b"GET /");
    let _ = stream.write_all(&junk);
    let mut reader = BufReader::new(stream);
    let response = read_response_to(&mut reader, false).unwrap();
    assert_eq!(response.status, 414);
}

#[test]
fn slow_headers_get_408() {
    let server = TestServer::with_config(short_timeouts());
    let mut stream = server.connect();
    stream.write_all(b"GET /health HTTP/1.1\r\nHo").unwrap();
    // Keep dripping: a per-read timeout alone would never fire.
    let started = Instant::now();
    let dripper = {
        let mut stream = stream.try_clone().unwrap();
        std::thread::spawn(move || {
            for _ in 0..40 {
                std::thread::sleep(Duration::from_millis(50));
                if stream.write_all(b"o").is_err() {
                    break;
                }
            }
        })
    };
    let mut reader = BufReader::new(stream);
    let response = read_response_to(&mut reader, false).unwrap();
    assert_eq!(response.status, 408);
    assert!(response.says_close());
    assert!(started.elapsed() < LIVENESS);
    let _ = dripper.join();
    assert_serves(&server);
}

#[test]
fn slow_body_gets_408() {
    let server = TestServer::with_config(short_timeouts());
    let (response, mut reader) = exchange(
        &server,
        b"POST /channels/s/publish HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nhalf",
    );
    assert_eq!(response.status, 408);
    assert!(is_closed(&mut reader));
    assert!(server.hub.find("s").is_none());
}

#[test]
fn idle_connections_close_quietly() {
    let server = TestServer::with_config(short_timeouts());
    let mut stream = server.connect();
    let mut received = Vec::new();
    let started = Instant::now();
    stream.read_to_end(&mut received).unwrap();
    assert!(received.is_empty(), "no reply to a request never sent");
    assert!(started.elapsed() < LIVENESS);

    // After a request, the keep-alive wait is idle too.
    let mut stream = server.connect();
    stream.write_all(GET_HEALTH).unwrap();
    let mut reader = BufReader::new(stream);
    assert_eq!(read_response_to(&mut reader, false).unwrap().status, 200);
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
}

#[test]
fn a_peer_that_stops_reading_is_dropped() {
    let server = TestServer::with_config(short_timeouts());
    let channel = server.hub.channel("big").unwrap();
    let chunk = "x".repeat(60_000);
    for _ in 0..60 {
        channel.publish("message", &chunk).unwrap();
    }
    // Ask for megabytes, many times over, and never read a byte.
    let mut stream = server.connect();
    stream
        .set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    for _ in 0..50 {
        if stream
            .write_all(b"GET /channels/big/poll HTTP/1.1\r\nHost: t\r\n\r\n")
            .is_err()
        {
            break;
        }
    }
    let deadline = Instant::now() + LIVENESS;
    while server.shutdown.open_connections() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        server.shutdown.open_connections(),
        0,
        "the stuck writer was not dropped"
    );
    assert_serves(&server);
    drop(stream);
}

#[test]
fn connection_limit_answers_503_then_recovers() {
    let server = TestServer::with_config(Config {
        max_connections: 2,
        ..Config::default()
    });
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = server.connect();
        stream.write_all(GET_HEALTH).unwrap();
        let mut reader = BufReader::new(stream);
        assert_eq!(read_response_to(&mut reader, false).unwrap().status, 200);
        held.push(reader);
    }
    let (response, mut reader) = exchange(&server, GET_HEALTH);
    assert_eq!(response.status, 503);
    assert_eq!(response.text(), r#"{"error":"connection limit reached"}"#);
    assert!(response.says_close());
    assert!(is_closed(&mut reader));

    drop(held.pop());
    let deadline = Instant::now() + LIVENESS;
    loop {
        let (response, _) = exchange(&server, GET_HEALTH);
        if response.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "service did not resume");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_panicking_handler_costs_only_its_request() {
    let server = Server::bind("127.0.0.1:0", Config::default()).unwrap();
    let addr = server.local_addr();
    let shutdown = server.shutdown_handle();
    let running = std::thread::spawn(move || {
        server.serve(|request: Request| {
            if request.path() == "/boom" {
                panic!("handler bug (expected by the test)");
            }
            Response::text("fine")
        })
    });
    let ask = |path: &str| {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(LIVENESS)).unwrap();
        stream
            .write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
            .unwrap();
        read_response_to(&mut BufReader::new(stream), false).unwrap()
    };
    let boom = ask("/boom");
    assert_eq!(boom.status, 500);
    assert!(boom.says_close());
    assert_eq!(ask("/ok").text(), "fine");
    shutdown.shutdown();
    running.join().unwrap().unwrap();
}

#[test]
fn shutdown_with_clients_connected() {
    let server = TestServer::start();
    // Idle keep-alive connections, and one half-way through a request head.
    let mut idle = Vec::new();
    for _ in 0..5 {
        let mut stream = server.connect();
        stream.write_all(GET_HEALTH).unwrap();
        let mut reader = BufReader::new(stream);
        assert_eq!(read_response_to(&mut reader, false).unwrap().status, 200);
        idle.push(reader);
    }
    let mut partial = server.connect();
    partial.write_all(b"GET /health HTTP/1.1\r\n").unwrap();
    let took = server.stop();
    assert!(took < LIVENESS, "serve took {took:?} to return");
    for mut reader in idle {
        assert!(is_closed(&mut reader));
    }
    let mut rest = Vec::new();
    let _ = partial.read_to_end(&mut rest);
}

#[test]
fn many_concurrent_clients() {
    let server = TestServer::start();
    post(&server.url("/channels/many/publish"), b"hello");
    let url = server.url("/channels/many/publish");
    let clients: Vec<_> = (0..200)
        .map(|i| {
            let url = url.clone();
            std::thread::spawn(move || post(&url, format!("from {i}").as_bytes()))
        })
        .collect();
    for client in clients {
        let (status, body) = client.join().unwrap();
        assert_eq!(status, 200);
        assert!(body.starts_with(r#"{"id":"#));
    }
    assert_eq!(server.hub.find("many").unwrap().last_id(), 201);
}

/// A server with a hand-written handler, for the body kinds the showcase routes
/// do not use yet.
fn custom(
    handler: impl Fn(Request) -> Response + Send + Sync + 'static,
) -> (
    std::net::SocketAddr,
    realtime_web::ShutdownHandle,
    std::thread::JoinHandle<std::io::Result<realtime_web::server::Stopped>>,
) {
    let server = Server::bind("127.0.0.1:0", Config::default()).unwrap();
    let addr = server.local_addr();
    let shutdown = server.shutdown_handle();
    (
        addr,
        shutdown,
        std::thread::spawn(move || server.serve(handler)),
    )
}

fn streaming(_: Request) -> Response {
    Response::stream("text/plain", |out| {
        for piece in ["one ", "two ", "three"] {
            out.write_all(piece.as_bytes())?;
            out.flush()?;
        }
        Ok(())
    })
}

#[test]
fn streamed_body_is_chunked_one_chunk_per_flush() {
    let (addr, shutdown, running) = custom(streaming);
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(LIVENESS)).unwrap();
    stream.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let body = "\r\n\r\n4\r\none \r\n4\r\ntwo \r\n5\r\nthree\r\n0\r\n\r\n";
    assert_eq!(
        raw.matches("Transfer-Encoding: chunked\r\n").count(),
        2,
        "{raw}"
    );
    assert_eq!(
        raw.matches(body).count(),
        2,
        "both streams complete, in order: {raw}"
    );
    shutdown.shutdown();
    running.join().unwrap().unwrap();
}

#[test]
fn streamed_body_to_http_1_0_ends_with_the_connection() {
    let (addr, shutdown, running) = custom(streaming);
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(LIVENESS)).unwrap();
    stream
        .write_all(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8(raw).unwrap();
    assert!(raw.starts_with("HTTP/1.0 200 OK\r\n"), "{raw}");
    assert!(
        !raw.contains("Transfer-Encoding"),
        "HTTP/1.0 has no chunked coding"
    );
    assert!(raw.contains("Connection: close\r\n"));
    assert!(raw.ends_with("\r\n\r\none two three"), "{raw}");
    shutdown.shutdown();
    running.join().unwrap().unwrap();
}

#[test]
fn head_of_a_stream_does_not_run_it() {
    let (addr, shutdown, running) = custom(streaming);
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(LIVENESS)).unwrap();
    stream.write_all(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\nGET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").unwrap();
    let mut reader = BufReader::new(stream);
    let head = read_response_to(&mut reader, true).unwrap();
    assert_eq!(head.header("transfer-encoding"), Some("chunked"));
    let next = read_response_to(&mut reader, false).unwrap();
    assert_eq!(
        next.text(),
        "one two three",
        "the HEAD reply carried no body bytes"
    );
    shutdown.shutdown();
    running.join().unwrap().unwrap();
}

#[test]
fn upgrade_hands_over_the_socket_with_the_bytes_already_read() {
    let (addr, shutdown, running) = custom(|_: Request| {
        Response::upgrade(|connection| {
            // A toy protocol: echo every byte back, upper-cased, until EOF.
            let mut stream = &*connection.socket;
            let _ = stream.write_all(&connection.leftover.to_ascii_uppercase());
            let mut buf = [0u8; 256];
            while let Ok(n @ 1..) = stream.read(&mut buf) {
                let _ = stream.write_all(&buf[..n].to_ascii_uppercase());
            }
        })
        .header("Upgrade", "shout")
    });
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(LIVENESS)).unwrap();
    // The first bytes of the new protocol travel with the request itself.
    stream
        .write_all(
            b"GET / HTTP/1.1\r\nHost: t\r\nUpgrade: shout\r\nConnection: Upgrade\r\n\r\nhello ",
        )
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let switching = read_response_to(&mut reader, false).unwrap();
    assert_eq!(switching.status, 101);
    assert_eq!(switching.header("upgrade"), Some("shout"));
    assert_eq!(switching.header("connection"), Some("Upgrade"));
    let mut echoed = [0u8; 6];
    reader.read_exact(&mut echoed).unwrap();
    assert_eq!(&echoed, b"HELLO ");
    stream.write_all(b"world").unwrap();
    let mut echoed = [0u8; 5];
    reader.read_exact(&mut echoed).unwrap();
    assert_eq!(&echoed, b"WORLD");
    drop((stream, reader));
    shutdown.shutdown();
    running.join().unwrap().unwrap();
}

#[test]
fn shutdown_cuts_off_what_does_not_end_by_the_deadline() {
    // A stream that never ends by itself and waits on no hub: only the shutdown
    // deadline can stop it.
    let server = Server::bind(
        "127.0.0.1:0",
        Config {
            shutdown_timeout: Duration::from_millis(300),
            ..Config::default()
        },
    )
    .unwrap();
    let addr = server.local_addr();
    let shutdown = server.shutdown_handle();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let result = server.serve(|_: Request| {
            Response::stream("text/plain", |out| loop {
                out.write_all(b".")?;
                out.flush()?;
                std::thread::sleep(Duration::from_millis(20));
            })
        });
        let _ = done_tx.send(result);
    });
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(LIVENESS)).unwrap();
    stream.write_all(GET_HEALTH).unwrap();
    let mut first = [0u8; 64];
    assert!(stream.read(&mut first).unwrap() > 0, "the stream started");
    let started = Instant::now();
    shutdown.shutdown();
    let result = done_rx
        .recv_timeout(LIVENESS)
        .expect("serve returned after the deadline");
    assert!(result.is_ok());
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "it waited for the deadline first"
    );
    // The cut-off connection ends for the client too (EOF or reset, not silence).
    let mut rest = Vec::new();
    if let Err(e) = stream.read_to_end(&mut rest) {
        assert!(
            !realtime_web::net::is_timeout(&e),
            "the connection was left open"
        );
    }
}
