//! The central span lists (Go's mcentral), one per span class.
//!
//! Each holds partial spans (with free slots) and full spans, each split into a swept and an
//! unswept set. Which of the two sets is "swept" flips every cycle with
//! `(sweepgen / 2) % 2`, so when mark termination adds 2 to `sweepgen`, last cycle's swept
//! sets become this cycle's unswept sets without moving a span (Go's trick).
//!
//! Synchronisation: the sets are `Vec`s behind one mutex per span class (Go uses lock-free
//! span sets; contention here is one lock per span, not per object). The lock is never held
//! while sweeping (`sweep.rs`): sweeps are long, and other threads refill meanwhile. See the allocator overview (`crate::design::allocator`).

use super::heap::Heap;
use super::sizeclass::SpanClass;
use super::span::{Claimed, SpanPtr};
use crate::sync::{Mutex, Ordering};

/// Go's `cacheSpan` gives up sweeping this class's spans after this many and grows instead.
const SWEEP_BUDGET: usize = 100;

#[derive(Default)]
struct Sets {
    partial: [Vec<SpanPtr>; 2],
    full: [Vec<SpanPtr>; 2],
}

impl Sets {
    /// Puts a swept span in the right set for the current `sweepgen`.
    fn push_swept(&mut self, s: SpanPtr, sg: u32, full: bool) {
        let i = swept_index(sg);
        if full {
            self.full[i].push(s);
        } else {
            self.partial[i].push(s);
        }
    }
}

/// One span class's central list.
pub(crate) struct Central {
    sets: Mutex<Sets>,
}

/// A span in an unswept set must be claimable: only its set's owner moves it, and
/// `sweepgen` cannot change during the caller's GC operation.
fn claim_or_die(s: SpanPtr, sg: u32) -> Claimed {
    s.claim(sg).unwrap_or_else(|| {
        crate::fatal(&format!(
            "span {:#x} in an unswept set has sweepgen {} (heap sweepgen {sg})",
            s.base,
            s.sweepgen.load(Ordering::Relaxed)
        ))
    })
}

#[inline]
fn swept_index(sg: u32) -> usize {
    ((sg / 2) % 2) as usize
}

#[inline]
fn unswept_index(sg: u32) -> usize {
    1 - swept_index(sg)
}

impl Central {
    crate::sync::const_fn! {
        pub(crate) fn new() -> Central {
            Central {
                sets: Mutex::new(Sets {
                    partial: [Vec::new(), Vec::new()],
                    full: [Vec::new(), Vec::new()],
                }),
            }
        }
    }

    fn lock(&self) -> crate::sync::MutexGuard<'_, Sets> {
        self.sets.lock_spinning()
    }

    /// Puts a swept span in the right set for the current `sweepgen`.
    pub(crate) fn push_swept(&self, s: SpanPtr, sg: u32, full: bool) {
        self.lock().push_swept(s, sg, full);
    }

    /// Takes an unswept span, if any, claiming it for sweeping (`sweepgen` h-2 -> h-1).
    /// The caller is inside a GC operation, so `sg` is current.
    pub(crate) fn claim_unswept(&self, sg: u32) -> Option<Claimed> {
        let mut sets = self.lock();
        let i = unswept_index(sg);
        let s = sets.partial[i].pop().or_else(|| sets.full[i].pop())?;
        drop(sets);
        Some(claim_or_die(s, sg))
    }

    /// Go's `cacheSpan`: a span with at least one free slot for a thread cache, sweeping
    /// this class's unswept spans first, else growing the heap. The returned span is marked
    /// cached (`sweepgen` h+3). `None` only if the OS refuses memory.
    pub(crate) fn cache_span(&self, heap: &Heap, sc: SpanClass) -> Option<SpanPtr> {
        let sg = heap.sweepgen();
        let mut budget = SWEEP_BUDGET;
        // A span swept full, put in the swept full set in the next hold of the lock (one
        // hold per span swept, not two: the background sweeper takes the same lock).
        let mut swept_full = None;
        loop {
            let (s, needs_sweep) = {
                let mut sets = self.lock();
                if let Some(f) = swept_full.take() {
                    sets.push_swept(f, sg, true);
                }
                if let Some(s) = sets.partial[swept_index(sg)].pop() {
                    (s, false)
                } else if budget == 0 {
                    break;
                } else if let Some(s) = sets.partial[unswept_index(sg)].pop() {
                    (s, true)
                } else if let Some(s) = sets.full[unswept_index(sg)].pop() {
                    (s, true)
                } else {
                    break;
                }
            };
            if needs_sweep {
                budget -= 1;
                // Sweep outside the lock; a span with room comes back to us.
                let live = super::sweep::sweep(heap, claim_or_die(s, sg), true);
                if live < s.nelems {
                    return Some(self.mark_cached(s, sg));
                }
                // Release pairs with the Acquire half of the next claimer's CAS in
                // `SpanPtr::claim` (next cycle): it sees this sweep's writes to the span. A
                // taker from the swept set this cycle gets them through the set's lock.
                s.sweepgen.store(sg, Ordering::Release);
                swept_full = Some(s);
                continue;
            }
            return Some(self.mark_cached(s, sg));
        }
        let s = heap.alloc_span(sc)?;
        Some(self.mark_cached(s, sg))
    }

    fn mark_cached(&self, s: SpanPtr, sg: u32) -> SpanPtr {
        // Release pairs with the Acquire load in `uncache_span`, which runs in the cache's
        // owner (this thread, or the next holder of the shared fallback state's lock), or in
        // the collector with operations stopped (whose handshake publishes the cache's
        // writes): it makes nothing visible that is not already. Relaxed would do.
        s.sweepgen.store(sg + 3, Ordering::Release);
        s
    }

    /// Spans in the swept sets for `sg` (for the loom models).
    #[cfg(all(test, gc_loom))]
    pub(crate) fn swept_len(&self, sg: u32) -> usize {
        let sets = self.lock();
        sets.partial[swept_index(sg)].len() + sets.full[swept_index(sg)].len()
    }

    /// Go's `uncacheSpan`: a thread cache gives a span back.
    pub(crate) fn uncache_span(&self, heap: &Heap, s: SpanPtr) {
        let sg = heap.sweepgen();
        // Acquire pairs with the Release store in `mark_cached`, made by the cache's owner:
        // this thread (or an earlier holder of the fallback state's lock), or, when the
        // collector flushes with operations stopped, before the owner's `exit` that `stop`
        // acquired. Nothing new is published: Relaxed would do.
        let cur = s.sweepgen.load(Ordering::Acquire);
        assert_eq!(cur, sg + 3, "a cached span outlived its sweep generation");
        // Release pairs with the Acquire half of the next claimer's CAS in `SpanPtr::claim`:
        // it sees the cache's writes to the span's allocation state.
        s.sweepgen.store(sg, Ordering::Release);
        // SAFETY: the releasing cache owns the span until it is pushed.
        let full = unsafe { s.alloc_count() } == s.nelems;
        self.push_swept(s, sg, full);
    }
}
