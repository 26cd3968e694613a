//! What a connection thread's stack size costs: the measurement behind the
//! default of `Config::stack_size`.
//!
//! ```sh
//! cargo run --release --example stack_cost                    # 128, 256, 512 KiB, 1 MiB
//! cargo run --release --example stack_cost -- 65536 131072    # other sizes, in bytes
//! cargo run --release --example stack_cost -- --connections 2000
//! cargo run --release --example stack_cost -- --transport ws  # or long-poll; sse by default
//! cargo run --release --example stack_cost -- --connections 300 --budget-kib 8 524288
//! cargo run --example stack_cost                              # debug: larger frames
//! ```
//!
//! For each stack size a fresh child process (this program again, so that no
//! figure carries over from the size before):
//!
//! 1. serves the showcase on `127.0.0.1:0` with that `stack_size` (and limits
//!    high enough not to interfere);
//! 2. reads its `VmRSS` and `Threads` (`/proc/self/status`) and counts its
//!    memory mappings (`/proc/self/maps`): the baseline;
//! 3. opens N subscribers of one kind (`--transport`: SSE to `/channels/c/sse`,
//!    long-polls to `/channels/c/long-poll`, WebSockets to `/channels/c/ws`)
//!    from raw sockets in the same process, at most [`CONNECT_BATCH`] at a
//!    time, each held open by one server thread (waiting on the hub, or
//!    reading its WebSocket);
//! 4. once the server counts them all, reads the figures again: RSS and
//!    virtual size (`VmSize`) per held connection above the baseline, threads,
//!    mappings per new thread, and how much of each thread's stack is resident
//!    (the `Rss` of the stack mappings in `/proc/self/smaps`, which includes
//!    the thread descriptor and TLS that glibc keeps at the top of the stack);
//! 5. publishes one message, checks that every subscriber receives it, and
//!    reads RSS again: the cost once every thread has written an event (a
//!    long-poll's thread then waits for its connection's next request).
//!
//! The resident stack per thread is the figure to watch when changing code on
//! a subscriber's path: each 4 KiB page a held connection's thread touched
//! stays resident, and every kind fits in two pages today (see
//! `Config::stack_size`). With `--budget-kib K` the program fails (exit 1)
//! when the median held thread has more than K KiB of stack resident, held or
//! after its delivery, or when a subscriber missed the message: `.ci/run`
//! checks each kind against 8 KiB, so a change that pushes a subscriber onto a
//! third page fails CI instead of costing 4 KiB per connection unnoticed.
//!
//! A second child per size serves one route whose handler puts a
//! [`DEEP_FRAME`]-byte array on its stack and requests it once: the route
//! answers, or the stack overflows and the child dies (std's guard-page handler
//! aborts with SIGABRT), which the parent reports.
//!
//! Linux only (it reads `/proc`). Both ends of every subscription are in the
//! child, so N subscribers take 2N file descriptors. Everything is on loopback
//! and a child gives up after [`GIVE_UP`].

use realtime_web::http::{Request, Response, Router};
use realtime_web::hub::Hub;
use realtime_web::server::{Config, Server, ShutdownHandle};
use realtime_web::showcase::{self, Options};
use realtime_web::transport::StreamConfig;
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::num::NonZeroUsize;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The stack sizes measured when none are given on the command line.
const DEFAULT_STACK_SIZES: [usize; 4] = [128 << 10, 256 << 10, 512 << 10, 1 << 20];
/// Subscribers held open per stack size, unless `--connections N` says otherwise.
const DEFAULT_CONNECTIONS: usize = 5_000;
/// `max_connections` and `max_threads` of the measured server: above any N
/// measured here, so that the server's own limits never refuse a subscriber.
const SERVER_LIMIT: usize = 16_000;
/// File descriptors a child needs besides two per subscriber.
const SPARE_FILES: usize = 100;
/// Subscribers connected before their response heads are read.
const CONNECT_BATCH: usize = 100;
/// Attempts to connect one subscriber before the child gives up.
const CONNECT_ATTEMPTS: u32 = 5;
/// The pause between two attempts.
const RETRY_PAUSE: Duration = Duration::from_millis(50);
/// The timeout of each connect, read and write on the client side.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a child may take for everything before it gives up.
const GIVE_UP: Duration = Duration::from_secs(60);
/// How often a child polls the server's counters while it waits.
const POLL: Duration = Duration::from_millis(10);
/// The streams' heartbeat: longer than a run, so that no thread writes (and
/// touches more of its stack) before the figures of held connections are read.
const QUIET_HEARTBEAT: Duration = Duration::from_secs(600);
/// The channel every subscriber listens to.
const CHANNEL: &str = "c";
/// The data of the one message published.
const MESSAGE: &str = "x";
/// The bytes the deep-frame route puts on its thread's stack.
const DEEP_FRAME: usize = 200_000;

/// The environment variable that makes this program a child, and what kind.
const ROLE_ENV: &str = "STACK_COST_ROLE";
/// The child that holds subscribers.
const ROLE_HOLD: &str = "hold";
/// The child that requests the deep frame.
const ROLE_DEEP: &str = "deep";
/// The stack size a child measures.
const STACK_ENV: &str = "STACK_COST_STACK_SIZE";
/// The number of subscribers a child holds.
const CONNECTIONS_ENV: &str = "STACK_COST_CONNECTIONS";
/// The kind of subscription a child holds.
const TRANSPORT_ENV: &str = "STACK_COST_TRANSPORT";

/// What the command line asks for.
struct Args {
    sizes: Vec<usize>,
    connections: usize,
    transport: Transport,
    /// The most KiB of stack the median held thread may have resident.
    budget_kib: Option<u64>,
}

/// The kind of subscription measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transport {
    Sse,
    LongPoll,
    WebSocket,
}

impl Transport {
    fn parse(name: &str) -> Option<Transport> {
        match name {
            "sse" => Some(Transport::Sse),
            "long-poll" => Some(Transport::LongPoll),
            "ws" => Some(Transport::WebSocket),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Transport::Sse => "sse",
            Transport::LongPoll => "long-poll",
            Transport::WebSocket => "ws",
        }
    }

    /// The subscription's request (a WebSocket's offers no extension).
    fn request(self) -> String {
        match self {
            Transport::Sse => format!("GET /channels/{CHANNEL}/sse HTTP/1.1\r\nHost: t\r\n\r\n"),
            Transport::LongPoll => {
                format!("GET /channels/{CHANNEL}/long-poll HTTP/1.1\r\nHost: t\r\n\r\n")
            }
            Transport::WebSocket => format!(
                "GET /channels/{CHANNEL}/ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                 Sec-WebSocket-Version: 13\r\n\r\n"
            ),
        }
    }

    /// How the response head begins; none for a long-poll, which answers
    /// only when the message comes.
    fn head(self) -> Option<&'static [u8]> {
        match self {
            Transport::Sse => Some(b"HTTP/1.1 200 "),
            Transport::LongPoll => None,
            Transport::WebSocket => Some(b"HTTP/1.1 101 "),
        }
    }

    /// Bytes that only the message's delivery contains.
    fn delivery(self) -> String {
        match self {
            Transport::Sse => format!("data: {MESSAGE}\n"),
            Transport::LongPoll | Transport::WebSocket => format!("\"data\":\"{MESSAGE}\""),
        }
    }
}
/// The prefix of a child's result line on its standard output.
const RESULT: &str = "result";
/// What the deep-frame child prints when the route answered.
const DEEP_ANSWERED: &str = "deep=answered";

fn main() {
    let outcome = match std::env::var(ROLE_ENV).as_deref() {
        Ok(ROLE_HOLD) => child_settings().and_then(|(stack, n, kind)| hold(stack, n, kind)),
        Ok(ROLE_DEEP) => child_settings().and_then(|(stack, _, _)| deep(stack)),
        _ => parent(),
    };
    if let Err(error) = outcome {
        eprintln!("stack_cost: {error}");
        std::process::exit(1);
    }
}

// ---------------------------------------------------------------------------
// The parent: one pair of children per stack size, and the table.

fn parent() -> Result<(), String> {
    let Args {
        sizes,
        connections,
        transport,
        budget_kib,
    } = parse_args(std::env::args().skip(1))?;
    if std::fs::metadata("/proc/self/status").is_err() {
        return Err("this measurement reads /proc and needs Linux".into());
    }
    print_machine();
    println!("held subscriptions: {}", transport.name());
    println!();
    print_heading();
    let mut over_budget = Vec::new();
    for &stack in &sizes {
        let (line, verdict) = match run_child(ROLE_HOLD, stack, connections, transport)? {
            (status, stdout, _) if status.success() => match Figures::parse(&stdout) {
                Some(figures) => (
                    figures.row(stack, connections),
                    budget_kib.and_then(|budget| figures.over(budget, connections)),
                ),
                None => (
                    format!("{:>8} no result line in {stdout:?}", kib(stack)),
                    Some("no figures".into()),
                ),
            },
            (status, _, _) => (
                format!("{:>8} the child failed: {}", kib(stack), describe(status)),
                Some("the child failed".into()),
            ),
        };
        let frame = deep_frame(stack, transport)?;
        println!("{line} {frame}");
        if let Some(why) = verdict.filter(|_| budget_kib.is_some()) {
            over_budget.push(format!("{}: {why}", kib(stack)));
        }
    }
    if !over_budget.is_empty() {
        return Err(format!(
            "over the budget ({} subscribers): {}",
            transport.name(),
            over_budget.join("; ")
        ));
    }
    Ok(())
}

/// `[--connections N] [--transport sse|long-poll|ws] [--budget-kib K]
/// [STACK_SIZE_BYTES...]`.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut sizes = Vec::new();
    let mut connections = DEFAULT_CONNECTIONS;
    let mut transport = Transport::Sse;
    let mut budget_kib = None;
    while let Some(arg) = args.next() {
        if arg == "--connections" {
            let n = args.next().ok_or("--connections needs a number")?;
            connections = n.parse().map_err(|_| format!("not a count: {n:?}"))?;
        } else if arg == "--transport" {
            let name = args
                .next()
                .ok_or("--transport needs sse, long-poll or ws")?;
            transport = Transport::parse(&name)
                .ok_or_else(|| format!("not sse, long-poll or ws: {name:?}"))?;
        } else if arg == "--budget-kib" {
            let k = args.next().ok_or("--budget-kib needs a number")?;
            budget_kib = Some(k.parse().map_err(|_| format!("not KiB: {k:?}"))?);
        } else {
            let size = arg
                .parse()
                .map_err(|_| format!("not a stack size in bytes: {arg:?}"))?;
            sizes.push(size);
        }
    }
    if sizes.is_empty() {
        sizes.extend(DEFAULT_STACK_SIZES);
    }
    let limit = open_files_limit().and_then(|n| usize::try_from(n).ok());
    let needed = connections.saturating_mul(2).saturating_add(SPARE_FILES);
    if limit.is_some_and(|limit| needed > limit) {
        return Err(format!(
            "{connections} subscribers need about {needed} file descriptors; the limit is lower"
        ));
    }
    Ok(Args {
        sizes,
        connections,
        transport,
        budget_kib,
    })
}

/// What the figures depend on besides the stack size.
fn print_machine() {
    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let cpus = thread::available_parallelism().map_or(0, NonZeroUsize::get);
    let memory = field(&read_trimmed("/proc/meminfo"), "MemTotal:").map_or(0, |kib| kib >> 20);
    let map_count = read_trimmed("/proc/sys/vm/max_map_count");
    let thp = read_trimmed("/sys/kernel/mm/transparent_hugepage/enabled");
    let files = open_files_limit().map_or_else(|| "?".to_owned(), |n| n.to_string());
    println!("build {build}; {cpus} CPUs; {memory} GiB RAM; vm.max_map_count {map_count}; open files {files}; THP {thp}");
}

/// The deep-frame child for `stack`, described.
fn deep_frame(stack: usize, transport: Transport) -> Result<String, String> {
    let (status, stdout, stderr) = run_child(ROLE_DEEP, stack, 0, transport)?;
    if status.success() && stdout.contains(DEEP_ANSWERED) {
        return Ok("survived".into());
    }
    let why = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let verb = if signal(status).is_some() {
        "died"
    } else {
        "failed"
    };
    Ok(format!("{verb}, {} ({})", describe(status), why.trim()))
}

/// Runs this program as a child of `role`; its standard error is shown unless
/// it is the deep-frame child, whose crash message is part of the result.
fn run_child(
    role: &str,
    stack: usize,
    connections: usize,
    transport: Transport,
) -> Result<(ExitStatus, String, String), String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut command = Command::new(exe);
    command
        .env(ROLE_ENV, role)
        .env(STACK_ENV, stack.to_string())
        .env(CONNECTIONS_ENV, connections.to_string())
        .env(TRANSPORT_ENV, transport.name())
        .stdin(Stdio::null());
    if role == ROLE_HOLD {
        command.stderr(Stdio::inherit());
    }
    let output = command.output().map_err(|e| format!("run a child: {e}"))?;
    Ok((
        output.status,
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    ))
}

fn describe(status: ExitStatus) -> String {
    match signal(status) {
        Some(6) => "SIGABRT".into(),
        Some(7) => "SIGBUS".into(),
        Some(11) => "SIGSEGV".into(),
        Some(n) => format!("signal {n}"),
        None => status.to_string(),
    }
}

#[cfg(unix)]
fn signal(status: ExitStatus) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    status.signal()
}

#[cfg(not(unix))]
fn signal(_: ExitStatus) -> Option<i32> {
    None
}

/// A size for people: `128 KiB`, `1 MiB`.
fn kib(bytes: usize) -> String {
    if bytes >= 1 << 20 && bytes % (1 << 20) == 0 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{} KiB", bytes as f64 / 1024.0)
    }
}

/// The table's columns: width, and two lines of heading.
const COLUMNS: [(usize, &str, &str); 12] = [
    (8, "stack", "size"),
    (6, "conns", ""),
    (9, "RSS held", "MiB"),
    (9, "KiB/conn", "held"),
    (9, "KiB/conn", "after 1"),
    (9, "virt KiB", "per conn"),
    (8, "stack", "mapped"),
    (9, "stack KiB", "resident"),
    (9, "stack KiB", "after 1"),
    (8, "threads", ""),
    (8, "maps per", "thread"),
    (10, "delivered", ""),
];

fn print_heading() {
    for line in 0..2 {
        let mut out = String::new();
        for (width, first, second) in COLUMNS {
            let text = if line == 0 { first } else { second };
            out.push_str(&format!("{text:>width$} "));
        }
        out.push_str(if line == 0 { " 200 KB frame" } else { "" });
        println!("{}", out.trim_end());
    }
}

/// What a hold child measured, as it printed it: `result key=value ...`.
struct Figures {
    base_rss: u64,
    base_vm: u64,
    base_threads: u64,
    base_maps: u64,
    held_rss: u64,
    held_vm: u64,
    held_threads: u64,
    held_maps: u64,
    stacks: u64,
    stack_mapped: u64,
    held_stack_rss: u64,
    held_stack_median: u64,
    delivered: u64,
    after_rss: u64,
    after_stack_rss: u64,
    after_stack_median: u64,
}

impl Figures {
    fn parse(stdout: &str) -> Option<Figures> {
        let line = stdout.lines().find(|l| l.starts_with(RESULT))?;
        let field = |key: &str| -> Option<u64> {
            line.split_whitespace()
                .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))?
                .parse()
                .ok()
        };
        Some(Figures {
            base_rss: field("base_rss_kib")?,
            base_vm: field("base_vm_kib")?,
            base_threads: field("base_threads")?,
            base_maps: field("base_maps")?,
            held_rss: field("held_rss_kib")?,
            held_vm: field("held_vm_kib")?,
            held_threads: field("held_threads")?,
            held_maps: field("held_maps")?,
            stacks: field("stacks")?,
            stack_mapped: field("stack_mapped_kib")?,
            held_stack_rss: field("held_stack_rss_kib")?,
            held_stack_median: field("held_stack_median_kib")?,
            delivered: field("delivered")?,
            after_rss: field("after_rss_kib")?,
            after_stack_rss: field("after_stack_rss_kib")?,
            after_stack_median: field("after_stack_median_kib")?,
        })
    }

    /// The table's row, per connection where it says so: above the baseline,
    /// divided by the subscribers (RSS) or by the stacks found (stack RSS).
    /// Why these figures break a budget of `budget` KiB of resident stack
    /// for the median held thread with `n` subscribers, if they do.
    fn over(&self, budget: u64, n: usize) -> Option<String> {
        if self.held_stack_median > budget || self.after_stack_median > budget {
            return Some(format!(
                "the median thread has {} KiB of stack resident held, {} KiB after its delivery",
                self.held_stack_median, self.after_stack_median
            ));
        }
        (self.delivered != n as u64).then(|| format!("{} of {n} delivered", self.delivered))
    }

    fn row(&self, stack: usize, n: usize) -> String {
        let above = |rss: u64| rss.saturating_sub(self.base_rss) as f64;
        let per_stack = |rss: u64| rss as f64 / self.stacks.max(1) as f64;
        let new_threads = self.held_threads.saturating_sub(self.base_threads).max(1);
        let new_maps = self.held_maps.saturating_sub(self.base_maps);
        let cells = [
            kib(stack),
            n.to_string(),
            format!("{:.1}", above(self.held_rss) / 1024.0),
            format!("{:.1}", above(self.held_rss) / n as f64),
            format!("{:.1}", above(self.after_rss) / n as f64),
            format!(
                "{:.0}",
                self.held_vm.saturating_sub(self.base_vm) as f64 / n as f64
            ),
            format!("{} KiB", self.stack_mapped),
            format!("{:.1}", per_stack(self.held_stack_rss)),
            format!("{:.1}", per_stack(self.after_stack_rss)),
            self.held_threads.to_string(),
            format!("{:.2}", new_maps as f64 / new_threads as f64),
            format!("{}/{n}", self.delivered),
        ];
        let mut out = String::new();
        for ((width, _, _), cell) in COLUMNS.iter().zip(cells) {
            out.push_str(&format!("{cell:>width$} "));
        }
        if self.stacks != n as u64 {
            out.push_str(&format!(
                "(stack figures over {} stacks found) ",
                self.stacks
            ));
        }
        out
    }
}

// ---------------------------------------------------------------------------
// The hold child: N subscribers on one showcase server.

fn child_settings() -> Result<(usize, usize, Transport), String> {
    let number = |key: &str| -> Result<usize, String> {
        std::env::var(key)
            .ok()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{key} is not set to a number"))
    };
    let transport = std::env::var(TRANSPORT_ENV)
        .ok()
        .and_then(|name| Transport::parse(&name))
        .ok_or_else(|| format!("{TRANSPORT_ENV} is not sse, long-poll or ws"))?;
    Ok((number(STACK_ENV)?, number(CONNECTIONS_ENV)?, transport))
}

fn hold(stack_size: usize, n: usize, transport: Transport) -> Result<(), String> {
    let deadline = Instant::now() + GIVE_UP;
    let config = Config {
        stack_size,
        max_connections: SERVER_LIMIT,
        max_threads: SERVER_LIMIT,
        ..Config::default()
    };
    let options = Options {
        stream: StreamConfig {
            heartbeat: QUIET_HEARTBEAT,
            ..StreamConfig::default()
        },
        ..Options::default()
    };
    let server = Server::bind("127.0.0.1:0", config).map_err(|e| format!("bind: {e}"))?;
    let addr = server.local_addr();
    let hub = Arc::new(Hub::new(options.hub_config()));
    let closing = Arc::clone(&hub);
    server.on_shutdown(move || closing.close());
    let shutdown = server.shutdown_handle();
    let router = showcase::router(Arc::clone(&hub), &options);
    let serving = thread::spawn(move || server.serve(router));
    let channel = hub
        .channel(CHANNEL)
        .map_err(|e| format!("channel: {e:?}"))?;

    // One request end to end, so that the accept loop, the spawner and the
    // first connection thread have run before the baseline.
    let mut warm = request(
        addr,
        "GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )?;
    let mut sink = Vec::new();
    warm.read_to_end(&mut sink)
        .map_err(|e| format!("warm-up: {e}"))?;
    wait_for("the warm-up connection to close", deadline, || {
        shutdown.open_connections() == 0
    })?;
    thread::sleep(Duration::from_millis(100)); // its thread exits after it unregisters
    let base = Snapshot::take()?;

    let started = Instant::now();
    let mut subscribers = Vec::with_capacity(n);
    while subscribers.len() < n {
        let batch = CONNECT_BATCH.min(n - subscribers.len());
        let mut opened = Vec::with_capacity(batch);
        for _ in 0..batch {
            opened.push(request(addr, &transport.request())?);
        }
        if let Some(head) = transport.head() {
            for stream in &mut opened {
                read_head(stream, head)?;
            }
        }
        subscribers.append(&mut opened);
        if Instant::now() > deadline {
            return Err(format!(
                "only {} subscribers in {GIVE_UP:?}",
                subscribers.len()
            ));
        }
    }
    wait_for("the server to hold every subscriber", deadline, || {
        shutdown.open_connections() == n && channel.waiters() == n
    })?;
    let connect_ms = started.elapsed().as_millis();
    let held = Snapshot::take()?;
    let held_stacks = Stacks::find(stack_size)?;

    for stream in &mut subscribers {
        drain(stream)?;
    }
    channel
        .publish("message", MESSAGE)
        .map_err(|e| format!("publish: {e:?}"))?;
    let event = transport.delivery();
    let mut delivered = 0;
    for stream in &mut subscribers {
        if Instant::now() > deadline {
            break;
        }
        if receives(stream, event.as_bytes()) {
            delivered += 1;
        }
    }
    // A stream's or WebSocket's thread goes back to the channel; a
    // long-poll's, answered, waits for its connection's next request.
    let waiting = if transport == Transport::LongPoll {
        0
    } else {
        n
    };
    wait_for("every thread to wait again", deadline, || {
        channel.waiters() == waiting
    })?;
    let after = Snapshot::take()?;
    let after_stacks = Stacks::find(stack_size)?;

    println!(
        "{RESULT} stack={stack_size} connections={n} connect_ms={connect_ms} \
         base_rss_kib={} base_vm_kib={} base_threads={} base_maps={} \
         held_rss_kib={} held_vm_kib={} held_threads={} held_maps={} \
         stacks={} stack_mapped_kib={} held_stack_rss_kib={} held_stack_median_kib={} \
         delivered={delivered} after_rss_kib={} after_stack_rss_kib={} after_stack_median_kib={}",
        base.rss_kib,
        base.vm_kib,
        base.threads,
        base.maps,
        held.rss_kib,
        held.vm_kib,
        held.threads,
        held.maps,
        held_stacks.count,
        held_stacks.mapped_kib,
        held_stacks.rss_kib,
        held_stacks.median_kib,
        after.rss_kib,
        after_stacks.rss_kib,
        after_stacks.median_kib,
    );
    stop(&shutdown, serving);
    drop(subscribers);
    Ok(())
}

/// Connects (retrying a few times), sets the timeouts and sends `raw`.
fn request(addr: SocketAddr, raw: &str) -> Result<TcpStream, String> {
    let mut attempt = 1;
    let mut stream = loop {
        match TcpStream::connect_timeout(&addr, IO_TIMEOUT) {
            Ok(stream) => break stream,
            Err(e) if attempt >= CONNECT_ATTEMPTS => return Err(format!("connect: {e}")),
            Err(_) => {
                attempt += 1;
                thread::sleep(RETRY_PAUSE);
            }
        }
    };
    let setup = stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(IO_TIMEOUT)))
        .and_then(|()| stream.write_all(raw.as_bytes()));
    setup.map_err(|e| format!("send a request: {e}"))?;
    Ok(stream)
}

/// Reads up to the end of a response head, which must begin with `expected`
/// (its status line). Bytes of the body read with it are left for [`drain`]
/// to discard.
fn read_head(stream: &mut TcpStream, expected: &[u8]) -> Result<(), String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !contains(&head, b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) => return Err("the server closed a subscription".into()),
            Ok(len) => head.extend_from_slice(&buf[..len]),
            Err(e) => return Err(format!("read a response head: {e}")),
        }
    }
    if !head.starts_with(expected) {
        let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
        return Err(format!("refused: {}", String::from_utf8_lossy(line)));
    }
    Ok(())
}

/// Discards whatever has arrived (the stream's `retry:` line), so that the next
/// read sees only what comes after.
fn drain(stream: &mut TcpStream) -> Result<(), String> {
    stream.set_nonblocking(true).map_err(|e| e.to_string())?;
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Err("the server closed a subscription".into()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(format!("drain: {e}")),
        }
    }
    stream.set_nonblocking(false).map_err(|e| e.to_string())
}

/// Whether `needle` arrives on `stream` within its read timeout.
fn receives(stream: &mut TcpStream, needle: &[u8]) -> bool {
    let mut seen = Vec::new();
    let mut buf = [0u8; 512];
    while !contains(&seen, needle) {
        match stream.read(&mut buf) {
            Ok(len) if len > 0 && seen.len() < 4096 => seen.extend_from_slice(&buf[..len]),
            _ => return false,
        }
    }
    true
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn wait_for(what: &str, deadline: Instant, mut done: impl FnMut() -> bool) -> Result<(), String> {
    while !done() {
        if Instant::now() > deadline {
            return Err(format!("gave up waiting for {what}"));
        }
        thread::sleep(POLL);
    }
    Ok(())
}

fn stop(shutdown: &ShutdownHandle, serving: JoinHandle<io::Result<realtime_web::server::Stopped>>) {
    shutdown.shutdown();
    let _ = serving.join();
}

/// The process's resident memory, threads and mappings at one moment.
struct Snapshot {
    rss_kib: u64,
    /// Virtual size: what the stacks reserve, touched or not.
    vm_kib: u64,
    threads: u64,
    maps: u64,
}

impl Snapshot {
    fn take() -> Result<Snapshot, String> {
        let read = |path| std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"));
        let (status, maps) = (read("/proc/self/status")?, read("/proc/self/maps")?);
        let missing = |what| format!("no {what} in /proc/self/status");
        Ok(Snapshot {
            rss_kib: field(&status, "VmRSS:").ok_or_else(|| missing("VmRSS"))?,
            vm_kib: field(&status, "VmSize:").ok_or_else(|| missing("VmSize"))?,
            threads: field(&status, "Threads:").ok_or_else(|| missing("Threads"))?,
            maps: maps.lines().count() as u64,
        })
    }
}

/// The connection threads' stacks, found in `/proc/self/smaps`.
#[derive(Default)]
struct Stacks {
    /// How many there are.
    count: u64,
    /// The size of each mapping: the requested size, or std's minimum if that
    /// is larger.
    mapped_kib: u64,
    /// Their resident KiB, summed.
    rss_kib: u64,
    /// The median resident KiB of one: the subscribers' own, whatever a few
    /// other threads of the same stack size (a broadcaster) touched.
    median_kib: u64,
}

impl Stacks {
    /// A thread stack is an anonymous read-write mapping right above a `---p`
    /// one, its guard page. std's signal stacks look alike but are smaller
    /// than any stack measured here; the main thread's stack is named
    /// `[stack]`. Among those of `at_least` bytes or more, the connection
    /// threads' are the most common size, since every held subscriber has one.
    fn find(at_least: usize) -> Result<Stacks, String> {
        let smaps = std::fs::read_to_string("/proc/self/smaps")
            .map_err(|e| format!("/proc/self/smaps: {e}"))?;
        let mut guarded: Vec<(usize, u64)> = Vec::new(); // (size, resident KiB)
        let mut previous: Option<(usize, bool)> = None; // (end, is a guard)
        let mut current = false;
        for line in smaps.lines() {
            let mut fields = line.split_whitespace();
            let Some(first) = fields.next() else { continue };
            if first.ends_with(':') {
                if let (true, "Rss:", Some(kib)) = (current, first, fields.next()) {
                    if let Some(last) = guarded.last_mut() {
                        last.1 = kib.parse().unwrap_or(0);
                    }
                }
                continue;
            }
            let Some((start, end)) = first.split_once('-').and_then(|(start, end)| {
                Some((
                    usize::from_str_radix(start, 16).ok()?,
                    usize::from_str_radix(end, 16).ok()?,
                ))
            }) else {
                continue;
            };
            let perms = fields.next().unwrap_or("");
            let anonymous = fields.nth(3).is_none(); // offset, device, inode, no path
            current = perms == "rw-p"
                && anonymous
                && previous == Some((start, true))
                && end - start >= at_least;
            if current {
                guarded.push((end - start, 0));
            }
            previous = Some((end, perms == "---p"));
        }
        let mut counts: HashMap<usize, usize> = HashMap::new();
        for &(size, _) in &guarded {
            *counts.entry(size).or_default() += 1;
        }
        let Some(common) = counts
            .into_iter()
            .max_by_key(|&(_, n)| n)
            .map(|(size, _)| size)
        else {
            return Ok(Stacks::default());
        };
        let mut resident: Vec<u64> = guarded
            .iter()
            .filter(|&&(size, _)| size == common)
            .map(|&(_, rss)| rss)
            .collect();
        resident.sort_unstable();
        Ok(Stacks {
            count: resident.len() as u64,
            mapped_kib: common as u64 / 1024,
            rss_kib: resident.iter().sum(),
            median_kib: resident.get(resident.len() / 2).copied().unwrap_or(0),
        })
    }
}

// ---------------------------------------------------------------------------
// The deep-frame child.

fn deep(stack_size: usize) -> Result<(), String> {
    let config = Config {
        stack_size,
        ..Config::default()
    };
    let server = Server::bind("127.0.0.1:0", config).map_err(|e| format!("bind: {e}"))?;
    let addr = server.local_addr();
    let shutdown = server.shutdown_handle();
    let router = Router::new().get("/deep", |_: Request| {
        let frame = std::hint::black_box([7u8; DEEP_FRAME]);
        Response::text(frame[DEEP_FRAME - 1].to_string())
    });
    let serving = thread::spawn(move || server.serve(router));
    let mut stream = request(
        addr,
        "GET /deep HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )?;
    let mut reply = String::new();
    stream
        .read_to_string(&mut reply)
        .map_err(|e| format!("read the reply: {e}"))?;
    if !reply.starts_with("HTTP/1.1 200 ") || !reply.ends_with("\r\n\r\n7") {
        return Err(format!("unexpected reply {reply:?}"));
    }
    println!("{RESULT} {DEEP_ANSWERED}");
    stop(&shutdown, serving);
    Ok(())
}

// ---------------------------------------------------------------------------
// /proc.

/// The number after `key` in the text of a `key value [kB]` file such as
/// `/proc/self/status`.
fn field(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(key))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path).map_or_else(|_| "?".to_owned(), |s| s.trim().to_owned())
}

/// The soft limit on open files, from `/proc/self/limits`.
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}
