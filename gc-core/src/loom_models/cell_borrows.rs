//! `GcCell` borrows between threads: a conflict with another thread must block and then
//! proceed, never be taken for the calling thread's own conflict (which panics). The
//! writer's token travels in the lock word and must be gone by the time another thread
//! can take the lock; read records are the thread's own. Also `swap` of two cells in
//! opposite orders on two threads (the locks are taken in address order: no deadlock,
//! which loom would report as a model that never finishes). Checks that every borrow
//! succeeds, that writes are never lost (loom also checks the contents' accesses for
//! races), and that two swaps leave the cells as they were. Last, the collector's hold of
//! a free cell (one compare-and-swap, released by a plain store), as the marker takes it,
//! against a reader and a writer that may wait behind it: under loom the release swaps and
//! asserts that nobody wrote the word meanwhile (a write then would be lost by the store).
//! Threads that block really park (`sync::park` under loom), so a release that fails to
//! wake a waiter (the store-buffering pair of `cell_lock.rs`: the release's unlock and
//! fence against the waiter's count and fence) is a deadlock loom reports; without either
//! fence, or without the wake of a write or of a last read release, these models fail.

use super::model;
use super::thread;
use crate::object::cell_lock::CellLock;
use crate::sync::UnsafeCell;
use crate::GcCell;
use std::sync::Arc;

#[test]
fn loom_cross_thread_borrows_block_and_never_panic() {
    model(|| {
        let cell = Arc::new(GcCell::new(0u64));
        let other = {
            let cell = cell.clone();
            thread::spawn(move || {
                let seen = *cell.borrow();
                *cell.borrow_mut() += 1;
                seen
            })
        };
        *cell.borrow_mut() += 1;
        let mine = *cell.borrow();
        let seen = other.join().unwrap();
        assert!(seen <= 1 && mine >= 1);
        assert_eq!(*cell.borrow(), 2, "a write was lost");
    });
}

#[test]
fn loom_swaps_in_opposite_orders() {
    model(|| {
        let cells = Arc::new((GcCell::new(1u64), GcCell::new(2u64)));
        let other = {
            let cells = cells.clone();
            thread::spawn(move || cells.1.swap(&cells.0))
        };
        cells.0.swap(&cells.1);
        other.join().unwrap();
        assert_eq!((*cells.0.borrow(), *cells.1.borrow()), (1, 2));
    });
}

/// A lock and the value it guards, as in a `GcCell`.
pub(super) struct Guarded {
    pub(super) lock: CellLock,
    pub(super) value: UnsafeCell<u64>,
}

// SAFETY: `value` is read and written only under `lock`.
unsafe impl Sync for Guarded {}

impl Guarded {
    /// Adds one to the value under a user write lock.
    pub(super) fn add_one(&self) {
        let w = self.lock.write();
        // SAFETY: write lock held.
        self.value.with_mut(|v| unsafe { *v += 1 });
        self.lock.write_unlock(w);
    }

    pub(super) fn read(&self) -> u64 {
        // SAFETY: the caller holds the lock (shared or alone).
        self.value.with(|v| unsafe { *v })
    }
}

/// The marker's read of `g`, as `GcCell::trace_locked` does it: `None` if a writer holds it.
pub(super) fn mark(g: &Guarded) -> Option<u64> {
    if let Some(hold) = g.lock.try_hold_collector() {
        let v = g.read();
        g.lock.release_collector(hold);
        Some(v)
    } else if g.lock.try_read_marker() {
        let v = g.read();
        g.lock.read_unlock_marker();
        Some(v)
    } else {
        None
    }
}

pub(super) fn guarded() -> Arc<Guarded> {
    Arc::new(Guarded {
        lock: CellLock::new(0),
        value: UnsafeCell::new(0),
    })
}

#[test]
fn loom_marker_hold_against_a_writer() {
    model(|| {
        let g = guarded();
        let writer = {
            let g = g.clone();
            thread::spawn(move || g.add_one())
        };
        let marked = mark(&g);
        writer.join().unwrap();
        assert!(marked.is_none_or(|v| v <= 1));
        let w = g.lock.write();
        assert_eq!(g.read(), 1, "the write was lost");
        g.lock.write_unlock(w);
    });
}

#[test]
fn loom_marker_hold_against_readers() {
    model(|| {
        let g = guarded();
        let reader = {
            let g = g.clone();
            thread::spawn(move || {
                let r = g.lock.read();
                let v = g.read();
                g.lock.read_unlock(r);
                v
            })
        };
        // Twice: the second finds the word as the reader left it (held or released).
        let marked = [mark(&g), mark(&g)];
        assert_eq!(reader.join().unwrap(), 0);
        assert_eq!(
            marked,
            [Some(0), Some(0)],
            "readers never keep the marker out"
        );
        // Nothing is left held: a writer gets in at once.
        let w = g.lock.try_write().expect("nothing held");
        g.lock.write_unlock(w);
    });
}
