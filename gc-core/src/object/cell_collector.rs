//! The collector's side of `GcCell` (a child of `cell.rs`, whose header has the rooting
//! protocol and the flags): the marker's read of the contents (`try_trace_contents`, under
//! the collector's hold or a read lock, skipped when the contents are rooted; a large list
//! a chunk at a time, the lock let go between two, `trace_rest`), the unroot
//! pass's visit (`unroot_for_pass`, `unroot_erased`: rooted contents back into edges, except
//! large cells written recently, `crate::gc::dirty`; a large list of handles a chunk at a
//! time, the cell let go between two, `unroot_in_chunks`), `Gc::new`'s keeping of a large
//! cell moved in (`keep_moved_in`, `crate::gc::move_in`) and a forced cycle's rooting
//! again (`reroot_erased`, `crate::gc::reroot`).
//!
//! Invariants: the contents are read only under the marker's lock and written only under
//! the collector's exclusive hold (the unroot pass, with biases suspended); the flags are
//! written only by an exclusive holder, with plain stores, and read without the lock as a
//! hint (`kept_by_pass`) or under it. Nothing here blocks: a cell a user holds is left
//! for a later pass (part of a large list too: each handle keeps its own root flag), or
//! waited for with a backoff while its writer does bounded work (`trace_after_writer`,
//! and `trace_rest` until the writer's rooting is published).
//! See the collector overview (`crate::design::collector`).

use super::*;

impl<T: Trace> GcCell<T> {
    /// Whether flags `f` are those of a rooted cell written recently enough for a pass
    /// that keeps the large cells written recently for epoch `keep`.
    #[inline]
    fn rooted_and_written_for(f: u8, keep: Option<u8>) -> bool {
        f & ROOTED != 0 && keep.is_some_and(|e| gc::written_within(f >> WRITTEN_SHIFT, e))
    }

    /// Whether the unroot pass, keeping the large cells written recently for epoch `keep`,
    /// leaves this cell rooted for that reason (a hint read without the lock: keeping is
    /// always sound).
    #[inline]
    fn kept_by_pass(&self, keep: Option<u8>) -> bool {
        keep.is_some() && {
            let f = self.lock.flags.load(Ordering::Relaxed);
            f & LARGE != 0 && Self::rooted_and_written_for(f, keep)
        }
    }

    /// Whether `value` holds at least [`LARGE_HANDLES`] handles: asked of the length of its
    /// containers first (`Trace::handles_hint`, O(nesting) for a container), counted only
    /// then (a walk that only reads, and that a container stops once the count is reached:
    /// `Trace::trace_counting`).
    pub(super) fn holds_large(value: &T) -> bool {
        const ENOUGH: u64 = LARGE_HANDLES as u64;
        value.handles_hint() >= LARGE_HANDLES
            && gc::count_edges(ENOUGH, |t| value.trace_counting(t)) >= ENOUGH
    }

    /// `Gc::new`'s move-in walk met this rooted cell (flags `f`), now in its final place in
    /// the new object: if the contents hold [`LARGE_HANDLES`] handles or more, they stay
    /// rooted, and the cell is left as a write guard would leave it (rooted, heap-owned,
    /// `LARGE`, written in this epoch) and recorded dirty when the walk ends
    /// (`crate::gc::move_in`), so that its first write does not root them all again. True
    /// if it stayed rooted.
    pub(super) fn keep_moved_in(&mut self, f: u8) -> bool {
        if !Self::holds_large(self.value.get_mut()) {
            return false;
        }
        let epoch = gc::write_epoch() << WRITTEN_SHIFT;
        // The lock reset with the new flags in one store, as `unroot` does (no guard is
        // alive: `&mut self`); the marker sees them through whatever ends the `&mut`.
        self.lock
            .reset_with_flags((f & !WRITTEN) | ROOTED | HEAP_OWNED | LARGE | epoch);
        gc::keep_moved_in_rooted(
            self as *const Self as usize,
            unroot_erased::<T>,
            &self.lock.flags,
        );
        true
    }
}

/// After a forced cycle, for a `GcCell<T>` its mark met as a large edge cell written
/// recently (`crate::gc::reroot`): roots the contents again and records the cell dirty, as
/// a write guard's first write would, unless a writer holds the cell or has rooted it
/// since. The caller has suspended biases.
///
/// # Safety
///
/// `addr` is a live `GcCell<T>` inside a heap object, not inside another cell's contents,
/// and stays so until this returns.
pub(crate) unsafe fn reroot_erased<T: Trace>(addr: usize) {
    // SAFETY: per the contract.
    let cell = unsafe { &*(addr as *const GcCell<T>) };
    let Some(hold) = cell.lock.try_hold_collector_exclusive() else {
        return;
    };
    // Acquire: the hold's Acquire CAS already orders every write of the flags before us.
    let f = cell.lock.flags.load(Ordering::Acquire);
    if f & ROOTED == 0 {
        // SAFETY: the collector's exclusive hold: nobody else reads or writes the
        // contents, which are edges of the enclosing (live) object and become roots.
        cell.value.with_mut(|v| unsafe { (*v).root() });
        // Release, as in `make_rooted`: a marker that sees ROOTED sees the walk done. A
        // plain store: the hold excludes every other writer of the flags.
        cell.lock.flags.store(f | ROOTED, Ordering::Release);
        gc::list_dirty_cell(addr, unroot_erased::<T>, &cell.lock.flags);
    }
    cell.lock.release_collector(hold);
}

/// The unroot pass's entry for a `GcCell<T>` (see `crate::gc::dirty`): turns a rooted cell
/// back into edges if nobody holds it. Returns false if the cell is busy.
///
/// # Safety
///
/// `addr` is a live `GcCell<T>` on the dirty list, and the caller holds the dirty-list lock.
pub(super) unsafe fn unroot_erased<T: Trace>(addr: usize, keep: Option<u8>) -> bool {
    // SAFETY: per the contract the cell is alive (it removes itself from the list, under the
    // list lock we hold, before it is dropped or moved).
    let cell = unsafe { &*(addr as *const GcCell<T>) };
    // The caller holds the dirty-list lock, which guards ON_LIST (the cell is on the list
    // only if HEAP_OWNED).
    cell.unroot_if_free(keep, |flags| {
        flags.fetch_and(!ON_LIST, Ordering::Relaxed);
    })
}

impl<T: Trace> GcCell<T> {
    /// The marker's read of the contents: skipped if they are rooted, traced under the
    /// marker's lock otherwise (`trace_locked`). False if a writer holds the cell.
    #[inline(always)]
    pub(super) fn try_trace_contents(&self, tracer: &mut Tracer) -> bool {
        // Acquire pairs with the Release writes of ROOTED (`make_rooted`, `reedge`,
        // `unroot_erased`, `root`, `unroot`): seeing ROOTED, we see the walk done that
        // counted every handle inside, so we may skip the contents.
        let f = self.lock.flags.load(Ordering::Acquire);
        if f & ROOTED != 0 {
            if f & (HEAP_OWNED | ON_LIST) == HEAP_OWNED {
                // Usually in a dirty slot already; not if its write guard is still held
                // (or was leaked) on the epoch's first write (`make_rooted`).
                gc::note_rooted_cell(self as *const Self as usize);
            }
            return true;
        }
        if f & LARGE != 0 && tracer.is_assist() {
            // Thousands of edges: not for a mutator's assist (its allocation would wait
            // for them all), but for a background worker, which scans the object again.
            tracer.defer_object();
            return true;
        }
        if !self.trace_locked(tracer) {
            return false;
        }
        // With `LARGE` as the trace just left it (`note_size`: a list grown large while
        // rooted is told so here first). Relaxed: only a hint, `reroot_erased` looks again.
        let f = self.lock.flags.load(Ordering::Relaxed);
        if f & LARGE != 0 && tracer.records_reroots() && gc::written_recently(f >> WRITTEN_SHIFT) {
            // A forced cycle's pass unrooted it; a paced one would have kept it rooted.
            gc::note_reroot(self as *const Self as usize, reroot_erased::<T>);
        }
        true
    }

    /// Traces the contents under the marker's lock (the collector's hold if the cell is
    /// free, a shared read lock otherwise, which leaked user read guards cannot make fail).
    /// False, tracing nothing, if a writer holds the cell. A list of more than a chunk's
    /// edges (`Trace::trace_chunk`) is traced a chunk at a time, the lock let go between
    /// two: `trace_rest`.
    #[inline(always)]
    fn trace_locked(&self, tracer: &mut Tracer) -> bool {
        let before = tracer.edges_seen();
        let next = if let Some(hold) = self.lock.try_hold_collector() {
            // SAFETY: the collector holds the lock alone on the word; the only other access
            // it allows is the owner's counted reads, which read too.
            let next = unsafe { self.trace_inside(tracer, 0) };
            if next.is_none() {
                if let (Some(before), Some(after)) = (before, tracer.edges_seen()) {
                    self.note_size(after.wrapping_sub(before));
                }
            }
            self.lock.release_collector(hold);
            next
        } else if self.lock.try_read_marker() {
            // SAFETY: read lock held.
            let next = unsafe { self.trace_inside(tracer, 0) };
            self.lock.read_unlock_marker();
            next
        } else {
            return false;
        };
        if let Some(from) = next {
            if let Some(before) = before {
                tracer.between_chunks(tracer.edge_count().wrapping_sub(before));
            }
            self.trace_rest(tracer, from, before);
        }
        true
    }

    /// The chunks of a large list after the first (`trace_locked`), each under a shared
    /// read lock (readers of the cell go on meanwhile), the lock let go between two
    /// (writers get it then: `CellLock::let_waiters_in`). A writer that takes the cell
    /// meanwhile roots every handle in it (`make_rooted`) or, `replace`, roots the old
    /// value and makes the new one edges, and while marking each of those shades what it
    /// counts or makes an edge (Go's hybrid barrier): so once the cell is rooted the rest
    /// needs no scan, and a scan resumed on replaced contents only traces objects already
    /// shaded, which is harmless. Waits only for a writer inside `borrow_mut`'s rooting or
    /// inside `replace` (bounded, runtime code), as `trace_after_writer` does.
    #[cold]
    #[inline(never)]
    fn trace_rest(&self, tracer: &mut Tracer, mut from: usize, before: Option<u64>) {
        let mut backoff = Backoff::default();
        loop {
            self.lock.let_waiters_in();
            // Acquire pairs with the Release writes of ROOTED, as in `try_trace_contents`.
            if self.lock.flags.load(Ordering::Acquire) & ROOTED != 0 {
                return;
            }
            if !self.lock.try_read_marker() {
                backoff.snooze();
                continue;
            }
            let start = tracer.edge_count();
            // SAFETY: read lock held.
            let next = unsafe { self.trace_inside(tracer, from) };
            self.lock.read_unlock_marker();
            tracer.between_chunks(tracer.edge_count().wrapping_sub(start));
            match next {
                Some(n) => from = n,
                None => break,
            }
        }
        // The whole list traced: `LARGE` follows its edges, set under the collector's hold
        // as every write of the flags is (if it can be had: a hint), unless a writer rooted
        // the cell meanwhile, which makes `LARGE` the rooting's business.
        if let (Some(before), Some(after)) = (before, tracer.edges_seen()) {
            if let Some(hold) = self.lock.try_hold_collector() {
                if self.lock.flags.load(Ordering::Relaxed) & ROOTED == 0 {
                    self.note_size(after.wrapping_sub(before));
                }
                self.lock.release_collector(hold);
            }
        }
    }

    /// Traces the contents from element `from` on, one chunk of a list or everything else
    /// (`Trace::trace_chunk`), the tracer knowing it is inside this cell
    /// (`Tracer::enter_cell`); returns where the next chunk starts. A small value with its
    /// handles inline (`reedges_on_release`) is traced whole.
    ///
    /// # Safety
    ///
    /// The caller holds the marker's lock on the cell (the collector's hold or a read lock).
    #[inline(always)]
    unsafe fn trace_inside(&self, tracer: &mut Tracer, from: usize) -> Option<usize> {
        tracer.enter_cell();
        // Two closures, so that the small value's stays the one-call body it always was,
        // which the compiler inlines into the object's trace (one closure with both paths
        // was a call per cell, and GCBench's mark did 4% more work).
        let next = if Self::reedges_on_release() {
            // SAFETY: the contract: nobody writes the contents meanwhile.
            self.value.with(|v| unsafe { (*v).trace(tracer) });
            None
        } else {
            // SAFETY: as above.
            self.value
                .with(|v| unsafe { (*v).trace_chunk(tracer, from) })
        };
        tracer.leave_cell();
        next
    }

    /// Holding the collector's hold on an edge cell whose contents just gave `edges` edges:
    /// `LARGE` follows their number, so that assists leave the cell to the background
    /// workers from the next cycle on (a plain store, as every write of the flags: the hold
    /// is exclusive against every other writer). Only when it changes.
    fn note_size(&self, edges: u64) {
        let f = self.lock.flags.load(Ordering::Relaxed);
        let large = if edges >= LARGE_HANDLES as u64 {
            LARGE
        } else {
            0
        };
        if f & LARGE != large {
            self.lock
                .flags
                .store((f & !LARGE) | large, Ordering::Relaxed);
        }
    }

    /// A writer holds an edge cell: it is inside `borrow_mut`, about to root the contents,
    /// inside `replace`, or releasing a small cell's guard (`reedge`): bounded work that
    /// never waits for the collector (or the unroot pass holds it, as briefly). A leaked
    /// write guard cannot be the reason: on a heap cell its `borrow_mut` rooted the
    /// contents, and a stack cell's leaked guards were reset when `Gc::new` unrooted it.
    /// Wait for it.
    #[cold]
    #[inline(never)]
    pub(super) fn trace_after_writer(&self, tracer: &mut Tracer) {
        let mut backoff = Backoff::default();
        loop {
            backoff.snooze();
            if self.try_trace_contents(tracer) {
                return;
            }
        }
    }

    /// The collector's unrooting of a `HEAP_OWNED` cell, for both records of dirty cells:
    /// if nobody holds the cell, turns rooted contents into edges of the enclosing object,
    /// runs `also` on the flags while still holding the lock, and returns true; false if
    /// the cell is busy, or large and written recently for epoch `keep` (so it stays
    /// rooted). Never blocks.
    fn unroot_if_free(&self, keep: Option<u8>, also: impl FnOnce(&AtomicU8)) -> bool {
        if self.kept_by_pass(keep) {
            return false;
        }
        let addr = self as *const Self as usize;
        // The collector's hold: no thread's, not recorded, and with no owner reading under
        // a bias (the pass suspends biases). A cell users hold is left for the next cycle.
        let Some(hold) = self.lock.try_hold_collector_exclusive() else {
            if self.lock.held_by_user_writer() {
                gc::note_held_cell(addr);
            }
            return false;
        };
        // Acquire: as in `replace`, the hold's Acquire CAS already orders every write of
        // `flags` before us. Relaxed would do.
        let mut f = self.lock.flags.load(Ordering::Acquire);
        if let Some(e) = gc::held_through_last_pass(addr) {
            // Its write guard was held through the last pass and let go since: written
            // in the epoch this pass closes, whatever epoch the guard recorded when taken
            // (`crate::gc::dirty`, `HELD`). Plain stores here: the hold is exclusive.
            f = (f & !WRITTEN) | (e << WRITTEN_SHIFT);
            self.lock.flags.store(f, Ordering::Relaxed);
        }
        if self.keeps_large(f, keep) {
            if f & LARGE == 0 {
                // Rooted while small and grown since: large from now on.
                self.lock.flags.store(f | LARGE, Ordering::Relaxed);
            }
            self.lock.release_collector(hold);
            return false;
        }
        if f & (ROOTED | LARGE | ON_LIST) == ROOTED | LARGE && T::unroots_in_chunks() {
            // A large list in a heap slot (`also` is for listed cells only).
            return self.unroot_in_chunks(hold, f);
        }
        // The cell is HEAP_OWNED (the callers' contract).
        self.to_edges(f);
        also(&self.lock.flags);
        self.lock.release_collector(hold);
        true
    }

    /// `to_edges` for a large list in a heap slot, holding the collector's exclusive hold
    /// on the cell with flags `f`: a chunk of its elements at a time
    /// (`Trace::unroot_chunk`), the hold let go between two, so that the cell's readers
    /// wait for one chunk, not for the whole list (27 ms for 2.8 million handles, median:
    /// `large_lists --only read_in_unroot`). `ROOTED` leaves the flags first: each handle
    /// says by its own flag whether it is still a root, so a writer that gets in between
    /// two chunks roots the edges again (`make_rooted`), and the pass stops when it sees
    /// the cell `ROOTED` again. If readers still hold the cell when the next chunk is due
    /// (`hold_collector_exclusive_soon`), the pass leaves it part rooted and its slot
    /// dirty: the next pass finishes it (`unroot_for_pass`), and meanwhile the roots left
    /// only keep alive what the list holds. True if the list is all edges now.
    #[cold]
    #[inline(never)]
    fn unroot_in_chunks(&self, mut hold: crate::object::cell_lock::Hold, f: u8) -> bool {
        // Release, as in `to_edges` (no marker runs during the pass; a plain store, as every
        // write of the flags under an exclusive hold).
        self.lock.flags.store(f & !ROOTED, Ordering::Release);
        let mut from = 0;
        loop {
            // SAFETY: the collector's exclusive hold, and the cell lives in a heap object
            // (`HEAP_OWNED`), whose edges its handles become.
            let next = self.value.with_mut(|v| unsafe { (*v).unroot_chunk(from) });
            self.lock.release_collector(hold);
            let Some(n) = next else {
                return true;
            };
            from = n;
            #[cfg(debug_assertions)]
            if from == crate::gc::CHUNK_EDGES as usize {
                crate::gc::UNROOT_CHUNKS_GATE.pass();
            }
            self.lock.let_waiters_in();
            hold = match self.lock.hold_collector_exclusive_soon() {
                Some(h) => h,
                None => return false,
            };
            // Acquire: the hold's Acquire CAS already orders a writer's flags before us.
            if self.lock.flags.load(Ordering::Acquire) & ROOTED != 0 {
                // A writer got in and rooted the list again (recording its slot dirty).
                self.lock.release_collector(hold);
                return false;
            }
        }
    }

    /// Holding the collector's exclusive hold on a cell with flags `f`: whether a pass
    /// keeping the large cells written recently for epoch `keep` keeps it rooted, being
    /// rooted, written recently, and `LARGE` or holding at least [`LARGE_HANDLES`] handles
    /// now. `LARGE` is set when a write guard roots the contents, so a list rooted small
    /// and grown large since (appended to within one cycle) would otherwise be unrooted
    /// here and rooted whole again by its next writer; it is counted only when written
    /// recently.
    fn keeps_large(&self, f: u8, keep: Option<u8>) -> bool {
        if !Self::rooted_and_written_for(f, keep) {
            return false;
        }
        // SAFETY: the collector's exclusive hold: nobody writes the contents meanwhile.
        f & LARGE != 0 || self.value.with(|v| Self::holds_large(unsafe { &*v }))
    }

    /// The unroot pass's visit of a cell inside a dirty heap object (`crate::gc::dirty`):
    /// a rooted cell's contents become edges of the object, an edge cell's contents are
    /// walked for cells nested inline. A cell a writer holds is left as it is and the walk
    /// noted busy (the object stays dirty for the next cycle). Cells on the list (outside
    /// heap slots) are the list's to visit. Never blocks.
    pub(super) fn unroot_for_pass(&self, tracer: &mut Tracer) {
        // Acquire pairs with the Release writes of ROOTED, as in `trace`.
        let f = self.lock.flags.load(Ordering::Acquire);
        if f & ON_LIST != 0 {
            return;
        }
        if f & ROOTED == 0 {
            let done = if f & (LARGE | HEAP_OWNED) == LARGE | HEAP_OWNED && T::unroots_in_chunks() {
                // A large list of handles (no cell inside), perhaps left part rooted by
                // the last pass (`unroot_in_chunks`): finished here, in chunks (a handle
                // already an edge is left as it is).
                self.lock
                    .try_hold_collector_exclusive()
                    .is_some_and(|hold| self.unroot_in_chunks(hold, f))
            } else {
                self.trace_locked(tracer)
            };
            if !done {
                tracer.note_left_dirty();
            }
            return;
        }
        if f & HEAP_OWNED == 0 {
            // Rooted with an enclosing cell's contents (`root`): that cell is the one whose
            // unrooting turns this one back.
            return;
        }
        if !self.unroot_if_free(tracer.keep_written(), |_| {}) {
            tracer.note_left_dirty();
        }
    }
}
