//! `GcCell`'s write path (a child of `cell.rs`, whose header has the rooting protocol and
//! the flags): a write guard's rooting of an edge cell's contents (`make_rooted`: once per
//! cycle, O(contents); it records a heap cell as dirty for the unroot pass,
//! `crate::gc::dirty`, and stamps the write epoch, `WRITTEN`, and `LARGE`), and, for a
//! small value with its handles inline (`reedges_on_release`: at most `REEDGE_MAX_BYTES`),
//! the undoing of the epoch's first write at the guard's release (`reedge`, `to_edges`),
//! which then records nothing.
//!
//! Invariants: every path that hands out `&mut T` roots first, so no handle a writer moves
//! in or out escapes uncounted; `ROOTED` is published (a Release store) only after the
//! rooting walk is done, and cleared only after the walk back to edges. Synchronisation:
//! everything here runs under the cell's write lock (`to_edges` also under the collector's
//! exclusive hold), which protects the contents; the flags are atomic, written with plain
//! stores (every write of them holds the cell exclusively) and read by the marker without
//! the lock ("module header" in the comments below is `cell.rs`'s). See the collector
//! overview (`crate::design::collector`, "Cells").

use super::*;
use crate::object::gc::rooted_handles;

/// The handles (by `Trace::handles_hint`, the containers' lengths) from which a write
/// guard roots a cell's contents in bulk (`gc::bulk_rooting`): below it, the two root
/// operations that switch the mode cost more than they save.
const BULK_HANDLES: usize = 64;

impl<T: Trace> GcCell<T> {
    /// The write guard for `hold` (this cell's write lock): the contents rooted first
    /// (`make_rooted`). Contents that an edge cell in a heap object had go back to edges
    /// when the guard is released, if their handles all sit inline in a small value
    /// ([`REEDGE_MAX_BYTES`]; `Option<Gc<_>>`, tuples, arrays and derived types of such, as
    /// `Trace::garbage_drop_is_noop_at` tells) and this is the cell's first write through a
    /// guard in this write epoch (`WRITTEN`): O(the value), as `replace` costs, instead of
    /// a count per handle written kept, and a dirty slot to walk, until the next cycle's
    /// unroot pass.
    #[inline]
    pub(super) fn write_guard<'a>(&'a self, mut hold: WriteHold<'a>) -> GcCellRefMut<'a, T> {
        if self.make_rooted() {
            // SAFETY: `reedge::<T>` on this cell, which outlives the hold, is sound under
            // its write lock (`make_rooted` rooted an edge cell of a heap object).
            unsafe { hold.set_on_release(Self::reedge, self as *const Self as usize) };
        }
        // SAFETY: the contents, valid while the cell lives, now rooted; `hold` is its
        // write lock.
        unsafe { GcCellRefMut::new(hold, self.contents_mut()) }
    }

    /// Whether `write_guard` turns rooted contents back into edges at the release: small
    /// values with every handle inline. A constant expression.
    #[inline(always)]
    pub(super) fn reedges_on_release() -> bool {
        std::mem::size_of::<T>() <= REEDGE_MAX_BYTES && T::garbage_drop_is_noop_at(0)
    }

    /// `write_guard`'s release: the contents it rooted become edges of the enclosing object
    /// again, as the unroot pass would make them (`unroot_if_free`). Nothing was recorded
    /// for that pass; a guard leaked instead leaves the cell rooted in a clean slot until
    /// the marker meets it (`try_trace_contents`) and marks the slot dirty.
    ///
    /// # Safety
    ///
    /// `cell` is a live `GcCell<T>` inside a heap object, rooted by `make_rooted` under the
    /// write lock that the caller still holds.
    unsafe fn reedge(cell: usize) {
        // SAFETY: the contract.
        let cell = unsafe { &*(cell as *const Self) };
        // Nothing clears ROOTED while we hold the write lock (the unroot pass cannot take
        // the cell, `&mut` paths cannot exist). Relaxed: the lock orders the flags' writes.
        let f = cell.lock.flags.load(Ordering::Relaxed);
        debug_assert!(f & ROOTED != 0 && f & HEAP_OWNED != 0);
        cell.to_edges(f);
    }

    /// Holding a heap cell (`HEAP_OWNED`) exclusively, its write lock or the collector's
    /// hold, with flags `f`: rooted contents become edges of the enclosing object, and
    /// `ROOTED` leaves the flags.
    pub(super) fn to_edges(&self, f: u8) {
        if f & ROOTED != 0 {
            // SAFETY: the cell is held exclusively and lives in a heap object, so its
            // handles may become edges of that object.
            self.value.with_mut(|v| unsafe { (*v).unroot() });
            // Release pairs with the marker's Acquire load in `trace`: seeing ROOTED clear,
            // it sees the edges this walk left (which it then reads under its lock, so the
            // holder's release publishes them too). A plain store: every write of the flags
            // holds the cell exclusively (module header).
            self.lock.flags.store(f & !ROOTED, Ordering::Release);
        }
    }

    /// With the write lock held: root the contents if they are edges. True if the write
    /// guard's release should turn them back into edges: edges of a heap object, of a type
    /// `reedges_on_release` accepts, not written through a guard in this write epoch
    /// (`WRITTEN`, now set to it); nothing is recorded for the unroot pass then. Otherwise
    /// a heap cell is recorded as dirty.
    #[inline]
    fn make_rooted(&self) -> bool {
        if !T::needs_trace() {
            // No handle inside: nothing to count, nothing for the unroot pass.
            return false;
        }
        // Acquire: as in `replace`, the write lock already orders every write of `flags`
        // before us. Relaxed would do.
        let f = self.lock.flags.load(Ordering::Acquire);
        if f & ROOTED != 0 {
            if f & HEAP_OWNED != 0 {
                self.note_written(f);
            }
            return false;
        }
        // A small value with its handles inline cannot hold `LARGE_HANDLES` (a constant):
        // only other types count what the walk roots.
        let before = (!Self::reedges_on_release()).then(rooted_handles);
        // SAFETY: we hold the write lock, so we have exclusive access to the contents.
        let root = || self.value.with_mut(|v| unsafe { (*v).root() });
        // SAFETY: as above; `handles_hint` only reads.
        if before.is_some() && self.value.with(|v| unsafe { (*v).handles_hint() }) >= BULK_HANDLES {
            // Containers of many handles: rooted in bulk (`gc::bulk_rooting`).
            gc::bulk_rooting(root);
        } else {
            root();
        }
        // Publish after the rooting: a marker that sees ROOTED may skip the contents
        // because every handle in them is now counted (and shaded if marking). Release pairs
        // with the marker's Acquire load in `trace`: seeing ROOTED, it sees this walk done.
        // A plain store, not a read-modify-write: every write of the flags holds the cell
        // exclusively (the write lock, the collector's hold, or `&mut`).
        if f & HEAP_OWNED == 0 {
            self.lock.flags.store(f | ROOTED, Ordering::Release);
            return false;
        }
        let epoch = gc::write_epoch() << WRITTEN_SHIFT;
        let large = match before {
            Some(b) if rooted_handles().wrapping_sub(b) >= LARGE_HANDLES => LARGE,
            _ => 0,
        };
        self.lock.flags.store(
            (f & !(WRITTEN | LARGE)) | ROOTED | large | epoch,
            Ordering::Release,
        );
        if Self::reedges_on_release() && f & WRITTEN != epoch {
            // The epoch's first write: the guard's release makes this an edge cell again,
            // so nothing is recorded for the unroot pass (a guard leaked instead is
            // recorded by the marker: `try_trace_contents`).
            return true;
        }
        gc::list_dirty_cell(
            self as *const Self as usize,
            unroot_erased::<T>,
            &self.lock.flags,
        );
        false
    }
}

impl<T> GcCell<T> {
    /// A write guard on a rooted heap cell (flags `f`): records this write epoch in
    /// `WRITTEN`, so that a paced cycle's unroot pass leaves a `LARGE` cell rooted
    /// (`crate::gc::dirty`, "Large written cells stay rooted"). One store per cell per
    /// cycle.
    #[inline(always)]
    fn note_written(&self, f: u8) {
        let epoch = gc::write_epoch() << WRITTEN_SHIFT;
        if f & WRITTEN != epoch {
            // A plain store under the write lock, as every write of the flags (module
            // header); the pass reads it under its hold, or as a hint before it.
            self.lock
                .flags
                .store((f & !WRITTEN) | epoch, Ordering::Relaxed);
        }
    }
}

/// The largest value whose rooting by a write guard is undone at the guard's release
/// (`GcCell::write_guard`): sixteen words, walked at every write.
const REEDGE_MAX_BYTES: usize = 128;
