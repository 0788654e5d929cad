//! Large cells moved into the heap stay rooted: `Gc::new`'s move-in walk (the walk that
//! makes a new object's handles its edges, `roots::unroot_new`) leaves a `GcCell` whose
//! contents hold at least `LARGE_HANDLES` (1,024) handles rooted, `LARGE`, written in the
//! current write epoch, and recorded dirty, as if a write guard had rooted it at once
//! (`object/cell_trace.rs`, `GcCell::unroot`). Without this, a list built on the stack and then
//! moved in (an interpreter's list literal, `collect()` into a `Vec`) had all its handles
//! made edges by the walk, and its first write guard rooted them all again, O(list) each
//! (a 2.8-million-handle list: 29-41 ms in `Gc::new`, then 43-54 ms stalled in the first
//! `borrow_mut`; BENCHMARKS.md, twenty-sixth session). Kept, the list costs one counting
//! walk (for a `Vec` of handles the compiler reduces it to the length: 0.01 ms) and is
//! treated from then on as every large cell written recently is (`dirty.rs`, "Large
//! written cells stay rooted"). Only a cell with a container of at least that many
//! elements inside is counted (`Trace::handles_hint`: a container's length, a derived
//! type's fields' sum), so a small cell's move-in costs a length check.
//!
//! Invariants: a kept cell is recorded dirty only after the walk has finished, when the
//! object is whole: the unroot pass, which runs while operations do, walks dirty objects,
//! and must never meet one whose other handles the walk has not made edges yet. A kept
//! cell's address is final (the walk runs on the object in its slot). The walk allocates
//! nothing and runs no user code (`Trace` obligation 2), so no other move-in can start
//! inside it on this thread.
//!
//! Shared state: none. The walk's state and its pending records are this thread's; the
//! records go to `dirty.rs`'s structures, under their own protection, when the walk ends.
//! See the collector overview (`crate::design::collector`, "Cells").

use super::dirty::{list_cell, UnrootFn};
use super::mark::Tracer;
use crate::sync::AtomicU8;
use std::cell::{Cell, RefCell};

/// No move-in walk runs on this thread.
const IDLE: u8 = 0;
/// A move-in walk runs and has kept no cell yet.
const WALKING: u8 = 1;
/// A move-in walk runs and kept at least one cell (in `PENDING`).
const KEPT: u8 = 2;

/// A cell kept rooted by the running walk: its address, its unroot function, and the
/// address of its flags word (`dirty::list_cell`'s arguments).
type Kept = (usize, UnrootFn, usize);

crate::sync::thread_local! {
    /// `IDLE`, `WALKING` or `KEPT`.
    static STATE: Cell<u8> = const { Cell::new(IDLE) };
    /// The cells the running walk kept, listed when it ends.
    static PENDING: RefCell<Vec<Kept>> = const { RefCell::new(Vec::new()) };
    /// A tracer that only counts edges, kept per thread: a fresh one clears its 2 KiB
    /// buffer, which would cost more than counting a small cell's contents.
    static COUNTER: RefCell<Option<Tracer>> = const { RefCell::new(None) };
}

/// A move-in walk of a new object that is whole in its slot, as a guard: while it lives,
/// `GcCell::unroot` may leave a large cell it meets rooted ([`keep_rooted`]); [`end`]
/// records those cells dirty. (A guard, not a closure around the walk: a closure kept the
/// walk from being inlined into `Gc::new`, and the interpreter's `fib.lox`, which
/// allocates an environment per call, ran 5-12% slower.) Dropped without `end`, when the
/// walk unwinds (a hand-written `unroot` panicked; the object is leaked with its root
/// count), it records nothing and the cells stay rooted with the object.
///
/// [`end`]: MoveIn::end
pub(crate) struct MoveIn(());

impl MoveIn {
    /// The walk begins.
    #[inline(always)]
    pub(crate) fn begin() -> MoveIn {
        STATE.with(|s| s.set(WALKING));
        MoveIn(())
    }

    /// The walk ended: list what it kept.
    #[inline(always)]
    pub(crate) fn end(self) {
        std::mem::forget(self);
        if STATE.with(|s| s.replace(IDLE)) == KEPT {
            list_kept();
        }
    }
}

impl Drop for MoveIn {
    /// Unwinding out of the walk: it ends, forgetting what it kept.
    fn drop(&mut self) {
        STATE.with(|s| s.set(IDLE));
        PENDING.with(|p| p.borrow_mut().clear());
    }
}

/// Whether a move-in walk runs on this thread (so a rooted cell it meets may stay rooted).
#[inline(always)]
pub(crate) fn in_move_in() -> bool {
    STATE.with(|s| s.get()) != IDLE
}

/// The running move-in walk leaves the cell at `addr` rooted (its flags at `flags`, set by
/// the caller to rooted, heap-owned, large and written now): record it dirty when the walk
/// ends, with `unroot` as its unroot function.
pub(crate) fn keep_rooted(addr: usize, unroot: UnrootFn, flags: &AtomicU8) {
    debug_assert!(in_move_in(), "a cell kept outside a move-in walk");
    PENDING.with(|p| {
        p.borrow_mut()
            .push((addr, unroot, flags as *const AtomicU8 as usize))
    });
    STATE.with(|s| s.set(KEPT));
}

/// The walk ended: its object is whole, so the cells it kept may now be met by the unroot
/// pass (`dirty::list_cell`: the slot's dirty bit, or the list for a cell outside a slot).
#[cold]
#[inline(never)]
fn list_kept() {
    let kept = PENDING.with(|p| std::mem::take(&mut *p.borrow_mut()));
    for &(addr, unroot, flags) in &kept {
        // SAFETY: the flags word of a cell inside the object just placed, which the walk
        // has finished with and whose handle the caller is about to return: alive.
        list_cell(addr, unroot, unsafe { &*(flags as *const AtomicU8) });
    }
    // The buffer back, emptied, for the thread's next keep.
    PENDING.with(|p| {
        let mut kept = kept;
        kept.clear();
        *p.borrow_mut() = kept;
    });
}

/// The number of edges `walk` gives a tracer that only counts them, or at least `enough`
/// if the walk stopped there (a container's `Trace::trace_counting` does); for a cell's
/// contents: a rooted cell nested inside gives none, it is counted on its own.
pub(crate) fn count_edges(enough: u64, walk: impl FnOnce(&mut Tracer)) -> u64 {
    COUNTER.with(|c| {
        let mut c = c.borrow_mut();
        let t = c.get_or_insert_with(Tracer::counting);
        t.count_to(enough);
        walk(t);
        t.counted()
    })
}
