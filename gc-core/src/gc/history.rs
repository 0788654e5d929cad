//! The cycle history: one record per finished cycle (its phase times, pauses, mark CPU
//! split and heap sizes), the last `RETAINED` kept, for heap snapshots
//! (`gc_core::debug::heap_snapshot`).
//!
//! Written by the GC thread at the end of mark termination, after the world resumed
//! (`mark_termination.rs`), read by snapshots; both under `HISTORY`, a leaf lock (nothing
//! else is taken while it is held, and no user code runs under it). Times are nanoseconds since
//! the runtime started (`stats::Cycles::start`, gctrace's `@Ts` origin). See the collector
//! overview (`crate::design::collector`).

use super::cycle::CycleTimes;
use super::stats::cycles;
use crate::alloc::heap::HEAP;
use crate::sync::{Mutex, MutexGuard};
use std::collections::VecDeque;
use std::time::Instant;

/// Records kept (as many as `MemStats::pause_ns` holds).
pub(crate) const RETAINED: usize = 256;

/// One finished cycle. Times are nanoseconds since the runtime started; durations are
/// nanoseconds.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Record {
    /// The cycle's number, from 1 (gctrace's `gc N`).
    pub num_gc: u64,
    pub forced: bool,
    pub procs: usize,
    /// The cycle began: sweep termination (Go's `gcStart`).
    pub start: u64,
    /// Sweep termination and the unroot pass (concurrent here).
    pub prepare_ns: u64,
    /// The first pause (mark setup, Go's sweep termination STW).
    pub setup_start: u64,
    pub setup_ns: u64,
    /// Concurrent mark.
    pub mark_start: u64,
    pub mark_ns: u64,
    /// The final pause (mark termination).
    pub term_start: u64,
    pub term_ns: u64,
    /// The world resumed; sweeping begins.
    pub end: u64,
    /// Every pause of the cycle (`MemStats::pause_ns`' entry), and its end (Unix ns).
    pub pause_ns: u64,
    pub pause_end_unix: u64,
    pub assist_ns: u64,
    pub background_ns: u64,
    pub idle_ns: u64,
    pub gc_cpu_ns: u64,
    /// Go's gctrace H0, H1, H2 (with external memory, as the pacer counts), the goal the
    /// cycle aimed for and the next cycle's.
    pub live_start: u64,
    pub live_end: u64,
    pub marked: u64,
    pub goal: u64,
    pub next_goal: u64,
    /// Heap bytes released to the OS, and obtained from it, when the world resumed.
    pub released: u64,
    pub heap_sys: u64,
}

/// When each step of a cycle happened (`cycle.rs`, `mark_done.rs` and
/// `mark_termination.rs` measure them).
pub(crate) struct Moments {
    pub start: Instant,
    pub setup_start: Instant,
    pub mark_start: Instant,
    pub term_start: Instant,
    pub resumed: Instant,
}

/// A finished cycle's heap sizes (see `Record`).
pub(crate) struct Sizes {
    pub live_start: u64,
    pub live_end: u64,
    pub marked: u64,
    pub goal: u64,
    pub next_goal: u64,
}

/// The retained records and how many cycles were recorded in all.
pub(crate) struct History {
    pub records: VecDeque<Record>,
    pub total: u64,
}

crate::sync::global! {
    static HISTORY: Mutex<History> = Mutex::new(History {
        records: VecDeque::new(),
        total: 0,
    });
}

pub(crate) fn history() -> MutexGuard<'static, History> {
    HISTORY.lock()
}

/// Nanoseconds from `origin` to `t` (0 if `t` is earlier).
fn since(origin: Instant, t: Instant) -> u64 {
    t.saturating_duration_since(origin).as_nanos() as u64
}

/// Nanoseconds since the runtime started.
pub(crate) fn now_ns() -> u64 {
    let origin = cycles().start;
    origin.map_or(0, |o| since(o, Instant::now()))
}

/// Records a finished cycle. Called by the GC thread after mark termination resumed the
/// world, outside every other lock.
pub(crate) fn record(
    forced: bool,
    pause_end_unix: u64,
    procs: usize,
    at: &Moments,
    t: &CycleTimes,
    sizes: Sizes,
    gc_cpu_ns: u64,
) {
    let origin = cycles().start.unwrap_or(at.start);
    let mem = HEAP.memory();
    let ns = |i: Instant| since(origin, i);
    let mut h = history();
    h.total = h.total.saturating_add(1);
    let r = Record {
        num_gc: h.total,
        forced,
        procs,
        start: ns(at.start),
        prepare_ns: t.prepare_ns,
        setup_start: ns(at.setup_start),
        setup_ns: t.setup_ns,
        mark_start: ns(at.mark_start),
        mark_ns: t.mark_ns,
        term_start: ns(at.term_start),
        term_ns: t.term_ns,
        end: ns(at.resumed),
        pause_ns: t.pause_ns,
        pause_end_unix,
        assist_ns: t.assist_ns,
        background_ns: t.worker_ns,
        idle_ns: t.idle_ns,
        gc_cpu_ns,
        live_start: sizes.live_start,
        live_end: sizes.live_end,
        marked: sizes.marked,
        goal: sizes.goal,
        next_goal: sizes.next_goal,
        released: mem.released,
        heap_sys: mem.sys,
    };
    push(&mut h, r);
}

/// Appends `r`, dropping the oldest record past `RETAINED`.
fn push(h: &mut History, r: Record) {
    if h.records.len() == RETAINED {
        h.records.pop_front();
    }
    h.records.push_back(r);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_records_in_order() {
        let mut h = History {
            records: VecDeque::new(),
            total: 0,
        };
        for n in 1..=(RETAINED as u64 + 10) {
            h.total = n;
            push(
                &mut h,
                Record {
                    num_gc: n,
                    ..Record::default()
                },
            );
        }
        assert_eq!(h.records.len(), RETAINED);
        assert_eq!(h.records.front().unwrap().num_gc, 11);
        assert_eq!(h.records.back().unwrap().num_gc, RETAINED as u64 + 10);
    }
}
