//! `GcCell` borrows between threads: a conflict with another thread must block and then
//! proceed, never be taken for the calling thread's own conflict (which panics). The
//! writer's token travels in the lock word and must be gone by the time another thread
//! can take the lock; read records are the thread's own. Also `swap` of two cells in
//! opposite orders on two threads (the locks are taken in address order: no deadlock,
//! which loom would report as a model that never finishes). Checks that every borrow
//! succeeds, that writes are never lost (loom also checks the contents' accesses for
//! races), and that two swaps leave the cells as they were.

use super::model;
use crate::GcCell;
use loom::thread;
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
