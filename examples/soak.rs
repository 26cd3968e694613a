//! Soak: minutes of churn against one server, then proof that nothing was lost
//! and nothing leaked.
//!
//! ```sh
//! cargo run --release --example soak            # 300 s, 40 clients at a time
//! cargo run --release --example soak -- 30 20   # 30 s, 20 clients
//! ```
//!
//! The server runs in this process, on 127.0.0.1. A publisher posts to one
//! channel every 5 ms; client threads open sessions of every transport (poll,
//! long-poll, JSONP, XHR streaming, forever frame, SSE, WebSocket), each for a
//! random 0.1–2 s, some publishing themselves, and end them cleanly or by
//! dropping the socket mid-stream. Every session checks that the ids it received
//! were consecutive — once each, in order, no holes — unless the server
//! announced a gap. At the end: the violations (must be 0), and the server's
//! threads, open file descriptors and RSS before, at the peak, and after, from
//! `/proc/self`. The load is bounded in time and client count and stops by
//! itself.

use realtime_web::hub::Hub;
use realtime_web::server::{Config, Server};
use realtime_web::showcase::{self, Options};
use realtime_web::transport::websocket::{connect, Message};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TRANSPORTS: [&str; 7] = [
    "poll",
    "long-poll",
    "jsonp",
    "stream",
    "iframe",
    "sse",
    "ws",
];

#[derive(Default)]
struct Tally {
    sessions: AtomicU64,
    messages: AtomicU64,
    gaps: AtomicU64,
    violations: AtomicU64,
    failures: AtomicU64,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(300);
    let clients: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(40);

    let before = Usage::now();
    let server = Server::bind("127.0.0.1:0", Config::default()).expect("bind");
    let addr = server.local_addr();
    let hub = Arc::new(Hub::new(Options::default().hub_config()));
    let closing = Arc::clone(&hub);
    server.on_shutdown(move || closing.close());
    let stop = server.shutdown_handle();
    let router = showcase::router(Arc::clone(&hub), &Options::default());
    let serving = std::thread::spawn(move || server.serve(router));
    let channel = hub.channel("soak").expect("channel");
    let started = Usage::now();

    let deadline = Instant::now() + Duration::from_secs(seconds);
    let tally = Arc::new(Tally::default());
    let publisher = {
        let channel = Arc::clone(&channel);
        std::thread::spawn(move || {
            let mut n = 0u64;
            while Instant::now() < deadline {
                n += 1;
                let _ = channel.publish("message", &format!("tick {n}"));
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let peak = Arc::new(std::sync::Mutex::new(started.clone()));
    let watcher = {
        let peak = Arc::clone(&peak);
        std::thread::spawn(move || {
            while Instant::now() < deadline {
                let now = Usage::now();
                let mut peak = peak.lock().expect("peak");
                *peak = peak.peak_with(&now);
                drop(peak);
                std::thread::sleep(Duration::from_millis(500));
            }
        })
    };
    let workers: Vec<_> = (0..clients)
        .map(|w| {
            let (tally, channel) = (Arc::clone(&tally), Arc::clone(&channel));
            std::thread::spawn(move || {
                let mut rng = (w as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                while Instant::now() < deadline {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    let transport = TRANSPORTS[(rng % 7) as usize];
                    let length = Duration::from_millis(100 + rng % 1900);
                    let abrupt = rng % 3 == 0;
                    let start = channel.last_id();
                    match session(addr, transport, start, length, abrupt, rng % 5 == 0) {
                        Ok(ids) => check(&tally, start, &ids),
                        Err(_) => {
                            tally.failures.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    tally.sessions.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.join();
    }
    let _ = publisher.join();
    let _ = watcher.join();

    // Let the server notice the last abrupt departures (streams notice at their
    // next write: publish a few more), then measure.
    for _ in 0..20 {
        let _ = channel.publish("message", "settle");
        std::thread::sleep(Duration::from_millis(100));
    }
    let settle = Instant::now() + Duration::from_secs(40);
    while stop.threads() > 0 && Instant::now() < settle {
        let _ = channel.publish("message", "settle");
        std::thread::sleep(Duration::from_millis(200));
    }
    let after = Usage::now();
    let peak = peak.lock().expect("peak").clone();

    println!("soak: {seconds} s, {clients} clients at a time, 127.0.0.1");
    println!(
        "sessions {}, messages checked {}, gaps announced {}, failed sessions {}, VIOLATIONS {}",
        tally.sessions.load(Ordering::Relaxed),
        tally.messages.load(Ordering::Relaxed),
        tally.gaps.load(Ordering::Relaxed),
        tally.failures.load(Ordering::Relaxed),
        tally.violations.load(Ordering::Relaxed),
    );
    println!("server connection threads left: {}", stop.threads());
    println!(
        "{:<22} {:>10} {:>10} {:>10} {:>10}",
        "", "before", "started", "peak", "after"
    );
    println!(
        "{:<22} {:>10} {:>10} {:>10} {:>10}",
        "threads", before.threads, started.threads, peak.threads, after.threads
    );
    println!(
        "{:<22} {:>10} {:>10} {:>10} {:>10}",
        "open descriptors", before.fds, started.fds, peak.fds, after.fds
    );
    println!(
        "{:<22} {:>10} {:>10} {:>10} {:>10}",
        "RSS KiB", before.rss_kib, started.rss_kib, peak.rss_kib, after.rss_kib
    );
    stop.shutdown();
    let _ = serving.join();
    if tally.violations.load(Ordering::Relaxed) > 0 {
        std::process::exit(1);
    }
}

/// Ids must start right after `start` and be consecutive; a `0` in the list
/// marks an announced gap, after which the replay may start later.
fn check(tally: &Tally, start: u64, ids: &[u64]) {
    let mut last: Option<u64> = Some(start);
    for &id in ids {
        if id == 0 {
            tally.gaps.fetch_add(1, Ordering::Relaxed);
            last = None;
            continue;
        }
        if let Some(last) = last {
            if id != last + 1 {
                tally.violations.fetch_add(1, Ordering::Relaxed);
                eprintln!("violation: {id} after {last}");
            }
        }
        last = Some(id);
        tally.messages.fetch_add(1, Ordering::Relaxed);
    }
}

/// One client session; returns the ids received in order (0 for a gap).
fn session(
    addr: SocketAddr,
    transport: &str,
    start: u64,
    length: Duration,
    abrupt: bool,
    publishes: bool,
) -> std::io::Result<Vec<u64>> {
    let end = Instant::now() + length;
    let mut ids = Vec::new();
    match transport {
        "ws" => {
            let mut ws = connect(&format!("ws://{addr}/channels/soak/ws?since={start}"))?;
            if publishes {
                let _ = ws.send_text("from a WebSocket client");
            }
            while Instant::now() < end {
                match ws.read() {
                    Ok(Message::Text(json)) => ids.push(json_id(&json)),
                    _ => break,
                }
            }
            if !abrupt {
                let _ = ws.close(1000, "");
            }
        }
        "poll" | "long-poll" | "jsonp" => {
            let stream = TcpStream::connect(addr)?;
            stream.set_read_timeout(Some(Duration::from_secs(10)))?;
            let mut reader = BufReader::new(stream);
            let mut cursor = start;
            while Instant::now() < end {
                let extra = match transport {
                    "poll" => "",
                    "long-poll" => "&timeout=300",
                    _ => "&timeout=300&callback=cb",
                };
                let request = format!("GET /channels/soak/{transport}?since={cursor}{extra} HTTP/1.1\r\nHost: soak\r\n\r\n");
                reader.get_mut().write_all(request.as_bytes())?;
                let body = read_body(&mut reader)?;
                if body.contains("\"gap\":true") {
                    ids.push(0);
                }
                ids.extend(
                    body.split("{\"id\":")
                        .skip(1)
                        .filter_map(|s| s.split(',').next()?.parse::<u64>().ok()),
                );
                cursor = body
                    .rsplit("\"next\":")
                    .next()
                    .and_then(|s| s.split(',').next()?.parse().ok())
                    .unwrap_or(cursor);
                if transport == "poll" {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            if publishes {
                let mut stream = TcpStream::connect(addr)?;
                stream.write_all(b"POST /channels/soak/publish HTTP/1.1\r\nHost: soak\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")?;
                let _ = stream.read_to_end(&mut Vec::new());
            }
        }
        _ => {
            // stream, iframe, sse: one response read as it arrives.
            let mut stream = TcpStream::connect(addr)?;
            stream.set_read_timeout(Some(Duration::from_millis(200)))?;
            let query = if transport == "sse" {
                format!("lastEventId={start}")
            } else {
                format!("since={start}")
            };
            stream.write_all(
                format!("GET /channels/soak/{transport}?{query} HTTP/1.1\r\nHost: soak\r\n\r\n")
                    .as_bytes(),
            )?;
            let mut pending = String::new();
            let mut buf = [0u8; 16384];
            while Instant::now() < end {
                match stream.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => pending.push_str(&String::from_utf8_lossy(&buf[..n])),
                    Err(_) => continue, // a read timeout: check the clock
                }
                // Take whole lines only.
                let Some(last_line) = pending.rfind('\n') else {
                    continue;
                };
                let complete: String = pending.drain(..=last_line).collect();
                for line in complete.lines() {
                    if line.contains("\"gap\":true") || line == "event: gap" {
                        ids.push(0);
                    } else if let Some(id) = line.strip_prefix("id: ") {
                        ids.push(id.trim().parse().unwrap_or(0));
                    } else if transport != "sse" {
                        ids.extend(
                            line.split("{\"id\":")
                                .skip(1)
                                .filter_map(|s| s.split(',').next()?.parse::<u64>().ok()),
                        );
                    }
                }
            }
            if !abrupt {
                let _ = stream.shutdown(std::net::Shutdown::Both);
            }
        }
    }
    Ok(ids)
}

fn json_id(json: &str) -> u64 {
    if json.contains("\"gap\":true") {
        return 0;
    }
    json.split("\"id\":")
        .nth(1)
        .and_then(|s| s.split(',').next()?.parse().ok())
        .unwrap_or(0)
}

/// Reads one Content-Length reply's body.
fn read_body(reader: &mut BufReader<TcpStream>) -> std::io::Result<String> {
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == "\r\n" {
            break;
        }
        if let Some(value) = line.strip_prefix("Content-Length: ") {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// Threads, open descriptors and RSS of this process, from `/proc/self`.
#[derive(Clone, Debug)]
struct Usage {
    threads: u64,
    fds: u64,
    rss_kib: u64,
}

impl Usage {
    fn now() -> Usage {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
                .unwrap_or(0)
        };
        Usage {
            threads: field("Threads:"),
            fds: std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64),
            rss_kib: field("VmRSS:"),
        }
    }

    fn peak_with(&self, other: &Usage) -> Usage {
        Usage {
            threads: self.threads.max(other.threads),
            fds: self.fds.max(other.fds),
            rss_kib: self.rss_kib.max(other.rss_kib),
        }
    }
}
