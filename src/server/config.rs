//! The server's limits and timeouts, each with a safe default (the crate's
//! table of every limit is in `lib.rs`).

use crate::http::Limits;
use std::time::Duration;

/// Every limit and timeout of the server. Each field has a safe default.
#[derive(Clone, Debug)]
pub struct Config {
    /// Size limits for requests (request line, header section, field count,
    /// body).
    pub limits: Limits,
    /// How many connections may be open at once; the next one gets `503` and is
    /// closed. Default 10,000 (a process here may hold 20,000 file
    /// descriptors).
    pub max_connections: usize,
    /// How many threads the server may run for connections: one per
    /// connection, plus helpers that connections start (a channel's
    /// broadcaster, a slow subscriber's catch-up). Past it new connections get
    /// `503` and helpers are refused. Default 12,000.
    ///
    /// Each thread takes about four memory mappings (its stack and guard page,
    /// and the signal stack and guard page std sets up), and Linux allows a
    /// process 65,530 by default (`vm.max_map_count`). A thread that cannot get
    /// its signal stack aborts the whole process as it starts, so this limit,
    /// not the kernel's, must be the one that is reached.
    pub max_threads: usize,
    /// The stack size of each connection thread and helper thread. Default
    /// 512 KiB.
    ///
    /// Everything a request runs runs on it: parsing, the handler (a
    /// [`Router`](crate::http::Router)'s routes, an embedder's closures), a
    /// streamed body, a WebSocket session and its helpers. A handler whose
    /// frames pass it overflows the stack, and a stack overflow cannot be
    /// caught: the whole process aborts. So keep large buffers on the heap
    /// (`vec![0; n]`, not `[0; n]`), or raise this.
    ///
    /// A bigger stack costs address space, not memory: measured with 5,000
    /// held SSE streams (`examples/stack_cost.rs`), 128 KiB, 512 KiB and
    /// 1 MiB stacks gave the same resident memory per connection and the same
    /// four memory mappings per thread. What a thread does cost is the stack
    /// pages it touches, 4 KiB each, of which the top 4.25 KiB hold glibc's
    /// thread descriptor and TLS: in a release build, measured with 5,000
    /// held subscribers (`/proc/PID/smaps`), an SSE stream's, a long-poll's
    /// and a WebSocket session's thread each have 2 resident pages (8 KiB;
    /// peak RSS per subscriber 13.1, 11.6 and 13.4 KiB). Their deepest paths
    /// reach 7.8, 7.9 and 8.0 KiB of the 8: the WebSocket's (8,136 bytes)
    /// has about 50 bytes to spare, so a few more bytes on its handshake or
    /// its session cost a third page (4 KiB per connection); `.ci/run` fails
    /// when any of the three passes two pages (`stack_cost --budget-kib 8`).
    /// A handler with a 200 KB
    /// local array aborted the process at 128 KiB, and at 256 KiB in a debug
    /// build (which copies the array twice); 512 KiB is the smallest power of
    /// two that runs it in both, and 12,000 threads of it reserve 6 GiB of address
    /// space, which matters only under strict overcommit or `ulimit -v`.
    pub stack_size: usize,
    /// How long a connection may wait for the first byte of a request before it
    /// is closed quietly. Default 30 s.
    pub idle_timeout: Duration,
    /// How long a request head may take from its first byte to its end before
    /// the server answers `408` and closes. Default 10 s.
    pub header_timeout: Duration,
    /// How long a request body may take once its head was read; then `408` and
    /// close. Default 30 s.
    pub body_timeout: Duration,
    /// How long one write may block on a peer that does not read before the
    /// connection is dropped. Default 10 s.
    pub write_timeout: Duration,
    /// How long [`Server::serve`](super::Server::serve) waits for open connections to finish after
    /// shutdown before it cuts them off. Default 5 s.
    pub shutdown_timeout: Duration,
    /// How long the accept loop pauses after `accept` fails (for example for
    /// lack of file descriptors), so that it does not spin. Default 10 ms.
    pub accept_backoff: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            limits: Limits::default(),
            max_connections: 10_000,
            max_threads: 12_000,
            stack_size: 512 * 1024,
            idle_timeout: Duration::from_secs(30),
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(10),
            shutdown_timeout: Duration::from_secs(5),
            accept_backoff: Duration::from_millis(10),
        }
    }
}
