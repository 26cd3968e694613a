//! What the benchmarks share: a showcase server in this process, a child
//! process for the clients, the clock both read, and memory figures.
//!
//! Clients run in a child process (this same program, started with arguments
//! the benchmark recognises) because 10,000 connections have two ends and a
//! process here may hold at most 20,000 file descriptors.

#![allow(dead_code)]

use realtime_web::hub::Hub;
use realtime_web::server::{Config, Server, ShutdownHandle};
use realtime_web::showcase::{self, Options};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The showcase router, served from this process.
pub struct Bench {
    pub addr: SocketAddr,
    pub hub: Arc<Hub>,
    pub shutdown: ShutdownHandle,
    serving: Option<JoinHandle<io::Result<realtime_web::server::Stopped>>>,
}

impl Bench {
    pub fn start(options: Options) -> Bench {
        let config = Config {
            max_connections: 12_000,
            ..Config::default()
        };
        let server = Server::bind("127.0.0.1:0", config).expect("bind");
        let addr = server.local_addr();
        let hub = Arc::new(Hub::new(options.hub_config()));
        let shutdown = server.shutdown_handle();
        let closing = Arc::clone(&hub);
        server.on_shutdown(move || closing.close());
        let router = showcase::router(Arc::clone(&hub), &options);
        let serving = std::thread::spawn(move || server.serve(router));
        Bench {
            addr,
            hub,
            shutdown,
            serving: Some(serving),
        }
    }

    /// Waits until `n` readers wait on `channel` (at most two minutes).
    pub fn await_waiters(&self, channel: &str, n: usize) {
        let channel = self.hub.channel(channel).expect("channel");
        let deadline = Instant::now() + Duration::from_secs(120);
        while channel.waiters() < n {
            assert!(
                Instant::now() < deadline,
                "only {} of {n} readers arrived",
                channel.waiters()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits until the server's connection threads have seen their clients leave.
    pub fn await_idle(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.shutdown.open_connections() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        self.shutdown.shutdown();
        if let Some(serving) = self.serving.take() {
            serving.join().expect("serve thread").expect("serve");
        }
    }
}

/// Starts this program again as a client process, with `args`; its stdout is
/// piped back.
pub fn spawn_clients(args: &[String]) -> Child {
    Command::new(std::env::current_exe().expect("own path"))
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the clients")
}

/// Wall-clock nanoseconds: comparable between the two processes.
pub fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos()
}

pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A field of `/proc/self/status` in KiB, such as `VmRSS` or `VmHWM`.
pub fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resets the peak RSS (`VmHWM`) to the current RSS (Linux `clear_refs`, value 5).
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The value at quantile `q` of sorted `values`.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

/// One fan-out round: `n` subscribers of `transport` to `subscribed`'s
/// channel `name` (this program's child, see [`subscribers`]), then
/// `messages` messages published on `publisher`'s hub `interval` apart, each
/// carrying its send time. Returns the child's figures in ms — latency p50,
/// p99, max, and the last delivery's median and worst — once its clients
/// have left the server again.
pub fn fan_out(
    subscribed: &Bench,
    publisher: &Bench,
    transport: &str,
    name: &str,
    (n, messages): (usize, usize),
    interval: Duration,
) -> Vec<f64> {
    let child = spawn_clients(&[
        "--subscribers".into(),
        transport.into(),
        n.to_string(),
        messages.to_string(),
        format!("{}/{name}", subscribed.addr),
    ]);
    subscribed.await_waiters(name, n);
    let channel = publisher.hub.channel(name).expect("channel");
    for _ in 0..messages {
        channel
            .publish("message", &now_ns().to_string())
            .expect("publish");
        std::thread::sleep(interval);
    }
    let summary = output_of(child);
    subscribed.await_idle();
    summary
        .split_whitespace()
        .map(|f| f.parse().expect("a figure"))
        .collect()
}

/// Connects a raw client and sends `request`, with `patience` as its read
/// timeout. Clients connect one at a time, so that the server's listen
/// backlog (128 with std) never overflows.
pub fn send_request(addr: &str, request: &str, patience: Duration) -> TcpStream {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(patience)).expect("timeout");
    stream.write_all(request.as_bytes()).expect("send");
    stream
}

/// What a clients' child printed, once it has exited, and successfully:
/// a failed subscriber fails the benchmark.
pub fn output_of(mut child: Child) -> String {
    let mut out = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .expect("the child's output");
    assert!(
        child.wait().expect("subscribers").success(),
        "a subscriber failed"
    );
    out
}

/// The child of a fan-out benchmark (`--subscribers TRANSPORT N MESSAGES
/// ADDR/CHANNEL`): `n` streaming subscribers; prints `p50 p99 max last_p50 last_max` in ms.
pub fn subscribers(args: &[String]) {
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
        let mut stream = send_request(addr, &request, Duration::from_secs(120));
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
