//! Randomised input for the pure parsers and the number readers (the targets
//! and their properties are in `common/fuzz.rs`): thousands of seeded
//! mutations per target on every `cargo test`, and millions when asked.
//!
//! ```sh
//! cargo test --test fuzz                                               # 5,000 cases per target
//! RTW_FUZZ_SECONDS=60 cargo test --release --test fuzz -- --nocapture # 60 s per target
//! RTW_FUZZ_SECONDS=60 RTW_FUZZ_SEED=42 cargo test --release --test fuzz -- --nocapture
//! ```
//!
//! - `RTW_FUZZ_SECONDS`: run each target for that many seconds instead of a
//!   fixed number of cases, and print its cases and rate (`--nocapture` shows
//!   them).
//! - `RTW_FUZZ_SEED`: where the targets' seeds start (target `i` gets
//!   `seed + i`); without it, the fixed seeds of every `cargo test`.
//!
//! A failing case fails the test with its target, case number and seed, so
//! that it can be run again.

#![cfg(feature = "websocket")]

mod common;

use common::fuzz::{Rng, Target, TARGETS};
use std::time::{Duration, Instant};

/// Cases per target in the default run.
const CASES: u64 = 5_000;
/// Where the default run's seeds start.
const SEED: u64 = 0x5EED_0000;
/// Cases between two looks at the clock in a timed run.
const BATCH: u64 = 1_000;

/// How much fuzzing each target gets.
#[derive(Clone, Copy)]
enum Budget {
    /// A fixed number of cases: the quick run of every `cargo test`.
    Cases(u64),
    /// As many cases as fit in this time (`RTW_FUZZ_SECONDS`).
    Time(Duration),
}

/// A whole number read from the environment variable `name`, if it is set.
fn env_number(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok().filter(|v| !v.is_empty())?;
    match value.parse() {
        Ok(n) => Some(n),
        Err(_) => panic!("{name} must be a whole number, not {value:?}"),
    }
}

/// Runs `case` within `budget` from `seed`, and returns how many cases ran.
fn run((name, case): Target, seed: u64, budget: Budget) -> u64 {
    let mut rng = Rng::new(seed);
    let mut one = |n: u64| {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| case(&mut rng)));
        assert!(result.is_ok(), "{name}: case {n} failed (seed {seed})");
    };
    match budget {
        Budget::Cases(cases) => {
            (0..cases).for_each(&mut one);
            cases
        }
        Budget::Time(time) => {
            let start = Instant::now();
            let mut cases = 0;
            while start.elapsed() < time {
                (cases..cases + BATCH).for_each(&mut one);
                cases += BATCH;
            }
            cases
        }
    }
}

#[test]
fn parsers_survive_mutated_input() {
    let seconds = env_number("RTW_FUZZ_SECONDS");
    let base = env_number("RTW_FUZZ_SEED").unwrap_or(SEED);
    let budget = seconds.map_or(Budget::Cases(CASES), |s| {
        Budget::Time(Duration::from_secs(s))
    });
    if let Some(seconds) = seconds {
        println!("{seconds} s per target, seeds from {base}");
    }
    for (i, target) in TARGETS.into_iter().enumerate() {
        let seed = base.wrapping_add(i as u64);
        let start = Instant::now();
        let cases = run(target, seed, budget);
        if seconds.is_some() {
            let rate = cases as f64 / start.elapsed().as_secs_f64();
            println!("{:<20} {cases:>12} cases  {rate:>12.0} cases/s", target.0);
        }
    }
}
