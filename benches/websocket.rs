//! WebSocket echo throughput and round trip, next to a plain TCP echo over
//! `std::net` in the same run (the physical limit of this machine's loopback),
//! and fan-out of one channel message to N `/ws` subscribers.
//!
//! `cargo bench --bench websocket` runs each echo case for 3 s and fans out to
//! 5,000 and 9,000 subscribers; without `--bench` (as in `cargo test
//! --benches`) each case runs for a fraction of a second and fans out to 100.
//!
//! Echo: each connection sends a message, waits for it to come back, and sends
//! the next; messages/s and MB/s count the messages that came back. The TCP echo
//! server is a thread per connection doing `read` then `write_all`, the same
//! shape as the WebSocket server, minus the protocol. The WebSocket client is the
//! crate's own, masking every frame as RFC 6455 requires.
//!
//! Fan-out: the subscribers run in a child process (see `support`), 100 threads
//! each reading a share of the sockets in turn; the latency is from the publish
//! to each subscriber's receipt. The message is 1 KiB of JSON, sent to
//! subscribers that did not offer permessage-deflate and then to subscribers
//! that did (RFC 7692: the frame is compressed once and shared; see
//! `transport::websocket::deflate::shared_frame`), with the frame's size on the
//! wire. All traffic is on 127.0.0.1 and stops by itself.

mod support;

use realtime_web::showcase::Options;
use realtime_web::transport::websocket::{connect_with, ClientOptions, Message, WsConfig};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};
use support::*;

const SIZES: [usize; 3] = [16, 1024, 64 * 1024];
const CONNECTIONS: [usize; 2] = [1, 50];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--subscribers") {
        subscribers(
            args[i + 1].parse().expect("count"),
            &args[i + 2],
            args[i + 3] == "deflate",
        );
        return;
    }
    let full = args.iter().any(|a| a == "--bench");
    let duration = if full {
        Duration::from_secs(3)
    } else {
        Duration::from_millis(200)
    };
    // The fan-out issue's sizes: a subscription is one thread (its reader; the
    // channel's one broadcaster writes), so 9,000 fit under the server's
    // default limits of 10,000 connections and 12,000 threads.
    let fanout_sizes: &[usize] = if full { &[5_000, 9_000] } else { &[100] };

    let bench = Bench::start(Options::default());
    let tcp = tcp_echo_server();

    println!(
        "echo, {} s per case, {} cores",
        duration.as_secs_f64(),
        cores()
    );
    println!(
        "{:<10} {:>7} {:>6} {:>12} {:>9} {:>9} {:>9} {:>8}",
        "", "size", "conns", "messages/s", "MB/s", "p50 µs", "p99 µs", "vs TCP"
    );
    for size in SIZES {
        for connections in CONNECTIONS {
            let raw = run_echo(connections, duration, || {
                let mut stream = TcpStream::connect(tcp).expect("connect");
                stream.set_nodelay(true).expect("nodelay");
                let message = vec![7u8; size];
                let mut back = vec![0u8; size];
                move || {
                    stream.write_all(&message).expect("write");
                    stream.read_exact(&mut back).expect("read");
                }
            });
            let ws = run_echo(connections, duration, || {
                let mut ws = connect_with(&format!("ws://{}/echo", bench.addr), options(false))
                    .expect("connect");
                let message = vec![7u8; size];
                move || {
                    ws.send_binary(&message).expect("send");
                    match ws.read().expect("read") {
                        Message::Binary(back) => assert_eq!(back.len(), size),
                        other => panic!("unexpected {other:?}"),
                    }
                }
            });
            for (name, result) in [("tcp", &raw), ("websocket", &ws)] {
                let rate = result.count as f64 / duration.as_secs_f64();
                println!(
                    "{name:<10} {size:>7} {connections:>6} {rate:>12.0} {:>9.1} {:>9.0} {:>9.0} {:>8.2}",
                    rate * size as f64 / 1e6,
                    result.p50,
                    result.p99,
                    result.count as f64 / raw.count as f64
                );
            }
        }
    }

    let message = reading_json(1024);
    println!(
        "\nfan-out of one {}-byte JSON message to N /ws subscribers",
        message.len()
    );
    println!(
        "{:>8} {:>22} {:>12} {:>10} {:>10} {:>10}",
        "N", "", "frame bytes", "p50 ms", "p99 ms", "last ms"
    );
    for &n in fanout_sizes {
        // Without the feature, only the plain case.
        for compressed in [false, true] {
            if compressed && !cfg!(feature = "deflate") {
                continue;
            }
            let name = format!("ws-fan-{n}-{compressed}");
            let child = spawn_clients(&[
                "--subscribers".into(),
                n.to_string(),
                format!("{}/{name}", bench.addr),
                if compressed { "deflate" } else { "plain" }.into(),
            ]);
            bench.await_waiters(&name, n);
            let published = now_ns();
            bench
                .hub
                .channel(&name)
                .expect("channel")
                .publish_json("message", &message)
                .expect("publish");
            let out = output_of(child);
            let mut latencies: Vec<f64> = out
                .lines()
                .map(|l| l.parse::<u128>().expect("a time").saturating_sub(published) as f64 / 1e6)
                .collect();
            assert_eq!(latencies.len(), n, "every subscriber received the message");
            latencies.sort_by(f64::total_cmp);
            println!(
                "{n:>8} {:>22} {:>12} {:>10.1} {:>10.1} {:>10.1}",
                if compressed {
                    "permessage-deflate"
                } else {
                    "plain"
                },
                frame_bytes(&name, &message, compressed),
                quantile(&latencies, 0.5),
                quantile(&latencies, 0.99),
                latencies[n - 1]
            );
            bench.await_idle();
        }
    }
}

/// About `bytes` of JSON sensor readings (an array of whole objects), the
/// kind of message the extension is for.
fn reading_json(bytes: usize) -> String {
    let mut out = String::from("[");
    for i in 0.. {
        let reading = format!(
            r#"{{"id":{i},"event":"reading","data":{{"celsius":{}.{},"sensor":"s-{}"}}}}"#,
            20 + i % 7,
            i % 10,
            i % 13
        );
        if out.len() + reading.len() + 1 > bytes {
            break;
        }
        if i > 0 {
            out.push(',');
        }
        out.push_str(&reading);
    }
    out.push(']');
    out
}

/// The size of the frame a subscriber receives for `message` (its JSON
/// envelope, compressed or not), as the server writes it.
fn frame_bytes(channel: &str, message: &str, compressed: bool) -> usize {
    let hub = realtime_web::hub::Hub::new(Default::default());
    let stored = hub.channel(channel).expect("channel");
    stored.publish_json("message", message).expect("publish");
    let batch = stored.read_after(0);
    let item = realtime_web::transport::Item::Message(&batch.messages[0]);
    let format = if compressed {
        realtime_web::transport::websocket::DEFLATE_FORMAT
    } else {
        realtime_web::transport::websocket::FORMAT
    };
    let mut out = Vec::new();
    (format.item)(&mut out, item);
    out.len()
}

/// Client options: no pings, permessage-deflate offered or not.
fn options(deflate: bool) -> ClientOptions {
    #[cfg(not(feature = "deflate"))]
    let _ = deflate;
    ClientOptions {
        config: Some(WsConfig {
            ping_interval: None,
            #[cfg(feature = "deflate")]
            deflate,
            ..WsConfig::default()
        }),
        ..ClientOptions::default()
    }
}

struct EchoResult {
    count: usize,
    p50: f64,
    p99: f64,
}

/// Runs `connections` clients, each made by `open` (which returns one round
/// trip as a closure), for `duration`.
fn run_echo<F, R>(connections: usize, duration: Duration, open: F) -> EchoResult
where
    F: Fn() -> R,
    R: FnMut() + Send + 'static,
{
    let clients: Vec<R> = (0..connections).map(|_| open()).collect();
    let deadline = Instant::now() + duration;
    let threads: Vec<_> = clients
        .into_iter()
        .map(|mut round_trip| {
            std::thread::spawn(move || {
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let start = Instant::now();
                    round_trip();
                    latencies.push(start.elapsed().as_secs_f64() * 1e6);
                }
                latencies
            })
        })
        .collect();
    let mut all: Vec<f64> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("client"))
        .collect();
    all.sort_by(f64::total_cmp);
    EchoResult {
        count: all.len(),
        p50: quantile(&all, 0.5),
        p99: quantile(&all, 0.99),
    }
}

/// A plain TCP echo server: a thread per connection, `read` then `write_all`.
fn tcp_echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let _ = stream.set_nodelay(true);
                let mut buf = vec![0u8; 64 * 1024];
                let mut stream = stream;
                while let Ok(n @ 1..) = stream.read(&mut buf) {
                    if stream.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// The child: `n` subscribers to `/channels/{name}/ws`, offering
/// permessage-deflate or not; prints each one's receipt time, one per line.
fn subscribers(n: usize, target: &str, deflate: bool) {
    let (addr, name) = target.split_once('/').expect("ADDR/CHANNEL");
    let url = format!("ws://{addr}/channels/{name}/ws");
    let sockets: Vec<_> = (0..n)
        .map(|_| connect_with(&url, options(deflate)).expect("connect"))
        .collect();
    let readers = 100.min(n);
    let mut shares: Vec<Vec<_>> = (0..readers).map(|_| Vec::new()).collect();
    for (i, socket) in sockets.into_iter().enumerate() {
        shares[i % readers].push(socket);
    }
    let threads: Vec<_> = shares
        .into_iter()
        .map(|mut share| {
            std::thread::spawn(move || {
                let times: Vec<u128> = share
                    .iter_mut()
                    .map(|ws| match ws.read().expect("read") {
                        Message::Text(_) => now_ns(),
                        other => panic!("unexpected {other:?}"),
                    })
                    .collect();
                (times, share)
            })
        })
        .collect();
    let mut out = std::io::stdout().lock();
    let mut keep = Vec::new();
    for thread in threads {
        let (times, share) = thread.join().expect("reader");
        for time in times {
            writeln!(out, "{time}").expect("stdout");
        }
        keep.push(share);
    }
    out.flush().expect("stdout");
    std::process::exit(0);
}
