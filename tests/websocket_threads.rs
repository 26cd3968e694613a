//! No thread outlives its WebSocket connection: the process's thread count
//! returns to its baseline after clients leave, cleanly or not. (A test binary
//! of its own, so that no other test's threads are counted.)

#![cfg(feature = "websocket")]

mod common;

use common::*;
use realtime_web::transport::websocket::connect;
use std::time::{Duration, Instant};

fn threads() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with("Threads:"))
        .expect("a Threads line");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn await_threads(target: usize) -> usize {
    let deadline = Instant::now() + LIVENESS;
    while threads() > target && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    threads()
}

#[test]
fn thread_count_returns_to_baseline() {
    const CLIENTS: usize = 50;
    // Default settings: each subscription's thread reads its socket, so it
    // sees its client leave at once; the broadcaster ends within a second of
    // the last one leaving.
    let server = TestServer::start();
    let url = format!("ws://{}/channels/t/ws", server.addr);
    // Once a request was served, the server's own threads (accept loop,
    // spawner, rejecter) are all up; then wait for that connection to end.
    let (response, _) = exchange(
        &server,
        b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(response.status, 200);
    let deadline = Instant::now() + LIVENESS;
    while server.shutdown.open_connections() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(50));
    let baseline = threads();
    for round in ["close", "vanish"] {
        let mut clients: Vec<_> = (0..CLIENTS).map(|_| connect(&url).unwrap()).collect();
        let channel = server.hub.channel("t").unwrap();
        let deadline = Instant::now() + LIVENESS;
        while channel.waiters() < CLIENTS {
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(5));
        }
        // One thread per subscriber, and the channel's broadcaster.
        assert_eq!(threads(), baseline + CLIENTS + 1, "N threads plus one");
        if round == "close" {
            for client in &mut clients {
                client.close(1000, "").unwrap();
            }
        }
        drop(clients);
        assert_eq!(
            await_threads(baseline),
            baseline,
            "after the clients' {round}"
        );
        assert_eq!(server.shutdown.open_connections(), 0);
    }
}
