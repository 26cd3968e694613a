//! Randomised input for the pure parsers and the number readers: thousands of seeded mutations per
//! target on every `cargo test` (see `common/fuzz.rs`; `cargo run --release
//! --example fuzz` runs millions).

#![cfg(feature = "websocket")]

mod common;

use common::fuzz::{Rng, TARGETS};

const CASES: usize = 5_000;

#[test]
fn parsers_survive_mutated_input() {
    for (i, (name, case)) in TARGETS.iter().enumerate() {
        let mut rng = Rng::new(0x5EED_0000 + i as u64);
        for n in 0..CASES {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| case(&mut rng)));
            assert!(
                result.is_ok(),
                "{name}: case {n} failed (seed {})",
                0x5EED_0000 + i as u64
            );
        }
    }
}
