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
use std::io;
use std::net::SocketAddr;
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
