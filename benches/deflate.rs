//! permessage-deflate's cost and gain: compression ratio and CPU time per
//! message, both ways, for the showcase's channel messages and for 1 KiB and
//! 64 KiB of JSON.
//!
//! `cargo bench --bench deflate` compresses each payload 2,000 times (64 KiB:
//! 200), as a channel subscriber's frame is (each message alone, a 256-byte
//! window) and as `/echo`'s are (a 32 KiB window, context kept); without
//! `--bench` it runs 20 of each as a smoke test. No network.

use realtime_web::codec::deflate::Deflater;
use realtime_web::codec::inflate::Inflater;
use std::time::Instant;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let showcase =
        r#"{"id":1234,"event":"message","data":"hello from the showcase page, 12:34:56"}"#;
    let json = |bytes: usize| {
        let mut out = String::from("[");
        let mut i = 0;
        while out.len() < bytes {
            out.push_str(&format!(
                r#"{{"id":{i},"event":"reading","data":{{"celsius":{}.{},"sensor":"s-{}"}}}},"#,
                20 + i % 7,
                i % 10,
                i % 13
            ));
            i += 1;
        }
        out.truncate(bytes - 1);
        out.push(']');
        out
    };
    let cases = [
        ("showcase message", showcase.to_owned(), 2_000),
        ("1 KiB JSON", json(1024), 2_000),
        ("64 KiB JSON", json(64 * 1024), 200),
    ];
    println!(
        "{:<18} {:>8} {:>24} {:>12} {:>12}",
        "payload", "bytes", "compressed (ratio)", "deflate µs", "inflate µs"
    );
    for (name, payload, rounds) in cases {
        let rounds = if full { rounds } else { 20 };
        for (setting, bits, alone) in [("alone, 2^8", 8u8, true), ("context, 2^15", 15, false)] {
            let mut deflater = Deflater::new(bits);
            let mut inflater = Inflater::new(bits);
            let mut compressed = Vec::new();
            let (mut deflate_ns, mut inflate_ns) = (0u128, 0u128);
            for _ in 0..rounds {
                if alone {
                    deflater.reset();
                    inflater.reset();
                }
                compressed.clear();
                let start = Instant::now();
                deflater.compress(payload.as_bytes(), &mut compressed);
                deflate_ns += start.elapsed().as_nanos();
                let mut input = compressed.clone();
                input.extend_from_slice(&[0, 0, 0xff, 0xff]);
                let mut out = Vec::new();
                let start = Instant::now();
                inflater
                    .inflate(&input, &mut out, 1 << 24)
                    .expect("inflates");
                inflate_ns += start.elapsed().as_nanos();
                assert_eq!(out, payload.as_bytes());
            }
            println!(
                "{:<18} {:>8} {:>14} ({:>5.2}) {:>12.1} {:>12.1}   {setting}",
                name,
                payload.len(),
                compressed.len(),
                compressed.len() as f64 / payload.len() as f64,
                deflate_ns as f64 / rounds as f64 / 1000.0,
                inflate_ns as f64 / rounds as f64 / 1000.0,
            );
        }
    }
}
