//! A helper thread that panics — a WebSocket's pump, or one an embedder
//! started — closes its own connection (a WebSocket with 1011) and gives its
//! thread back; the server and every other connection go on.

#![cfg(feature = "websocket")]

mod common;

use common::ws::{client_frame, raw_session_at, read_close_code};
use common::{read_response_to, LIVENESS};
use realtime_web::http::{Cors, Request, Router};
use realtime_web::server::{Config, Server, ShutdownHandle};
use realtime_web::transport::websocket::{self, Message, WsConfig};
use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// `/panics`: a WebSocket whose session starts a helper that panics at once,
/// then echoes on its own thread until the connection ends.
fn start() -> (SocketAddr, ShutdownHandle) {
    let server = Server::bind("127.0.0.1:0", Config::default()).unwrap();
    let (addr, handle) = (server.local_addr(), server.shutdown_handle());
    let router = Router::new().get("/panics", |request: Request| {
        websocket::accept(
            &request,
            &Cors::allow_any(),
            &WsConfig::default(),
            |mut ws, helpers| {
                helpers
                    .spawn(|| panic!("a helper's bug"))
                    .expect("a helper thread");
                while let Ok(Message::Text(text)) = ws.read() {
                    if ws.send_text(&text).is_err() {
                        break;
                    }
                }
            },
        )
    });
    std::thread::spawn(move || server.serve(router));
    (addr, handle)
}

fn await_threads(handle: &ShutdownHandle, target: usize) -> usize {
    let deadline = Instant::now() + LIVENESS;
    while handle.threads() > target && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    handle.threads()
}

#[test]
fn a_panicking_helper_closes_its_websocket_with_1011_and_nothing_else() {
    let (addr, handle) = start();
    // A keep-alive connection beside them, to show it is not touched.
    let mut bystander = BufReader::new(TcpStream::connect(addr).unwrap());
    let ask = |bystander: &mut BufReader<TcpStream>| {
        let request = b"GET /nothing HTTP/1.1\r\nHost: t\r\n\r\n";
        bystander.get_mut().write_all(request).unwrap();
        read_response_to(bystander, false).unwrap().status
    };
    assert_eq!(ask(&mut bystander), 404);

    for _ in 0..3 {
        let mut ws = raw_session_at(addr, "/panics");
        assert_eq!(read_close_code(&mut ws), Some(1011));
        // Answer the close; the server then closes TCP.
        ws.write_all(&client_frame(0x88, &1011u16.to_be_bytes()))
            .unwrap();
        let mut rest = Vec::new();
        let _ = ws.read_to_end(&mut rest);
    }
    // Only the bystander's thread is left: every helper and session ended.
    assert_eq!(await_threads(&handle, 1), 1);
    assert_eq!(handle.open_connections(), 1);
    assert_eq!(ask(&mut bystander), 404);
    handle.shutdown();
}

#[test]
fn a_panicking_helper_of_a_raw_connection_closes_it() {
    let server = Server::bind("127.0.0.1:0", Config::default()).unwrap();
    let (addr, handle) = (server.local_addr(), server.shutdown_handle());
    std::thread::spawn(move || {
        server.serve_raw(|connection| {
            connection
                .helpers
                .spawn(|| panic!("a helper's bug"))
                .expect("a helper thread");
            // Blocks until the server closes the socket for the panic.
            let mut sink = [0u8; 64];
            while matches!(connection.socket.read(&mut sink), Ok(n) if n > 0) {}
        })
    });
    for _ in 0..3 {
        let mut client = TcpStream::connect(addr).unwrap();
        client.set_read_timeout(Some(LIVENESS)).unwrap();
        let mut rest = Vec::new();
        client
            .read_to_end(&mut rest)
            .expect("closed, not timed out");
        assert!(rest.is_empty());
    }
    assert_eq!(await_threads(&handle, 0), 0);
    handle.shutdown();
}
