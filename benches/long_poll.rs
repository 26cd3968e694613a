//! How fast one publish reaches N waiting long-pollers.
//!
//! `cargo bench --bench long_poll` measures 1,000 and 10,000 waiters; without
//! `--bench` (as in `cargo test --benches`) it runs 100 as a smoke test.
//!
//! The server runs in this process; the clients run in a child process (this
//! same program, started with `--clients N ADDR`; see `support`).
//! Each client is a thread blocked reading its long-poll reply; it notes the
//! wall-clock time the reply completed. Once all N requests wait on the channel's
//! `Condvar`, this process notes the time and publishes once. The latency of a
//! client is its completion time minus the publish time (both processes read the
//! same system clock). "all woken" is the server's side alone: the time until
//! every waiter has left `wait_after` with its batch. All traffic is on
//! 127.0.0.1 and stops by itself.

mod support;

use realtime_web::showcase::Options;
use std::io::{BufRead, BufReader, Read, Write};
use std::time::{Duration, Instant};
use support::*;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--clients") {
        let n: usize = args[i + 1].parse().expect("client count");
        clients(n, &args[i + 2]);
        return;
    }
    let full = args.iter().any(|a| a == "--bench");
    let sizes: &[usize] = if full { &[1_000, 10_000] } else { &[100] };
    let bench = Bench::start(Options::default());

    println!("one publish to N waiting long-pollers, {} cores", cores());
    println!(
        "{:>8} {:>14} {:>10} {:>10} {:>10}",
        "waiters", "all woken ms", "p50 ms", "p99 ms", "last ms"
    );
    for &n in sizes {
        let name = format!("bench-{n}");
        let mut child = spawn_clients(&[
            "--clients".into(),
            n.to_string(),
            format!("{}/{name}", bench.addr),
        ]);
        bench.await_waiters(&name, n);
        let channel = bench.hub.channel(&name).expect("channel");
        let published = now_ns();
        let start = Instant::now();
        channel.publish("message", "tick").expect("publish");
        // Server side: until every waiter has left the Condvar with its batch.
        while channel.waiters() > 0 {
            std::thread::sleep(Duration::from_micros(200));
        }
        let woken = start.elapsed().as_secs_f64() * 1e3;

        let mut latencies: Vec<f64> = BufReader::new(child.stdout.take().expect("stdout"))
            .lines()
            .map(|line| {
                let done: u128 = line.expect("line").parse().expect("a time");
                done.saturating_sub(published) as f64 / 1e6
            })
            .collect();
        assert!(child.wait().expect("clients").success(), "a client failed");
        assert_eq!(latencies.len(), n, "every waiter answered");
        latencies.sort_by(f64::total_cmp);
        println!(
            "{n:>8} {woken:>14.1} {:>10.1} {:>10.1} {:>10.1}",
            quantile(&latencies, 0.50),
            quantile(&latencies, 0.99),
            latencies[n - 1]
        );
        bench.await_idle();
    }
}

/// The child: `n` connections each waiting on `/channels/{name}/long-poll`;
/// prints each reply's completion time, one per line.
fn clients(n: usize, target: &str) {
    let (addr, name) = target.split_once('/').expect("ADDR/CHANNEL");
    let request = format!(
        "GET /channels/{name}/long-poll?since=0&timeout=60000 HTTP/1.1\r\nHost: bench\r\n\r\n"
    );
    // Each thread sends its time and then parks for good; the process exits once
    // all times are in. Threads exiting one by one would unmap their stacks
    // under the process's memory lock (stalling the others' reads), and a
    // Barrier would make them queue on its mutex.
    let (times, collected) = std::sync::mpsc::channel::<u128>();
    for _ in 0..n {
        let times = times.clone();
        let mut stream = send_request(addr, &request, Duration::from_secs(90));
        std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || {
                let mut reply = Vec::new();
                let mut buf = [0u8; 1024];
                loop {
                    let got = stream.read(&mut buf).expect("read");
                    assert!(got > 0, "closed before the reply");
                    reply.extend_from_slice(&buf[..got]);
                    if reply.ends_with(b"}") {
                        break; // the batch JSON's last byte
                    }
                }
                let done = now_ns();
                assert!(
                    reply.starts_with(b"HTTP/1.1 200"),
                    "{}",
                    String::from_utf8_lossy(&reply)
                );
                times.send(done).expect("main thread");
                loop {
                    std::thread::park();
                }
            })
            .expect("thread");
    }
    drop(times);
    let mut out = std::io::stdout().lock();
    for time in collected.iter().take(n) {
        writeln!(out, "{time}").expect("stdout");
    }
    out.flush().expect("stdout");
    std::process::exit(0);
}
