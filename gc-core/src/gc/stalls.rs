//! `GODEBUG=stalltrace=1` (ours; Go has no such key): the stall tracer. Every stretch of a
//! mutator's time spent in the runtime that lasts 1 ms or more is reported, with its cause,
//! as one line on the trace writer:
//!
//! ```text
//! stall: 3.214 ms in assist (mark, heap 1842 MB)
//! ```
//!
//! Causes, one per place a mutator can be held up inside a GC operation:
//! - `enter`: waiting at the start of an operation for a stop of the world to end
//!   (`world.rs`);
//! - `alloc`: a cache refill (sweeping spans for one with room, the central list's lock,
//!   the page heap's lock, mapping fresh memory; `malloc.rs` steps 2-3), timed by the
//!   allocator when asked (`alloc::cache::time_slow_paths`);
//! - `large`: a large object's page reclaim and span (step 4);
//! - `init`: writing the new value into a slot a refill just provided (step 5): page
//!   faults on memory the OS had not backed (faults on later slots of the same span, taken
//!   on the fast path, are not timed);
//! - `assist`: a mark assist, scanning or waiting for credit (step 7, `assist.rs`).
//!
//! Anything else a mutator sees as a gap (the OS running another thread on its core, its
//! own code) is not the runtime's and is not reported: comparing the probe's gaps with this
//! trace says which is which (`examples/latency.rs`).
//!
//! Only slow paths are timed, so the trace barely changes what it measures; off (the
//! default), a refill reads one flag more and nothing else changes. Stalls are recorded
//! inside the operation (a lock and a push, no I/O) and printed by the thread that runs the
//! next cycle, at its end (`cycle.rs`, after the gctrace line), so a slow writer never
//! holds a mutator up. Shared state: the record list under its mutex; `PENDING`, a hint that it is not empty. See the collector
//! overview (`crate::design::collector`).

use super::phase::Phase;
use crate::alloc::heap::HEAP;
use crate::sync::{AtomicBool, Mutex, Ordering};
use std::time::{Duration, Instant};

/// Shortest stall reported.
const THRESHOLD: Duration = Duration::from_millis(1);
/// Records kept between two reports (more are counted, not kept).
const MAX_RECORDS: usize = 1024;

/// Where a mutator was held up (module header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cause {
    Enter,
    Alloc,
    Large,
    Init,
    Assist,
}

impl Cause {
    fn name(self) -> &'static str {
        match self {
            Cause::Enter => "enter",
            Cause::Alloc => "alloc",
            Cause::Large => "large",
            Cause::Init => "init",
            Cause::Assist => "assist",
        }
    }
}

/// One stall, as recorded.
struct Stall {
    cause: Cause,
    took: Duration,
    phase: Phase,
    heap: u64,
}

struct Records {
    kept: Vec<Stall>,
    dropped: u64,
}

crate::sync::global! {
    static RECORDS: Mutex<Records> = Mutex::new(Records { kept: Vec::new(), dropped: 0 });
}

crate::sync::global! {
    /// Records are waiting to be printed.
    static PENDING: AtomicBool = AtomicBool::new(false);
}

/// Whether the tracer is on (`GODEBUG=stalltrace=1`).
#[inline(always)]
pub(crate) fn on() -> bool {
    super::config().debug.stalltrace
}

/// The start of a traced stretch: `Some` only when the tracer is on.
#[inline(always)]
pub(crate) fn start() -> Option<Instant> {
    on().then(Instant::now)
}

/// The end of a stretch begun by [`start`]: records it if it lasted [`THRESHOLD`] or more.
/// Inside a GC operation: takes only the record list's lock.
#[inline(always)]
pub(crate) fn end(t0: Option<Instant>, cause: Cause) {
    if let Some(t0) = t0 {
        let took = t0.elapsed();
        if took >= THRESHOLD {
            record(cause, took);
        }
    }
}

/// Records a stretch measured elsewhere (a cache refill's `Slot::slow_ns`).
#[inline]
pub(crate) fn record_ns(cause: Cause, ns: u64) {
    let took = Duration::from_nanos(ns);
    if took >= THRESHOLD {
        record(cause, took);
    }
}

#[cold]
fn record(cause: Cause, took: Duration) {
    let stall = Stall {
        cause,
        took,
        phase: super::cycle::phase(),
        heap: HEAP.live_total(),
    };
    let mut r = RECORDS.lock();
    if r.kept.len() < MAX_RECORDS {
        r.kept.push(stall);
    } else {
        r.dropped += 1;
    }
    PENDING.store(true, Ordering::Relaxed);
}

/// Prints the recorded stalls if the calling thread is outside every GC operation (the
/// cycle calls it at its end).
#[inline(always)]
pub(crate) fn report_pending() {
    if PENDING.load(Ordering::Relaxed) && !super::world::inside_op() {
        report();
    }
}

#[cold]
fn report() {
    let (kept, dropped) = {
        let mut r = RECORDS.lock();
        PENDING.store(false, Ordering::Relaxed);
        (std::mem::take(&mut r.kept), std::mem::take(&mut r.dropped))
    };
    for s in &kept {
        crate::report(format_args!("{}", line(s)));
    }
    if dropped > 0 {
        crate::report(format_args!(
            "stall: {dropped} more stalls not kept (more than {MAX_RECORDS} between reports)"
        ));
    }
}

/// The line for one stall (pure, for tests).
fn line(s: &Stall) -> String {
    let phase = match s.phase {
        Phase::Mark | Phase::MarkTermination => "mark",
        Phase::Sweep => "sweep",
        _ => "idle",
    };
    format!(
        "stall: {:.3} ms in {} ({phase}, heap {} MB)",
        s.took.as_secs_f64() * 1e3,
        s.cause.name(),
        s.heap >> 20
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_name_cause_phase_and_heap() {
        let s = Stall {
            cause: Cause::Assist,
            took: Duration::from_micros(3214),
            phase: Phase::Mark,
            heap: 1842 << 20,
        };
        assert_eq!(line(&s), "stall: 3.214 ms in assist (mark, heap 1842 MB)");
        let s = Stall {
            cause: Cause::Enter,
            took: Duration::from_millis(12),
            phase: Phase::Idle,
            heap: 0,
        };
        assert_eq!(line(&s), "stall: 12.000 ms in enter (idle, heap 0 MB)");
    }
}
