//! The dirty list: `GcCell`s inside heap objects whose contents were rooted by a write since
//! the last cycle. The next cycle's unroot pass turns their contents back into edges before
//! it scans roots, so each write costs O(1) and each cell O(contents) once per cycle.
//!
//! Invariants: an entry's cell is alive and does not move while it is listed (a cell removes
//! itself, under the list lock, before it is dropped and before an enclosing write could move
//! it: see `GcCell::root`; a sweep that moves a dead object out of the heap for the dropper
//! unlists the object's cells first, `forget_range`). The pass touches a cell only while holding the list lock, so a
//! removal waits for the pass to finish with that cell instead of racing it. The lock is
//! never held while waiting for a user (the pass only `try_write`s cells). See the collector
//! overview
//! (`crate::design::collector`).

use crate::object::cell::ON_LIST;
use crate::sync::{AtomicU8, Mutex, Ordering};
use std::collections::BTreeMap;

/// Type-erased "unroot this cell if nobody holds it" (returns false if busy).
pub(crate) type UnrootFn = unsafe fn(usize) -> bool;

/// A listed cell: its unroot function and the address of its flags word. Ordered by cell
/// address, so a sweep can find the cells inside one object (`forget_range`).
type List = BTreeMap<usize, (UnrootFn, usize)>;

crate::sync::global! {
    static DIRTY: Mutex<List> = Mutex::new(BTreeMap::new());
}

fn lock() -> crate::sync::MutexGuard<'static, List> {
    DIRTY.lock()
}

/// Lists a cell (at address `addr`, with its flags word).
pub(crate) fn list_cell(addr: usize, unroot: UnrootFn, flags: &AtomicU8) {
    let mut d = lock();
    d.insert(addr, (unroot, flags as *const AtomicU8 as usize));
    flags.fetch_or(ON_LIST, Ordering::Relaxed);
}

/// Unlists a cell.
pub(crate) fn unlist_cell(addr: usize, flags: &AtomicU8) {
    let mut d = lock();
    d.remove(&addr);
    flags.fetch_and(!ON_LIST, Ordering::Relaxed);
}

/// Cells processed per hold of the list lock by the unroot pass: short holds, so threads
/// that dirty or unlist cells meanwhile wait microseconds, not the whole pass.
const BATCH: usize = 64;

/// The unroot pass: for every listed cell nobody holds, turn its contents into edges and
/// unlist it. Busy cells stay listed (and rooted) until a later cycle. Runs concurrently
/// with mutators, after sweep termination and before mark setup: no sweeper can free a
/// listed cell then, and a cell is only unlisted or moved under the list lock, which the
/// pass holds while it touches that cell. Cells listed during the pass wait for the next
/// cycle (they are roots meanwhile). Returns (cells unrooted, cells still listed).
pub(crate) fn unroot_pass() -> (usize, usize) {
    let addrs: Vec<usize> = lock().keys().copied().collect();
    let mut unrooted = 0;
    for batch in addrs.chunks(BATCH) {
        let mut d = lock();
        for addr in batch {
            // Unlisted since the snapshot (or listed anew: then it is a live cell too).
            let Some(&(f, _)) = d.get(addr) else { continue };
            // SAFETY: the cell is listed and we hold the list lock (module header).
            if unsafe { f(*addr) } {
                d.remove(addr);
                unrooted += 1;
            }
        }
    }
    (unrooted, len())
}

/// Unlists every cell in `[lo, hi)`: the memory of a dead object that the sweeper is about
/// to move out of the heap (the dropper, `dropper.rs`). Their `ON_LIST` flags are cleared in
/// place first, so the moved copies' `Drop` finds nothing to unlist.
///
/// # Safety
///
/// `[lo, hi)` is one unreachable object in a span the caller has claimed for sweeping, not
/// yet moved or freed (its listed cells are alive where they were listed).
pub(crate) unsafe fn forget_range(lo: usize, hi: usize) {
    let mut d = lock();
    let inside: Vec<usize> = d.range(lo..hi).map(|(&a, _)| a).collect();
    for addr in inside {
        if let Some((_, flags)) = d.remove(&addr) {
            // SAFETY: the flags word belongs to a listed cell, alive in the dead object
            // (the caller's contract); the list lock guards ON_LIST.
            unsafe { (*(flags as *const AtomicU8)).fetch_and(!ON_LIST, Ordering::Relaxed) };
        }
    }
}

/// Number of listed cells.
pub(crate) fn len() -> usize {
    lock().len()
}
