//! After a forced cycle, its large cells rooted again: `collect()` roots, before it
//! returns, the large cells (`LARGE`) its unroot pass made edges that a paced cycle's pass
//! would have left rooted (written in the last `KEEP_PASSES` cycles: `dirty.rs`, "Large
//! written cells stay rooted"). A forced cycle unroots them to find every garbage cycle;
//! without this, the next write to each paid O(contents) to root it again (a
//! 2.8-million-handle list stalled its first writer after `collect()` 32-40 ms in the
//! latency probe; BENCHMARKS.md, twenty-sixth session). `collect()`'s caller pays that
//! instead, at the moment it chose.
//!
//! How: the forced cycle's mark records here (`note`) every large edge cell written
//! recently that it traces, unless the cell lies inside another cell's contents (whose
//! writer may move or drop it). Mark termination closes the record. Then `run`, on the
//! same thread and still holding the cycle lock, roots each one under the collector's hold
//! (biases suspended, as in the unroot pass) and records it dirty, as a write guard would;
//! a cell a writer holds or has rooted meanwhile is left alone.
//!
//! Invariants: a recorded cell lies in an object this cycle marked, directly (a field, or
//! a buffer the object owns, which nothing can move while the object lives: an object
//! changes only through its cells, `Trace` obligation 3), so it lives until the next
//! cycle's sweep at the earliest, which cannot begin before `run` returns (the cycle
//! lock).
//!
//! Shared state: `RECORDING` (set by a forced cycle's mark setup and cleared at its mark
//! termination, both with operations stopped; read by markers) and `CELLS` (a mutex:
//! markers push, `run` takes). See the collector overview (`crate::design::collector`,
//! "Cells").

use crate::sync::{AtomicBool, Mutex, Ordering};

/// Roots the contents of the edge cell at this address again and records it dirty, unless
/// a writer holds it or it is rooted already (`GcCell`'s `reroot_erased`).
pub(crate) type RerootFn = unsafe fn(usize);

crate::sync::global! {
    /// A forced cycle is marking: markers record the cells to root again.
    static RECORDING: AtomicBool = AtomicBool::new(false);
}
crate::sync::global! {
    /// The cells to root again, with their functions.
    static CELLS: Mutex<Vec<(usize, RerootFn)>> = Mutex::new(Vec::new());
}

/// A forced cycle's mark begins (operations stopped): record from now on.
pub(crate) fn start() {
    RECORDING.store(true, Ordering::Relaxed);
}

/// The mark ended (operations stopped): no more records.
pub(crate) fn stop() {
    RECORDING.store(false, Ordering::Relaxed);
}

/// Whether the running mark records the large cells to root again (a forced cycle's).
/// Relaxed: set and cleared while operations are stopped, which orders them before and
/// after every marker's work.
#[inline]
pub(crate) fn recording() -> bool {
    RECORDING.load(Ordering::Relaxed)
}

/// The marker met the large edge cell at `addr`, written recently, directly in the object
/// it scans: root it again after the cycle with `reroot`.
#[cold]
pub(crate) fn note(addr: usize, reroot: RerootFn) {
    CELLS.lock().push((addr, reroot));
}

/// Roots the recorded cells again (the module header's `run`). Called by the cycle that
/// recorded them, after mark termination, before it releases the cycle lock.
pub(crate) fn run() {
    let cells = std::mem::take(&mut *CELLS.lock());
    if cells.is_empty() {
        return;
    }
    // The cells are taken exclusively; their owners' biased reads must be seen.
    let _suspended = super::dirty::suspend_biases();
    for &(addr, reroot) in &cells {
        // SAFETY: `addr` is a cell this cycle's mark reached directly in a marked object,
        // alive and unmoved until the next cycle's sweep, which waits for our cycle lock
        // (module header); `reroot` is its type's function.
        unsafe { reroot(addr) };
    }
}
