//! Request throughput and latency of the regular-HTTP endpoints over loopback.
//!
//! `cargo bench --bench http` runs each case for 5 s; without `--bench` (as in
//! `cargo test --benches`) each runs for a fraction of a second as a smoke test.
//!
//! Each client is a thread with one keep-alive connection sending one request,
//! reading the reply, and sending the next: the latency is the whole round trip
//! as a client sees it, and throughput is bounded by that latency times the
//! number of clients. All traffic is on 127.0.0.1 and stops by itself.

use realtime_web::hub::Hub;
use realtime_web::server::{Config, Server};
use realtime_web::showcase::{self, Options};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Case {
    name: &'static str,
    request: Vec<u8>,
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let duration = if full {
        Duration::from_secs(5)
    } else {
        Duration::from_millis(300)
    };

    let server = Server::bind("127.0.0.1:0", Config::default()).expect("bind");
    let addr = server.local_addr();
    let hub = Arc::new(Hub::new(Options::default().hub_config()));
    let channel = hub.channel("bench").expect("channel");
    for i in 0..10 {
        channel
            .publish("message", &format!("message number {i}"))
            .expect("publish");
    }
    let shutdown = server.shutdown_handle();
    let closing = Arc::clone(&hub);
    server.on_shutdown(move || closing.close());
    let router = showcase::router(Arc::clone(&hub), &Options::default());
    let serving = std::thread::spawn(move || server.serve(router));

    let cases = [
        Case {
            name: "GET /health",
            request: b"GET /health HTTP/1.1\r\nHost: bench\r\n\r\n".to_vec(),
        },
        Case {
            name: "GET poll (10 messages)",
            request: b"GET /channels/bench/poll?since=0 HTTP/1.1\r\nHost: bench\r\n\r\n".to_vec(),
        },
        Case {
            name: "GET poll (empty)",
            request: b"GET /channels/bench/poll?since=10 HTTP/1.1\r\nHost: bench\r\n\r\n".to_vec(),
        },
        Case {
            name: "POST publish",
            request: b"POST /channels/bench-pub/publish HTTP/1.1\r\nHost: bench\r\nContent-Length: 5\r\n\r\nhello"
                .to_vec(),
        },
    ];

    println!("{} s per case on {} cores", duration.as_secs_f64(), cores());
    println!(
        "{:<24} {:>8} {:>12} {:>10} {:>10}",
        "case", "clients", "requests/s", "p50 µs", "p99 µs"
    );
    for case in &cases {
        for clients in [1, 4, 32] {
            let (count, mut latencies) = run(addr, &case.request, clients, duration);
            latencies.sort_unstable();
            let pct = |p: f64| {
                latencies
                    .get(((latencies.len() as f64) * p) as usize)
                    .copied()
                    .unwrap_or(0)
            };
            println!(
                "{:<24} {:>8} {:>12.0} {:>10} {:>10}",
                case.name,
                clients,
                count as f64 / duration.as_secs_f64(),
                pct(0.50),
                pct(0.99)
            );
            assert!(count > 0, "no request completed");
        }
    }
    shutdown.shutdown();
    serving.join().expect("serve thread").expect("serve");
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Runs `clients` keep-alive clients for `duration`; returns the number of
/// requests and each one's latency in microseconds.
fn run(addr: SocketAddr, request: &[u8], clients: usize, duration: Duration) -> (usize, Vec<u64>) {
    let deadline = Instant::now() + duration;
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let request = request.to_vec();
            std::thread::spawn(move || {
                let mut stream = TcpStream::connect(addr).expect("connect");
                stream.set_nodelay(true).expect("nodelay");
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .expect("timeout");
                let mut buf = vec![0u8; 64 * 1024];
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let start = Instant::now();
                    stream.write_all(&request).expect("write");
                    read_reply(&mut stream, &mut buf);
                    latencies.push(start.elapsed().as_micros() as u64);
                }
                latencies
            })
        })
        .collect();
    let latencies: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("client"))
        .collect();
    (latencies.len(), latencies)
}

/// Reads one `Content-Length` reply (all these endpoints send one).
fn read_reply(stream: &mut TcpStream, buf: &mut [u8]) {
    let mut have = 0;
    loop {
        let n = stream.read(&mut buf[have..]).expect("read");
        assert!(n > 0, "server closed the connection");
        have += n;
        let Some(head_end) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = std::str::from_utf8(&buf[..head_end]).expect("ASCII head");
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .and_then(|v| v.parse().ok())
            .expect("Content-Length");
        if have >= head_end + 4 + length {
            assert!(head.starts_with("HTTP/1.1 200"), "{head}");
            return;
        }
    }
}
