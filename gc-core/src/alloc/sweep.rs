//! Sweeping one span (Go's `mspan.sweep`): free the objects the last mark left white,
//! check what the mark got wrong, and turn the span's mark bits into its alloc bits.
//!
//! Only a span claimed through its `sweepgen` (`SpanPtr::claim`, which returns a
//! [`Claimed`]) can be swept, and a claim is consumed by its sweep: "the caller owns the
//! span" is a type here. Who claims spans and when (the background sweeper, a cache refill,
//! the page reclaimer, sweep termination) is the collector's business (`crate::gc`'s
//! `sweep.rs`); so is what becomes of a dead object whose drop runs user code
//! (`TypeInfo::user_drop`): the sweep hands those to the collector's `defer_drops` hook
//! (`hooks.rs`), which moves them out of their slots, before it frees the slots. Drop glue
//! that runs only the runtime's and the standard library's code runs here, in place.
//!
//! Shared state: the span's allocation state belongs to the claimer; the heap's counters
//! are atomics; re-listing a span takes its central list's lock. See the allocator overview
//! (`crate::design::allocator`).

use super::heap::Heap;
use super::span::{Claimed, SlotSet};
use crate::descriptor::TypeInfo;
use crate::sync::Ordering;

/// Sweeps a claimed span. With `keep`, the caller (a cache refill) keeps the span;
/// otherwise it goes back to its central list, or to the page heap if it is empty.
/// Returns the number of live objects left.
pub(crate) fn sweep(heap: &Heap, claimed: Claimed, keep: bool) -> usize {
    let s = claimed.span();
    let dead = claimed.dead_slots().unwrap_or_else(|idx| {
        crate::fatal(&format!(
            "found a marked free object (zombie) at {:#x} in span {:#x}: a pointer to freed memory was traced",
            s.slot_addr(idx),
            s.base
        ))
    });
    // A span of one type (most spans) decides per span what each dead object needs.
    let uniform = claimed.uniform_type();
    // First the check: no dead object has a root (a word of sixteen counters at a time).
    if let Some((idx, count)) = s.rooted_in(&dead) {
        crate::fatal(&format!(
            "unmarked object at {:#x} has {count} roots: the mark missed a root",
            s.slot_addr(idx)
        ));
    }
    // Then the objects whose drop is user code leave their slots: all of them or none in a
    // span of one type, decided per object otherwise.
    let mut mixed = SlotSet::new();
    let deferred = match uniform {
        Some(ty) if !ty.user_drop => None,
        Some(_) => Some(&dead),
        None => {
            for idx in dead.iter() {
                // SAFETY: the slot held an object until this sweep; the span is claimed.
                if unsafe { s.type_of(idx) }.user_drop {
                    mixed.insert(idx);
                }
            }
            Some(&mixed)
        }
    };
    if let Some(deferred) = deferred.filter(|d| !d.is_empty()) {
        (super::hooks::hooks().defer_drops)(&claimed, deferred);
    }
    // Then the slots are freed: drop glue of runtime and std code only runs in place (what
    // it frees outside the heap counts as the garbage's, `external.rs`). A span of one type
    // whose objects have nothing to drop in place skips the walk, unless its slots are to
    // be poisoned.
    let clobber = super::clobber::on();
    // Most spans never had a dirty slot: one load instead of one per object.
    let clean = !s.maybe_dirty();
    if clobber || uniform.is_none_or(|ty| drops_in_place(ty, clean)) {
        super::external::while_dropping_garbage(|| {
            free_dead(&claimed, &dead, uniform, clean, clobber)
        });
        // What this thread's recycle cache kept of it joins the threads' sum.
        super::recycle::publish_here();
    }
    let c = s.spanclass.size_class();
    if c != 0 {
        heap.counters.count_small_frees(c, dead.len() as u64);
    }
    let live = claimed.reset_after_sweep();
    // The heap profile's census, before `sweep_pending` counts this sweep done.
    super::live_types::record(&claimed, live);
    let sg = heap.sweepgen();
    if !keep {
        if live == 0 {
            // SAFETY: claimed, empty, and in no set or cache.
            unsafe { heap.free_span(s) };
        } else {
            // Release pairs with the next cycle's claim (`SpanPtr::claim`'s AcqRel CAS);
            // a thread that caches the span instead takes it under the central list's lock.
            s.sweepgen.store(sg, Ordering::Release);
            heap.centrals[s.spanclass.index()].push_swept(s, sg, live == s.nelems);
        }
    }
    // The Release half pairs with sweep termination's Acquire load (`finish` in the
    // collector): once it reads zero, every sweep's writes are visible (a Release RMW chain
    // would do; the Acquire half pairs with nothing).
    let epoch = super::live_types::epoch();
    if heap.sweep_pending.fetch_sub(1, Ordering::AcqRel) == 1 {
        // The cycle's last sweep: the heap profile's census is complete.
        super::live_types::swept_last(epoch);
    }
    live
}

/// Whether a dead object of type `ty` has drop glue to run here, in place: glue that runs
/// no user code (the others were moved out), unless it is a no-op on garbage in a `clean`
/// slot (one no write made dirty).
fn drops_in_place(ty: &TypeInfo, clean: bool) -> bool {
    ty.drop.is_some() && !ty.user_drop && !(ty.skip_clean_garbage && clean)
}

/// Drops the dead objects of `dead` that [`drops_in_place`] says to, and poisons every
/// dead slot under `GODEBUG=clobberfree=1`. `uniform` is the span's one type, if it has
/// one; `clean` says that no slot of the span was ever dirty.
fn free_dead(
    claimed: &Claimed,
    dead: &SlotSet,
    uniform: Option<&'static TypeInfo>,
    clean: bool,
    clobber: bool,
) {
    let s = claimed.span();
    for idx in dead.iter() {
        // SAFETY: the slot held an object until this sweep (it is in `dead`); the span is
        // claimed.
        let ty = uniform.unwrap_or_else(|| unsafe { s.type_of(idx) });
        let drop_fn = ty
            .drop
            .filter(|_| drops_in_place(ty, clean || !s.is_dirty(idx)));
        if let Some(drop_fn) = drop_fn {
            let p = s.slot_addr(idx);
            // SAFETY: the object is unreachable (unmarked, no roots) and dropped once:
            // after this sweep its slot is free.
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe {
                drop_fn(p as *mut u8)
            }));
            if r.is_err() {
                crate::fatal(&format!(
                    "the drop glue of a {} panicked while swept, but its type says it runs no user code (Trace::drop_runs_user_code)",
                    (ty.name)()
                ));
            }
        }
        if clobber {
            // SAFETY: the slot is free now (its object dropped or moved out) and belongs to
            // the claimed span.
            unsafe { super::clobber::poison(s.slot_addr(idx), s.elemsize) };
        }
    }
}
