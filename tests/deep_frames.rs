//! A handler with a large local array (200 KB on its stack) runs, on a
//! connection thread and on a helper thread, with the default stack size. A
//! stack overflow aborts the whole process, so this is a test binary of its
//! own: if the default were too small (128 KiB was), only it would die.

#![cfg(feature = "websocket")]

mod common;

use common::ws::{raw_session_at, read_close_code};
use common::{read_response_to, LIVENESS};
use realtime_web::http::{Cors, Request, Response, Router};
use realtime_web::server::{Config, Server};
use realtime_web::transport::websocket::{self, WsConfig};
use std::hint::black_box;
use std::io::{BufReader, Write};
use std::net::TcpStream;

/// The frame an embedder's handler might reasonably have: a 200 KB buffer.
const FRAME: usize = 200_000;

fn deep() -> u8 {
    let buffer = black_box([7u8; FRAME]);
    buffer[FRAME - 1]
}

#[test]
fn a_200_kb_frame_runs_on_connection_and_helper_threads() {
    let server = Server::bind("127.0.0.1:0", Config::default()).unwrap();
    let (addr, stop) = (server.local_addr(), server.shutdown_handle());
    let router = Router::new()
        .get("/deep", |_: Request| Response::text(deep().to_string()))
        .get("/deep-helper", |request: Request| {
            websocket::accept(
                &request,
                &Cors::allow_any(),
                &WsConfig::default(),
                |ws, helpers| {
                    let sender = ws.sender();
                    helpers
                        .spawn(move || {
                            let _ = sender.close(1000, &deep().to_string());
                        })
                        .expect("a helper");
                    let mut ws = ws;
                    while ws.read().is_ok() {}
                },
            )
        });
    let serving = std::thread::spawn(move || server.serve(router));

    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(LIVENESS)).unwrap();
    stream
        .write_all(b"GET /deep HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let response = read_response_to(&mut BufReader::new(&stream), false).unwrap();
    assert_eq!((response.status, response.text().as_str()), (200, "7"));

    let mut ws = raw_session_at(addr, "/deep-helper");
    assert_eq!(read_close_code(&mut ws), Some(1000), "the helper ran");

    stop.shutdown();
    serving.join().unwrap().unwrap();
}
