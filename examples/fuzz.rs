//! The parsers' mutation fuzzer, run for as long as asked, with the rate.
//!
//! ```sh
//! cargo run --release --example fuzz            # 10 s per target
//! cargo run --release --example fuzz -- 60 42   # 60 s per target, seed 42
//! ```
//!
//! The same targets and properties as `tests/fuzz.rs` (see
//! `tests/common/fuzz.rs`): no parser may panic, and each answer must be a parse,
//! "need more" or a typed error, the same however the input is split. A failing
//! case stops the run and prints its target, seed and case number.

#[path = "../tests/common/fuzz.rs"]
mod fuzz;

use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(10);
    let seed: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(1);
    println!("{seconds} s per target, seed {seed}");
    for (i, (name, case)) in fuzz::TARGETS.iter().enumerate() {
        let seed = seed.wrapping_mul(1000) + i as u64;
        let mut rng = fuzz::Rng::new(seed);
        let start = Instant::now();
        let mut cases: u64 = 0;
        while start.elapsed() < Duration::from_secs(seconds) {
            for _ in 0..1000 {
                let result =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| case(&mut rng)));
                if result.is_err() {
                    eprintln!("{name}: case {cases} failed with seed {seed}");
                    std::process::exit(1);
                }
                cases += 1;
            }
        }
        let rate = cases as f64 / start.elapsed().as_secs_f64();
        println!("{name:<20} {cases:>12} cases  {rate:>12.0} cases/s");
    }
}
