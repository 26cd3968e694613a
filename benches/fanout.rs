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
            let figures = fan_out(&bench, &bench, transport, &name, (n, messages), INTERVAL);
            // The high-water mark stays after the clients left.
            let peak = status_kib("VmHWM").unwrap_or(0);
            let per_connection = peak.saturating_sub(before) as f64 / n as f64;
            println!(
                "{transport:<8} {n:>7} {:>8.1} {:>8.1} {:>8.1} {:>10.1} {:>10.1} {per_connection:>12.1}",
                figures[0], figures[1], figures[2], figures[3], figures[4]
            );
        }
    }
}
