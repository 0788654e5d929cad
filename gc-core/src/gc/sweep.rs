//! Sweeping as the collector drives it (Go's mgcsweep.go): who sweeps which span, and
//! when. Sweeping one span (freeing its white objects, turning its mark bits into alloc
//! bits) is the allocator's `crate::alloc::sweep`.
//!
//! A span is swept exactly once per cycle by whoever claims it first (`sweepgen` CAS from
//! h-2 to h-1, `SpanPtr::claim`): the background sweeper (`background`), a thread refilling
//! its cache (which sweeps spans of the class it needs, `Central::cache_span`), a large
//! allocation (`reclaim`, called by `mallocgc`), or the next cycle's sweep termination
//! (`finish`). A span is always swept before it is allocated from (invariant I5).
//!
//! A dead object's drop glue runs in one of two places. Glue that runs only the runtime's
//! and the standard library's code (`Gc` and `GcCell` handles, `Vec`, `String`: a type whose
//! `Trace::drop_runs_user_code` is false) runs in place, inside the GC operation that
//! sweeps. Anything else is user code: the sweep hands the object to the `defer_drops`
//! hook (`dropper::defer_dead`), which moves it out of its slot and queues it for the
//! dropper, which runs it outside every GC operation. See the collector overview (`crate::design::collector`).

use super::daemon::Daemon;
use crate::alloc::heap::HEAP;
use crate::alloc::sweep::sweep;
use crate::sync::{AtomicBool, AtomicU64, Backoff, Ordering};
use std::time::Instant;

crate::sync::global! {
    /// Nanoseconds spent sweeping in the background thread (for `gc_cpu_fraction`).
    pub(crate) static SWEEP_NS: AtomicU64 = AtomicU64::new(0);
}

/// Claims and sweeps one span from any class; false when none is left to claim.
///
/// The claim happens inside the GC operation: `sweepgen` only moves while the world is
/// stopped for GC operations, so it cannot change between reading it and claiming.
pub(crate) fn sweep_one() -> bool {
    if HEAP.sweep_unclaimed.load(Ordering::Relaxed) == 0 {
        return false;
    }
    super::world::with_op(|_| {
        let sg = HEAP.sweepgen();
        // Classes below the cursor were found empty this cycle and stay empty (no span
        // joins an unswept set until the next mark termination, which resets the cursor):
        // each sweep does not lock every central list below the first with work again.
        let mut class = HEAP.sweep_class.load(Ordering::Relaxed);
        while let Some(central) = HEAP.centrals.get(class) {
            if let Some(claimed) = central.claim_unswept(sg) {
                sweep(&HEAP, claimed, false);
                return true;
            }
            class = HEAP
                .sweep_class
                .fetch_max(class + 1, Ordering::Relaxed)
                .max(class + 1);
        }
        false
    })
}

/// Sweep termination: sweeps everything left and waits for sweeps in progress elsewhere.
pub(crate) fn finish() {
    while sweep_one() {}
    let mut backoff = Backoff::default();
    // Acquire pairs with the Release half of every sweep's `fetch_sub` of `sweep_pending`
    // (`crate::alloc::sweep`; RMWs continue the release sequence, so reading 0 syncs with
    // all of them): every span of the cycle is swept, and we see its sweep's writes.
    while HEAP.sweep_pending.load(Ordering::Acquire) != 0 {
        backoff.snooze();
    }
    super::dropper::wake();
}

/// Before a large allocation grows the heap: sweep until about `npages` pages were freed
/// or nothing is left (Go's page reclaimer).
pub(crate) fn reclaim(npages: usize) {
    let mut budget = npages.max(16);
    while budget > 0 && sweep_one() {
        budget -= 1;
    }
}

// ---------------------------------------------------------------------------------------
// The background sweeper.

crate::sync::global! {
    /// Normal priority on purpose: the sweeper takes the heap lock, and a deprioritised
    /// thread preempted while holding it stalls every thread that needs a span.
    static DAEMON: Daemon = Daemon::new("gc-sweeper");
}
crate::sync::global! {
    static SWEEPING: AtomicBool = AtomicBool::new(false);
}

/// Wakes the background sweeper after mark termination.
pub(crate) fn wake() {
    // Without the thread (it could not be started), allocation-proportional sweeping and
    // sweep termination sweep everything.
    let _ = DAEMON.wake(background);
}

/// One wake-up's work: sweep everything left.
fn background() {
    SWEEPING.store(true, Ordering::Relaxed);
    let t0 = Instant::now();
    // Batches of spans, yielding between them so mutators keep the CPU they need (Go's
    // bgsweep sweeps 10 spans, then yields).
    'sweep: loop {
        for _ in 0..10 {
            if !sweep_one() {
                break 'sweep;
            }
        }
        crate::sync::thread::yield_now();
    }
    SWEEP_NS.fetch_add(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
    SWEEPING.store(false, Ordering::Relaxed);
    super::cycle::swept_external();
    // The drops this pass queued (`dropper::push` wakes a dropper only every few jobs).
    super::dropper::wake();
    // Swept spans left free pages: give what the goals ask for back to the OS.
    super::scavenger::wake();
}
