//! `GODEBUG=stalltrace=1` (ours; Go has no such key): the stall tracer. Every stretch of a
//! mutator's time spent in the runtime that lasts 1 ms or more (`stallthreshold=N`: N
//! microseconds) is reported, with its cause, as one line on the trace writer:
//!
//! ```text
//! stall: 3.214 ms in assist (mark, heap 1842 MB; on CPU 0.412 ms, scanning 0.395 ms)
//! ```
//!
//! "On CPU" is the thread's CPU time during the stall (`CLOCK_THREAD_CPUTIME_ID`): the rest
//! it spent off its core, asleep on a lock or waiting for credit, or preempted. An assist
//! also says how long it was scanning, in wall time (the rest of the stall it looked for
//! work or waited for credit; a scanning time far above the CPU time means the thread lost
//! its core while it scanned).
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
use crate::alloc::os::Stopwatch;
use crate::sync::{AtomicBool, Mutex, Ordering};
use std::time::Duration;

/// Shortest stall reported, unless `GODEBUG=stallthreshold=N` (microseconds) says otherwise.
const THRESHOLD: Duration = Duration::from_millis(1);

/// The shortest stall reported now.
fn threshold() -> Duration {
    match super::config().debug.stallthreshold {
        0 => THRESHOLD,
        us => Duration::from_micros(u64::from(us)),
    }
}
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
    /// The thread's CPU time in it.
    cpu: Duration,
    /// An assist's scanning time.
    scanning: Option<Duration>,
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
pub(crate) fn start() -> Option<Stopwatch> {
    on().then(Stopwatch::start)
}

/// The end of a stretch begun by [`start`]: records it if it lasted [`threshold`] or more;
/// `scanning` is an assist's scanning time. Inside a GC operation: takes only the record
/// list's lock.
#[inline(always)]
pub(crate) fn end(t0: Option<Stopwatch>, cause: Cause, scanning: Option<Duration>) {
    if let Some(t0) = t0 {
        let took = t0.wall();
        if took >= threshold() {
            record(cause, took, t0.cpu(), scanning);
        }
    }
}

/// Records a stretch measured elsewhere (a cache refill's `Slot::slow`).
#[inline]
pub(crate) fn record_ns(cause: Cause, ns: u64, cpu_ns: u64) {
    let took = Duration::from_nanos(ns);
    if took >= threshold() {
        record(cause, took, Duration::from_nanos(cpu_ns), None);
    }
}

#[cold]
fn record(cause: Cause, took: Duration, cpu: Duration, scanning: Option<Duration>) {
    let stall = Stall {
        cause,
        took,
        cpu,
        scanning,
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
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let scanning = s
        .scanning
        .map(|d| format!(", scanning {:.3} ms", ms(d)))
        .unwrap_or_default();
    format!(
        "stall: {:.3} ms in {} ({phase}, heap {} MB; on CPU {:.3} ms{scanning})",
        ms(s.took),
        s.cause.name(),
        s.heap >> 20,
        ms(s.cpu),
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
            cpu: Duration::from_micros(412),
            scanning: Some(Duration::from_micros(395)),
            phase: Phase::Mark,
            heap: 1842 << 20,
        };
        assert_eq!(
            line(&s),
            "stall: 3.214 ms in assist (mark, heap 1842 MB; on CPU 0.412 ms, scanning 0.395 ms)"
        );
        let s = Stall {
            cause: Cause::Enter,
            took: Duration::from_millis(12),
            cpu: Duration::ZERO,
            scanning: None,
            phase: Phase::Idle,
            heap: 0,
        };
        assert_eq!(
            line(&s),
            "stall: 12.000 ms in enter (idle, heap 0 MB; on CPU 0.000 ms)"
        );
    }
}
