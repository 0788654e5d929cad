//! The scavenger (Go's `mgcscavenge.go`): gives free heap pages back to the OS with
//! `madvise(MADV_DONTNEED)` so that idle memory does not stay resident.
//!
//! Goals, as Go's: keep the retained heap (`heap_sys - heap_released`) within 10% above the
//! heap goal (only while `GOGC` is on), and the memory the runtime holds from the OS
//! (retained heap plus metadata) under 95% of `GOMEMLIMIT`. The background scavenger is
//! woken when the background sweeper finishes a cycle's spans (that is when pages come
//! free) and releases what the goals ask for, 512 KiB per hold of the heap lock, highest
//! addresses first, sleeping 99 times as long as each batch took so that it uses about 1%
//! of a CPU. `free_os_memory()` collects, finishes sweeping and releases every free page at
//! once. Released pages are tracked exactly (`alloc/released.rs`) and reported as
//! `heap_released`; they return zero-filled when the page heap hands them out again.
//!
//! Shared state: the wake-up flag under its mutex; everything else is the heap's, under
//! the heap lock. [`bytes_to_release`] is the pure policy, tested by a table. See the
//! collector overview in `crate::gc`.

use crate::alloc::heap::HEAP;
use crate::sync::{Condvar, Mutex, Once};
use std::time::Instant;

/// Bytes the scavenger releases per step (one hold of the heap lock).
const STEP: usize = 512 << 10;

/// Bytes to release now so that `retained` heap bytes (plus `metadata`) meet the goals:
/// 110% of `heap_goal` (when `GOGC` is on) and 95% of `limit` (when set).
pub(crate) fn bytes_to_release(
    retained: u64,
    metadata: u64,
    heap_goal: Option<u64>,
    limit: Option<u64>,
) -> u64 {
    let by_goal = heap_goal.map_or(0, |g| retained.saturating_sub(g.saturating_add(g / 10)));
    let by_limit = limit.map_or(0, |l| (retained + metadata).saturating_sub(l - l / 20));
    by_goal.max(by_limit)
}

crate::sync::global! {
    static WAKE: Mutex<bool> = Mutex::new(false);
}
crate::sync::global! {
    static WAKE_CV: Condvar = Condvar::new();
}
crate::sync::global! {
    static STARTED: Once = Once::new();
}

/// Asks the background scavenger to meet its goals (after a sweep).
pub(crate) fn wake() {
    STARTED.call_once(|| {
        crate::sync::thread::Builder::new()
            .name("gc-scavenger".into())
            .spawn(background)
            .expect("cannot start the scavenger");
    });
    *WAKE.lock().unwrap_or_else(|e| e.into_inner()) = true;
    WAKE_CV.notify_one();
}

fn background() {
    loop {
        {
            let mut w = WAKE.lock().unwrap_or_else(|e| e.into_inner());
            while !*w {
                w = WAKE_CV.wait(w).unwrap_or_else(|e| e.into_inner());
            }
            *w = false;
        }
        let released = pass();
        if released > 0 && super::config().debug.scavtrace {
            trace(released);
        }
    }
}

/// Releases what the goals ask for, step by step, paced to about 1% of a CPU. Returns the
/// bytes released.
fn pass() -> usize {
    let mut released = 0;
    loop {
        let m = HEAP.memory();
        let (goal, limit) = super::cycle::scavenge_goals();
        let want = bytes_to_release(m.sys - m.released, m.metadata, goal, limit);
        if want == 0 {
            break;
        }
        let t = Instant::now();
        let n = HEAP.scavenge((want as usize).min(STEP));
        let dt = t.elapsed();
        released += n;
        if n == 0 {
            break;
        }
        crate::sync::thread::sleep(dt * 99);
    }
    released
}

/// `GODEBUG=scavtrace=1`: Go's line, `scav <bg> KiB work (bg), <eager> KiB work (eager),
/// <retained> KiB now, <in use / retained>% util`.
fn trace(released: usize) {
    let m = HEAP.memory();
    let retained = m.sys - m.released;
    eprintln!(
        "scav {} KiB work (bg), 0 KiB work (eager), {} KiB now, {}% util",
        released >> 10,
        retained >> 10,
        (m.inuse * 100).checked_div(retained).unwrap_or(0)
    );
}

/// Returns as much memory to the OS as possible (Go's `debug.FreeOSMemory`): a forced
/// collection, the end of its sweep, then every free heap page released.
pub fn free_os_memory() {
    super::cycle::collect();
    super::sweep::finish();
    let released = HEAP.scavenge(usize::MAX);
    if released > 0 && super::config().debug.scavtrace {
        trace(released);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn releases_down_to_the_lower_of_the_two_goals() {
        // (retained, metadata, goal, limit) -> bytes to release
        let cases = [
            (100 * MIB, 0, Some(100 * MIB), None, 0), // within 110% of the goal
            (120 * MIB, 0, Some(100 * MIB), None, 10 * MIB),
            (120 * MIB, 0, None, None, 0), // GOGC=off, no limit: keep it all
            (120 * MIB, 5 * MIB, None, Some(100 * MIB), 30 * MIB), // 95% of the limit
            (120 * MIB, 0, Some(50 * MIB), Some(100 * MIB), 65 * MIB), // the goal asks more
            (
                90 * MIB,
                10 * MIB,
                Some(100 * MIB),
                Some(100 * MIB),
                5 * MIB,
            ), // the limit does
        ];
        for (retained, meta, goal, limit, want) in cases {
            assert_eq!(
                bytes_to_release(retained, meta, goal, limit),
                want,
                "retained {retained} meta {meta} goal {goal:?} limit {limit:?}"
            );
        }
    }
}
