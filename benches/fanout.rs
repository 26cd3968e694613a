//! Fan-out: N streaming subscribers on one channel, M messages published 20 ms
//! apart, each carrying its send time.
//!
//! `cargo bench --bench fanout` measures SSE, XHR streaming and the forever
//! frame with 5,000 and 9,000 subscribers and 20 messages (WebSocket fan-out is
//! in `benches/websocket.rs`); without `--bench` (as in `cargo test --benches`)
//! it runs 100 subscribers and 5 messages as a smoke test.
//!
//! Reported per transport and size: the delivery latency over every (subscriber,
//! message) pair (p50, p99, max); the time until the *last* subscriber had a
//! message (median and worst over the messages); and the server's peak RSS
//! growth per connection (`VmHWM` after the round minus `VmRSS` before it,
//! divided by N). The server runs in this process, the subscribers in a child
//! process (see `support`). All traffic is on 127.0.0.1 and stops by itself.

mod support;

use realtime_web::showcase::Options;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;
use support::*;

const INTERVAL: Duration = Duration::from_millis(20);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--subscribers") {
        subscribers(&args[i + 1..]);
        return;
    }
    let full = args.iter().any(|a| a == "--bench");
    let (sizes, messages): (&[usize], usize) = if full {
        (&[5_000, 9_000], 20)
    } else {
        (&[100], 5)
    };

    let bench = Bench::start(Options::default());
    println!(
        "{messages} messages {} ms apart to N subscribers, {} cores",
        INTERVAL.as_millis(),
        cores()
    );
    println!(
        "{:<8} {:>7} {:>8} {:>8} {:>8} {:>10} {:>10} {:>12}",
        "", "N", "p50 ms", "p99 ms", "max ms", "last p50", "last max", "RSS/conn KiB"
    );
    for transport in ["sse", "stream", "iframe"] {
        for &n in sizes {
            let name = format!("fan-{transport}-{n}");
            reset_peak_rss();
            let before = status_kib("VmRSS").unwrap_or(0);
            let mut child = spawn_clients(&[
                "--subscribers".into(),
                transport.into(),
                n.to_string(),
                messages.to_string(),
                format!("{}/{name}", bench.addr),
            ]);
            bench.await_waiters(&name, n);
            let channel = bench.hub.channel(&name).expect("channel");
            for _ in 0..messages {
                channel
                    .publish("message", &now_ns().to_string())
                    .expect("publish");
                std::thread::sleep(INTERVAL);
            }
            let mut summary = String::new();
            child
                .stdout
                .take()
                .expect("stdout")
                .read_to_string(&mut summary)
                .expect("summary");
            assert!(
                child.wait().expect("subscribers").success(),
                "a subscriber failed"
            );
            let peak = status_kib("VmHWM").unwrap_or(0);
            let per_connection = peak.saturating_sub(before) as f64 / n as f64;
            let figures: Vec<f64> = summary
                .split_whitespace()
                .map(|f| f.parse().expect("a figure"))
                .collect();
            println!(
                "{transport:<8} {n:>7} {:>8.1} {:>8.1} {:>8.1} {:>10.1} {:>10.1} {per_connection:>12.1}",
                figures[0], figures[1], figures[2], figures[3], figures[4]
            );
            bench.await_idle();
        }
    }
}

/// The child: `n` subscribers; prints `p50 p99 max last_p50 last_max` in ms.
fn subscribers(args: &[String]) {
    let transport = args[0].clone();
    let n: usize = args[1].parse().expect("subscriber count");
    let messages: usize = args[2].parse().expect("message count");
    let (addr, name) = args[3].split_once('/').expect("ADDR/CHANNEL");
    let request = format!("GET /channels/{name}/{transport} HTTP/1.1\r\nHost: bench\r\n\r\n");

    // Each thread sends its latencies and parks for good; the process exits once
    // all are in, so no thread exit (an unmap under the memory lock) stalls the
    // others' reads.
    let (results, collected) = std::sync::mpsc::channel::<Vec<f64>>();
    for _ in 0..n {
        let results = results.clone();
        let transport = transport.clone();
        // Connect one at a time, so that the listen backlog never overflows.
        let mut stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(120)))
            .expect("timeout");
        stream.write_all(request.as_bytes()).expect("send");
        std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || {
                let latencies = receive(&mut stream, &transport, messages);
                results.send(latencies).expect("main thread");
                loop {
                    std::thread::park();
                }
            })
            .expect("thread");
    }
    drop(results);
    let all: Vec<Vec<f64>> = collected.iter().take(n).collect();
    let mut flat: Vec<f64> = all.iter().flatten().copied().collect();
    flat.sort_by(f64::total_cmp);
    let mut last: Vec<f64> = (0..messages)
        .map(|i| all.iter().map(|l| l[i]).fold(0.0, f64::max))
        .collect();
    last.sort_by(f64::total_cmp);
    println!(
        "{} {} {} {} {}",
        quantile(&flat, 0.5),
        quantile(&flat, 0.99),
        flat[flat.len() - 1],
        quantile(&last, 0.5),
        last[last.len() - 1]
    );
    std::io::stdout().flush().expect("stdout");
    std::process::exit(0);
}

/// Reads a stream until `messages` messages arrived; returns each one's latency
/// in ms. Lines are found in the raw bytes: the server writes each batch as one
/// chunk, so a message never straddles a chunk header.
fn receive(stream: &mut TcpStream, transport: &str, messages: usize) -> Vec<f64> {
    let mut latencies = Vec::with_capacity(messages);
    let mut pending = Vec::new();
    let mut buf = [0u8; 8192];
    while latencies.len() < messages {
        let got = stream.read(&mut buf).expect("read");
        assert!(got > 0, "the stream ended early");
        let now = now_ns();
        pending.extend_from_slice(&buf[..got]);
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let sent = match transport {
                "sse" => line.strip_prefix("data: ").map(|d| d.trim_end().to_owned()),
                _ => line
                    .split("\"data\":\"")
                    .nth(1)
                    .map(|d| d.split('"').next().unwrap_or("").to_owned()),
            };
            if let Some(sent) = sent.and_then(|s| s.parse::<u128>().ok()) {
                latencies.push(now.saturating_sub(sent) as f64 / 1e6);
            }
        }
    }
    latencies
}
