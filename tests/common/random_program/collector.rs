//! The collector thread of the random-graph engine (`mod.rs`, `racy_run.rs`): calls
//! `collect()` at seeded intervals while the mutators run, with gaps (some long) so that
//! automatic cycles, marked by the background workers concurrently with the mutators, run
//! too. A panic in `collect()` is reported, not propagated.

use super::common::Rng;
use super::panic_message;
use super::watchdog::Beat;
use std::panic::catch_unwind;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Calls `collect()` until `stop`; after each call, `after` (which may read statistics).
/// Gaps are below `max_gap_us` microseconds, or 20 ms one time in five. Returns the number
/// of calls, or the panic message of the call that panicked.
pub(super) fn collect_loop(
    seed: u64,
    max_gap_us: u64,
    stop: &AtomicBool,
    beat: &Beat,
    mut after: impl FnMut(&mut Rng),
) -> Result<u64, String> {
    let mut rng = Rng::new(seed ^ 0xC011_EC70);
    let mut calls = 0u64;
    while !stop.load(Ordering::SeqCst) {
        if let Err(e) = catch_unwind(gc_core::collect) {
            return Err(format!(
                "collect() panicked on the collector thread: {}; seed {seed}",
                panic_message(&*e)
            ));
        }
        calls += 1;
        beat.pulse.fetch_add(1, Ordering::Relaxed);
        after(&mut rng);
        let gap = if rng.chance(20) {
            20_000
        } else {
            rng.below(max_gap_us as usize) as u64
        };
        std::thread::sleep(Duration::from_micros(gap));
    }
    Ok(calls)
}
