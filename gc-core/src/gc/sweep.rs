//! Sweeping (Go's mgcsweep.go): free the objects the last mark left white, and turn each
//! span's mark bits into its alloc bits.
//!
//! A span is swept exactly once per cycle by whoever claims it first (`sweepgen` CAS from
//! h-2 to h-1, `SpanPtr::claim`): the background sweeper, a thread refilling its cache
//! (which sweeps spans of the class it needs, `Central::cache_span`), a large allocation
//! (`reclaim`), or the next cycle's sweep termination (`finish`). A span is always swept
//! before it is allocated from (invariant I5).
//!
//! A dead object's drop glue runs in one of two places. Glue that runs only the runtime's
//! and the standard library's code (`Gc` and `GcCell` handles, `Vec`, `String`: a type whose
//! `Trace::DROP_RUNS_USER_CODE` is false) runs in place, here, inside the GC operation.
//! Anything else is user code: the object is moved out of its slot and queued for the
//! dropper (`dropper.rs`), which runs it outside every GC operation. See the collector
//! overview in `crate::gc`.

use super::daemon::Daemon;
use super::dropper::{self, Moved};
use crate::alloc::heap::{Heap, HEAP};
use crate::alloc::span::SpanPtr;
use crate::sync::{AtomicBool, AtomicU64, Backoff, Ordering};
use std::time::Instant;

crate::sync::global! {
    /// Nanoseconds spent sweeping in the background thread (for `gc_cpu_fraction`).
    pub(crate) static SWEEP_NS: AtomicU64 = AtomicU64::new(0);
}

/// Sweeps a claimed span. With `preserve`, the caller (a cache refill) keeps the span;
/// otherwise it goes back to its central list, or to the page heap if it is empty.
/// Returns the number of live objects left.
pub(crate) fn sweep_claimed(heap: &Heap, s: SpanPtr, preserve: bool) -> usize {
    let mut dead = Vec::new();
    // SAFETY: the caller claimed the span.
    if let Err(idx) = unsafe { s.dead_slots(&mut dead) } {
        crate::fatal(&format!(
            "found a marked free object (zombie) at {:#x} in span {:#x}: a pointer to freed memory was traced",
            s.slot_addr(idx),
            s.base
        ));
    }
    let clobber = crate::alloc::clobber::on();
    let mut moved: Option<Moved> = None;
    for &idx in &dead {
        let count = s.root_count(idx).load(Ordering::SeqCst);
        if count != 0 {
            crate::fatal(&format!(
                "unmarked object at {:#x} has {count} roots: the mark missed a root",
                s.slot_addr(idx)
            ));
        }
        // SAFETY: the slot held an object until this sweep; the span is claimed.
        let ty = unsafe { s.type_of(idx) };
        if let Some(drop_fn) = ty.drop {
            let p = s.slot_addr(idx);
            if ty.user_drop {
                let m = moved.get_or_insert_with(|| Moved::with_capacity(dead.len(), s.elemsize));
                // SAFETY: the object is unreachable (unmarked, no roots), in this claimed
                // span, not dropped yet; once moved, nothing reads or drops the slot's copy.
                unsafe {
                    super::dirty::forget_range(p, p + s.elemsize);
                    m.push(p, ty);
                }
            } else {
                // Runtime and std code only (module header): in place, now.
                // SAFETY: the object is unreachable (unmarked, no roots) and dropped once:
                // after this sweep its slot is free.
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe {
                    drop_fn(p as *mut u8)
                }));
                if r.is_err() {
                    crate::fatal(&format!(
                        "the drop glue of a {} panicked while swept, but its type says it runs no user code (Trace::DROP_RUNS_USER_CODE)",
                        (ty.name)()
                    ));
                }
            }
        }
        if clobber {
            // SAFETY: the slot is free now and belongs to the claimed span.
            unsafe { crate::alloc::clobber::poison(s.slot_addr(idx), s.elemsize) };
        }
    }
    if let Some(m) = moved {
        dropper::defer_moved(m);
    }
    let c = s.spanclass.size_class();
    if c != 0 {
        heap.counters.small_frees[c].fetch_add(dead.len() as u64, Ordering::Relaxed);
    }
    // SAFETY: the span is claimed and its dead objects are finished with.
    let live = unsafe { s.reset_after_sweep() };
    let sg = heap.sweepgen();
    if !preserve {
        if live == 0 {
            // SAFETY: claimed, empty, and in no set or cache.
            unsafe { heap.free_span(s) };
        } else {
            s.sweepgen.store(sg, Ordering::Release);
            heap.centrals[s.spanclass.index()].push_swept(s, sg, live == s.nelems);
        }
    }
    heap.sweep_pending.fetch_sub(1, Ordering::AcqRel);
    live
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
        for central in HEAP.centrals.iter() {
            if let Some(s) = central.claim_unswept(sg) {
                sweep_claimed(&HEAP, s, false);
                return true;
            }
        }
        false
    })
}

/// Sweep termination: sweeps everything left and waits for sweeps in progress elsewhere.
pub(crate) fn finish() {
    while sweep_one() {}
    let mut backoff = Backoff::default();
    while HEAP.sweep_pending.load(Ordering::Acquire) != 0 {
        backoff.snooze();
    }
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
    // Swept spans left free pages: give what the goals ask for back to the OS.
    super::scavenger::wake();
}
