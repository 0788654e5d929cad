//! The scavenger (Go's `mgcscavenge.go`): gives free heap pages back to the OS with
//! `madvise(MADV_DONTNEED)` so that idle memory does not stay resident.
//!
//! Goals, as Go's: keep the retained heap (`heap_sys - heap_released`) within 10% above the
//! heap goal (only while `GOGC` is on), and the memory the runtime holds from the OS
//! (retained heap plus metadata) under 95% of `GOMEMLIMIT`. Three ways pages go back:
//! - the background scavenger, woken when the background sweeper finishes a cycle's spans
//!   (that is when pages come free), releases what the goals ask for, 512 KiB per hold of
//!   the heap lock, highest addresses first, skipping chunks at least 96% in use unless
//!   the memory limit is at stake, and sleeping after each batch so that it uses 1% of the
//!   total CPU (`GOMAXPROCS` x wall time, as Go counts it; work is measured in thread CPU
//!   time); afterwards the memory-limit goal is recomputed;
//! - eager scavenging on the allocation path (`Heap::new_span`): a span that grows the
//!   heap past the goal releases as much elsewhere, and any span allocated while the memory
//!   held is over the limit releases the whole overage, at once;
//! - `free_os_memory()` collects, finishes sweeping and releases every free page.
//!
//! Released pages are tracked exactly (`alloc/released.rs`) and reported as
//! `heap_released`; they (and fresh pages, which count as released as in Go) read as zeros
//! when the page heap hands them out again.
//!
//! Shared state: the goals (published by the pacer) and the eager counter are atomics; the
//! wake-up flag is under its mutex; the pages are the heap's, under the heap lock.
//! [`bytes_to_release`] and [`eager_to_release`] are the pure policy, tested by tables. See
//! the collector overview (`crate::design::collector`).

use super::daemon::Daemon;
use crate::alloc::heap::{HeapMemory, HEAP};
use crate::alloc::os;
use crate::sync::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Bytes the scavenger releases per step (one hold of the heap lock).
const STEP: usize = 512 << 10;

/// Share of the total CPU (`GOMAXPROCS` x wall time) the background scavenger may use, in
/// percent (Go's `scavengePercent`).
const CPU_PERCENT: f64 = 1.0;

/// How long to sleep per unit of CPU time worked to stay within `CPU_PERCENT` of `procs`
/// CPUs.
fn sleep_ratio(procs: usize) -> f64 {
    (100.0 / (CPU_PERCENT * procs.max(1) as f64) - 1.0).max(0.0)
}

/// The background pass's pacing: over a pass, wall time = CPU time worked x (1 + ratio).
/// Sleeping to that schedule rather than for a fixed multiple of each step makes up for
/// oversleeping and for waiting for a CPU (Go's scavenger corrects its sleep ratio with a
/// controller for the same reason), but never by more than `MAX_LAG` at once.
struct Pacing {
    ratio: f64,
    worked: Duration,
}

/// The most wall time a pass may fall behind its schedule and then catch up on.
const MAX_LAG: Duration = Duration::from_millis(20);

impl Pacing {
    fn new(procs: usize) -> Pacing {
        Pacing {
            ratio: sleep_ratio(procs),
            worked: Duration::ZERO,
        }
    }

    /// After a step of `worked` CPU time, `elapsed` wall time into the pass (which `sleep`
    /// may adjust): how long to sleep now.
    fn after_step(&mut self, worked: Duration, elapsed: &mut Duration) -> Duration {
        self.worked += worked;
        let due = self.worked.mul_f64(1.0 + self.ratio);
        if *elapsed > due + MAX_LAG {
            // Too far behind (the thread did not get a CPU): forgive all but `MAX_LAG`.
            self.worked = (*elapsed - MAX_LAG).div_f64(1.0 + self.ratio);
            return Duration::ZERO;
        }
        due.saturating_sub(*elapsed)
    }
}

/// No goal: `u64::MAX` in the goal atomics.
const NONE: u64 = u64::MAX;

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

/// Bytes to release at once, on the allocation path (Go's eager scavenging), after a span
/// allocation that grew the heap by `grown` bytes and made `paged_in` released bytes
/// resident again: when the heap grew past 110% of the goal, as much as it paged in; when
/// the memory held is over the limit itself, the whole overage (the background pass keeps
/// the 5% headroom).
pub(crate) fn eager_to_release(
    retained: u64,
    metadata: u64,
    grown: u64,
    paged_in: u64,
    heap_goal: Option<u64>,
    limit: Option<u64>,
) -> u64 {
    let by_goal = match heap_goal {
        Some(g) if grown > 0 => retained
            .saturating_sub(g.saturating_add(g / 10))
            .min(paged_in),
        _ => 0,
    };
    let by_limit = limit.map_or(0, |l| (retained + metadata).saturating_sub(l));
    by_goal.max(by_limit)
}

crate::sync::global! {
    /// The heap goal while `GOGC` is on, else `NONE` (published by the pacer).
    static HEAP_GOAL: AtomicU64 = AtomicU64::new(NONE);
}
crate::sync::global! {
    /// The memory limit, or `NONE`.
    static LIMIT: AtomicU64 = AtomicU64::new(NONE);
}
crate::sync::global! {
    /// Bytes released eagerly since the last scavtrace line.
    static EAGER: AtomicU64 = AtomicU64::new(0);
}

/// The pacer's new heap goal (`None` with `GOGC=off`) and memory limit (`None` if unset).
pub(crate) fn set_goals(heap_goal: Option<u64>, limit: Option<u64>) {
    HEAP_GOAL.store(heap_goal.unwrap_or(NONE), Ordering::Relaxed);
    LIMIT.store(limit.unwrap_or(NONE), Ordering::Relaxed);
}

fn goals() -> (Option<u64>, Option<u64>) {
    let get = |a: &AtomicU64| Some(a.load(Ordering::Relaxed)).filter(|&v| v != NONE);
    (get(&HEAP_GOAL), get(&LIMIT))
}

/// [`eager_to_release`] for the heap's current figures (taken under the heap lock).
pub(crate) fn eager_bytes(m: &HeapMemory, grown: u64, paged_in: u64) -> u64 {
    let (goal, limit) = goals();
    eager_to_release(m.sys - m.released, m.metadata, grown, paged_in, goal, limit)
}

/// Counts bytes released by the allocation path (for scavtrace).
pub(crate) fn note_eager(bytes: usize) {
    EAGER.fetch_add(bytes as u64, Ordering::Relaxed);
}

crate::sync::global! {
    static DAEMON: Daemon = Daemon::new("gc-scavenger");
}

/// Asks the background scavenger to meet its goals (after a sweep).
pub(crate) fn wake() {
    // Without the thread (it could not be started), pages are released only by the
    // allocation path's eager scavenging and `free_os_memory`.
    let _ = DAEMON.wake(background);
}

/// One wake-up's work.
fn background() {
    let released = pass();
    if released > 0 && super::config().debug.scavtrace {
        trace(released);
    }
}

/// Releases what the goals ask for, step by step, paced to about 1% of a CPU, leaving
/// nearly full chunks alone unless the memory limit needs their pages (Go's dense-chunk
/// rule: their few free pages are about to be reused). Returns the bytes released.
fn pass() -> usize {
    let mut released = 0;
    let start = Instant::now();
    let mut pacing = Pacing::new(super::config().gomaxprocs);
    loop {
        let m = HEAP.memory();
        let (goal, limit) = goals();
        let retained = m.sys - m.released;
        let want = bytes_to_release(retained, m.metadata, goal, limit);
        if want == 0 {
            break;
        }
        let over_limit = bytes_to_release(retained, m.metadata, None, limit) > 0;
        let t = os::thread_cpu_time();
        let n = HEAP.scavenge((want as usize).min(STEP), !over_limit);
        let worked = os::thread_cpu_time().saturating_sub(t);
        released += n;
        if n == 0 {
            break;
        }
        let mut elapsed = start.elapsed();
        crate::sync::thread::sleep(pacing.after_step(worked, &mut elapsed));
    }
    if released > 0 {
        // Released memory no longer counts against the memory limit.
        super::cycle::refresh_memory_goal();
    }
    released
}

/// `GODEBUG=scavtrace=1`: Go's line, `scav <bg> KiB work (bg), <eager> KiB work (eager),
/// <retained> KiB now, <in use / retained>% util`.
fn trace(released: usize) {
    let m = HEAP.memory();
    let retained = m.sys - m.released;
    crate::report(format_args!(
        "scav {} KiB work (bg), {} KiB work (eager), {} KiB now, {}% util",
        released >> 10,
        EAGER.swap(0, Ordering::Relaxed) >> 10,
        retained >> 10,
        (m.inuse * 100).checked_div(retained).unwrap_or(0)
    ));
}

/// `crate::api::free_os_memory`.
pub(crate) fn free_os_memory() {
    if super::world::inside_op() {
        // Inside the collector (a `Trace` impl, a panic hook): the cycle would wait for us.
        return;
    }
    super::cycle::collect();
    super::sweep::finish();
    // What the background threads' drops freed goes back to the system allocator now.
    crate::alloc::remote_free::drain();
    crate::alloc::recycle::release_here();
    let released = HEAP.scavenge(usize::MAX, false);
    super::cycle::refresh_memory_goal();
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

    #[test]
    fn the_background_pass_sleeps_for_one_percent_of_all_procs() {
        assert_eq!(sleep_ratio(1), 99.0);
        assert_eq!(sleep_ratio(2), 49.0);
        assert_eq!(sleep_ratio(0), 99.0);
        assert_eq!(sleep_ratio(200), 0.0);
    }

    #[test]
    fn pacing_keeps_the_pass_on_schedule_and_forgives_long_stalls() {
        let us = Duration::from_micros;
        let mut p = Pacing::new(2); // wall = 50 x CPU
                                    // (CPU worked in the step, wall time into the pass) -> sleep
        let steps = [
            (us(100), us(100), us(4_900)),      // on schedule: due at 5 ms
            (us(100), us(12_000), us(0)),       // overslept 2 ms past the 10 ms due
            (us(100), us(13_000), us(2_000)),   // catches up: due at 15 ms
            (us(100), us(100_000), us(0)),      // stalled 80 ms: forgiven down to 20 ms
            (us(100), us(100_000), us(0)),      // of lag, worked off without sleeping
            (us(500), us(100_000), us(10_000)), // back on schedule
        ];
        for (i, (worked, elapsed, sleep)) in steps.into_iter().enumerate() {
            let mut e = elapsed;
            assert_eq!(p.after_step(worked, &mut e), sleep, "step {i}");
        }
    }

    #[test]
    fn eager_release_follows_growth_past_the_goal_and_any_overage_of_the_limit() {
        // (retained, metadata, grown, paged_in, goal, limit) -> bytes to release now
        let g = Some(100 * MIB);
        let cases = [
            (120 * MIB, 0, 0, MIB, g, None, 0), // no growth: the background pass's job
            (120 * MIB, 0, 4 * MIB, MIB, g, None, MIB), // grew past 110%: what it paged in
            (120 * MIB, 0, 4 * MIB, 20 * MIB, g, None, 10 * MIB), // but only the excess
            (105 * MIB, 0, 4 * MIB, MIB, g, None, 0), // within 110%
            (120 * MIB, 0, 4 * MIB, MIB, None, None, 0), // GOGC=off, no limit
            (98 * MIB, 4 * MIB, 0, MIB, None, Some(100 * MIB), 2 * MIB), // the whole overage
            (96 * MIB, 4 * MIB, 0, MIB, None, Some(100 * MIB), 0), // at the limit: fine
        ];
        for (retained, meta, grown, paged_in, goal, limit, want) in cases {
            assert_eq!(
                eager_to_release(retained, meta, grown, paged_in, goal, limit),
                want,
                "retained {retained} meta {meta} grown {grown} paged_in {paged_in}"
            );
        }
    }
}
