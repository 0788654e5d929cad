//! `GcCell`'s `Trace` impl (a child of `cell.rs`, whose header has the rooting protocol
//! and the flags): how the collector and the paths that move handles see a cell. `trace` is
//! the marker's entry (nothing for a `T` without handles; in an unroot pass, the pass's
//! visit; otherwise the contents, read under the marker's lock: `cell_collector.rs`);
//! `root` and `unroot` turn the contents into counted roots, or into edges of the
//! enclosing object, through `&mut self` (`get_mut`, `into_inner`, `Gc::new`'s move-in,
//! which may keep a large cell rooted: `keep_moved_in`); `forget_edges` is the garbage
//! protocol's.
//!
//! Invariants: `&mut self` proves that no guard is alive, so `root` and `unroot` reset the
//! lock (forgetting leaked guards) and write the flags with plain stores; `root` first
//! takes a listed cell off the dirty list (under the list's mutex), since the unroot pass
//! may still hold it. The marker reads the flags without the lock (Acquire, pairing with
//! the Release stores here and in `cell_write.rs`). "Module header" in the comments below
//! is `cell.rs`'s (leaked guards are described there). See the collector overview
//! (`crate::design::collector`, "Cells").

use super::*;

// SAFETY: obligations 1-3. `trace` reads the contents only under the marker's lock (the
// collector's hold or a read lock), or skips them when they are rooted (then every handle
// inside is counted, so the root scan or the rooting's shade covers it). `root`/`unroot`
// visit the contents through `&mut self`, which also proves that no guard is alive, so they
// may reset the lock.
unsafe impl<T: Trace> Trace for GcCell<T> {
    // The cell's own drop (leaving the dirty list) is the runtime's.
    crate::object::trace::facts_of!(T);
    /// Garbage in a clean slot (the sweep's condition for skipping a drop) holds this cell
    /// in edge state: a rooted cell inline in a heap object keeps its slot dirty until the
    /// unroot pass makes it an edge cell again (`gc/dirty.rs`), except while a small cell's
    /// first write guard of a cycle is held (its object is reachable then: the guard
    /// borrows it) or after such a guard was leaked until the marker records it (module
    /// header); and the contents of an edge cell drop as `T`'s garbage does. The cell's own
    /// drop does nothing there either: a cell inline in a slot is never on the dirty list,
    /// and its lock has no guard to forget but leaked ones, recorded on the thread that
    /// leaked them (whose records a sweep on another thread could not reach anyway).
    #[inline(always)]
    fn garbage_drop_is_noop_at(depth: u32) -> bool {
        T::garbage_drop_is_noop_at(depth)
    }
    #[inline(always)]
    fn holds_keys_at(depth: u32) -> bool {
        T::holds_keys_at(depth)
    }
    // `root_key`/`unroot_key` keep their defaults: a cell inside a map key or set element
    // stays `ROOTED` (its contents counted), which is sound and never happens in practice.

    /// Contents in edge state (not `ROOTED`) follow the garbage protocol; rooted contents
    /// hold real counts, which their drop releases.
    unsafe fn forget_edges(&mut self) {
        if self.lock.flags.load(Ordering::Relaxed) & ROOTED == 0 {
            // SAFETY: forwarded from the caller's contract; `&mut self` excludes every
            // other access.
            unsafe { self.value.get_mut().forget_edges() };
        }
    }

    // Small enough to inline into the object's trace: the wait for a writer is out of line.
    #[inline(always)]
    fn trace(&self, tracer: &mut Tracer) {
        if !T::needs_trace() {
            return;
        }
        if tracer.is_unrooting() {
            return self.unroot_for_pass(tracer);
        }
        if !self.try_trace_contents(tracer) {
            self.trace_after_writer(tracer);
        }
    }

    unsafe fn root(&mut self) {
        if self.lock.flags.load(Ordering::Relaxed) & ON_LIST != 0 {
            // May wait for the unroot pass to finish with this cell, which changes the
            // flags: read them only afterwards.
            gc::unlist_dirty_cell(self as *const Self as usize, &self.lock.flags);
        }
        // Only now, with the cell unlisted, does `&mut self` exclude every lock holder: the
        // unroot pass (which may have held the write lock until `remove` returned) is done
        // with it, and no guard is alive. Forget any that were leaked.
        self.lock.reset();
        let f = self.lock.flags.load(Ordering::Relaxed);
        if f & ROOTED == 0 {
            // SAFETY: exclusive access through `&mut self`; forwarded contract.
            unsafe { self.value.get_mut().root() };
        }
        // A plain store, not a read-modify-write: `&mut self` excludes every other writer
        // (a locked instruction here would wait for the store buffer, which holds the
        // object's fresh bytes in `Gc::new`). Release pairs with the marker's Acquire load
        // in `trace`, but with `&mut self` no marker reads the flags meanwhile, and the next
        // reader gets them through whatever ends the `&mut` (a lock, a hand-over between
        // threads). Relaxed would do.
        self.lock.flags.store(
            (f | ROOTED) & !(HEAP_OWNED | WRITTEN | LARGE),
            Ordering::Release,
        );
    }

    #[inline]
    unsafe fn unroot(&mut self) {
        // No guard is alive (`&mut self`; a cell being unrooted is not on the dirty list,
        // so the unroot pass does not hold it either): forget any that were leaked. This
        // is what keeps the marker going: it waits while a writer holds an edge cell.
        debug_assert_eq!(self.lock.flags.load(Ordering::Relaxed) & ON_LIST, 0);
        let f = self.lock.flags.load(Ordering::Relaxed);
        if f & ROOTED != 0 {
            // A small value with its handles inline cannot hold `LARGE_HANDLES` (a constant),
            // nor can contents whose containers have fewer elements (`handles_hint`): asked
            // before the thread-local look at the walk, which cost every small cell's move-in.
            if !Self::reedges_on_release()
                && self.value.get_mut().handles_hint() >= LARGE_HANDLES
                && gc::in_move_in()
                && self.keep_moved_in(f)
            {
                return;
            }
            // SAFETY: exclusive access through `&mut self`; forwarded contract.
            unsafe { self.value.get_mut().unroot() };
        }
        // The lock reset with the new flags, in one store. A plain store, as in `root`: no
        // marker reads the flags while we hold `&mut self` (in `Gc::new` the object is new:
        // black while marking, and the next mark starts after a stop), and the next reader
        // gets them through whatever ends the `&mut`.
        self.lock
            .reset_with_flags((f & !(ROOTED | WRITTEN | LARGE)) | HEAP_OWNED);
    }
}
