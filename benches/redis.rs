//! Channels shared through Redis: subscribers on node A, the publisher on
//! node B, against a single node in the same run.
//!
//! `cargo bench --features redis --bench redis` measures 1,000 and 5,000 SSE
//! subscribers and 20 messages 20 ms apart, each carrying its send time, then
//! publish throughput (5,000 messages, one at a time) and Redis's CPU per
//! message; without `--bench` (as in `cargo test --benches`) it runs 100
//! subscribers, 5 messages and 500 publishes as a smoke test. It starts its
//! own `redis-server` on a free loopback port (and says so and stops if there
//! is none). The nodes run in this process, the subscribers in a child
//! process (see `support`). All traffic is on 127.0.0.1 and stops by itself.

mod support;

use realtime_web::redis::Url;
use realtime_web::showcase::Options;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

const INTERVAL: Duration = Duration::from_millis(20);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--subscribers") {
        subscribers(&args[i + 1..]);
        return;
    }
    let full = args.iter().any(|a| a == "--bench");
    let (sizes, messages, publishes): (&[usize], usize, usize) = if full {
        (&[1_000, 5_000], 20, 5_000)
    } else {
        (&[100], 5, 500)
    };
    let Some(mut redis) = start_redis() else {
        println!("skipped: no redis-server (`apt-get install redis-server`)");
        return;
    };
    let url = Url::parse(&format!("redis://127.0.0.1:{}", redis.1)).expect("url");
    let shared = || Options {
        redis: vec![url.clone()],
        ..Options::default()
    };
    let single = Bench::start(Options::default());
    let (a, b) = (Bench::start(shared()), Bench::start(shared()));

    println!(
        "SSE: {messages} messages {} ms apart, {} cores; latency and last delivery in ms",
        INTERVAL.as_millis(),
        cores()
    );
    println!(
        "{:<26} {:>6} {:>8} {:>8} {:>8} {:>10} {:>10}",
        "", "N", "p50", "p99", "max", "last p50", "last max"
    );
    for &n in sizes {
        let name = format!("single-{n}");
        let line = round(&single, &single, &name, n, messages);
        println!("{:<26} {n:>6} {line}", "one node");
        let name = format!("shared-{n}");
        let line = round(&a, &b, &name, n, messages);
        println!("{:<26} {n:>6} {line}", "A subscribes, B publishes");
    }

    let cpu_before = cpu_ms(redis.0.id());
    let through_redis = throughput(&b, "throughput", publishes);
    let redis_cpu = cpu_ms(redis.0.id()) - cpu_before;
    let alone = throughput(&single, "throughput", publishes);
    println!(
        "publish, one at a time: {alone:.0}/s on one node, {through_redis:.0}/s through Redis; \
         Redis CPU {:.1} µs per message",
        redis_cpu * 1000.0 / publishes as f64
    );
    drop((a, b, single));
    let _ = redis.0.kill();
    let _ = redis.0.wait();
}

/// One fan-out round of SSE subscribers on `subscribed`, the messages
/// published on `publisher`; the figures, formatted.
fn round(subscribed: &Bench, publisher: &Bench, name: &str, n: usize, messages: usize) -> String {
    let f = fan_out(subscribed, publisher, "sse", name, (n, messages), INTERVAL);
    format!(
        "{:>8.1} {:>8.1} {:>8.1} {:>10.1} {:>10.1}",
        f[0], f[1], f[2], f[3], f[4]
    )
}

/// Messages per second, published one after another on `node`'s hub.
fn throughput(node: &Bench, name: &str, count: usize) -> f64 {
    let channel = node.hub.channel(name).expect("channel");
    let start = Instant::now();
    for i in 0..count {
        channel.publish("message", &i.to_string()).expect("publish");
    }
    count as f64 / start.elapsed().as_secs_f64()
}

/// A `redis-server` on a free port, answering; `None` without the program.
fn start_redis() -> Option<(Child, u16)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Some((child, port))
}

/// A process's CPU time so far (user and system), in ms.
fn cpu_ms(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name (which ends with ')'): utime is the
    // 12th, stime the 13th, in clock ticks of 10 ms.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) * 10.0
}
