//! A std-only client of the plain TCP line protocol: prints a channel's
//! messages, and publishes what you type.
//!
//! ```sh
//! cargo run --release --features tcp -- --tcp-addr 127.0.0.1:9000     # the server
//! cargo run --example tcp_subscriber --features tcp -- 127.0.0.1:9000 news [since]
//! ```
//!
//! The whole protocol is `SUB channel [since]` once, then `PUB text` lines; the
//! server answers with one message JSON per line. The same with `nc`:
//! `printf 'SUB news\n' | nc 127.0.0.1 9000`.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::Arc;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(addr), Some(channel)) = (args.next(), args.next()) else {
        eprintln!("usage: tcp_subscriber HOST:PORT CHANNEL [SINCE]");
        std::process::exit(1);
    };
    let since = args.next().map(|s| format!(" {s}")).unwrap_or_default();
    let mut stream = TcpStream::connect(&addr).unwrap_or_else(|error| {
        eprintln!("tcp_subscriber: cannot connect to {addr}: {error}");
        std::process::exit(1);
    });
    stream
        .write_all(format!("SUB {channel}{since}\n").as_bytes())
        .expect("send SUB");

    // Lines typed on stdin are published, from a second thread sharing the
    // socket (`&TcpStream` is both Read and Write: no second descriptor).
    let stream = Arc::new(stream);
    let typing = Arc::clone(&stream);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if (&*typing)
                .write_all(format!("PUB {line}\n").as_bytes())
                .is_err()
            {
                return;
            }
        }
    });
    for line in BufReader::new(&*stream).lines() {
        match line {
            Ok(line) if line.is_empty() => {} // heartbeat
            Ok(line) => println!("{line}"),
            Err(error) => {
                eprintln!("tcp_subscriber: {error}");
                std::process::exit(1);
            }
        }
    }
}
