//! The floor of the thread-per-connection model for plain HTTP: the least any
//! server built like this one can do per request, to measure it against an
//! event loop (nginx) with the same client.
//!
//! ```sh
//! cargo run --release --example thread_floor -- 127.0.0.1:9010
//! wrk -t2 -c100 -d8s http://127.0.0.1:9010/
//! ```
//!
//! One thread per connection, as in this crate; each thread blocks in `read`,
//! counts the request heads that arrived (the blank line that ends each one)
//! and writes the same fixed `200` for each. Nothing else: no parsing, no
//! routing, no timeouts, no allocation per request, not even a `Date`. So a
//! request costs exactly what the model costs: one `recv` and one `send`, and
//! waking the connection's thread for them and putting it back to sleep.
//!
//! What it showed (README, "The floor of a thread per connection": `wrk`
//! against this floor, the showcase's `/health` and nginx's static location,
//! in turns, with each server's CPU time read from `/proc/PID/stat`): the
//! floor needs 11–13 µs of server CPU per request, nginx 7–8.5 µs, and `wrk`
//! itself pays 10–12.5 µs per request against a thread per connection but
//! 7.6–9.2 µs against nginx, whose event loop answers several connections per
//! wake-up. On 2 cores shared by client and server the floor reached
//! 0.74–0.76 of nginx's requests per second in three rounds, and the
//! showcase 0.82–0.94 of the floor.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;

/// The answer to every request.
const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n";

/// Where a request head ends (RFC 9112 §2.1: the empty line after the fields).
const HEAD_END: &[u8] = b"\r\n\r\n";

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9010".into());
    let listener = TcpListener::bind(&addr).expect("bind");
    println!(
        "thread floor on http://{}",
        listener.local_addr().expect("bound")
    );
    for stream in listener.incoming().flatten() {
        let spawned = thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || serve(stream));
        if let Err(e) = spawned {
            eprintln!("no thread for a connection: {e}");
        }
    }
}

/// Answers each request head on `stream` with [`RESPONSE`], pipelined ones
/// included, until the peer closes or a head outgrows the buffer.
fn serve(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut buf = [0u8; 4096];
    let mut have = 0;
    loop {
        match stream.read(&mut buf[have..]) {
            Ok(0) | Err(_) => return,
            Ok(n) => have += n,
        }
        let mut start = 0;
        let mut heads = 0;
        while let Some(end) = buf[start..have]
            .windows(HEAD_END.len())
            .position(|w| w == HEAD_END)
        {
            heads += 1;
            start += end + HEAD_END.len();
        }
        buf.copy_within(start..have, 0);
        have -= start;
        if have == buf.len() {
            return; // a head larger than the buffer: not this floor's case
        }
        for _ in 0..heads {
            if stream.write_all(RESPONSE).is_err() {
                return;
            }
        }
    }
}
