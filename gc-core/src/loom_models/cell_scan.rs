//! The marker's scan of a `GcCell`'s list in chunks (`GcCell::trace_rest`, object
//! `cell_collector.rs`): past the first chunk it reads the list under a shared read lock
//! and lets go of the cell between two chunks, so a writer may take it in between. Under
//! loom a chunk is one edge (`CHUNK_EDGES`), so the scan of a list of two handles resumes
//! once. A writer takes the list's last handle out (`borrow_mut`, `pop`) while the mark
//! runs, and holds its guard until the mark is over (user code between two writes, or a
//! leaked guard). Whatever the interleaving, the mark ends (the scan stops once the
//! writer's rooting is published, `ROOTED`, instead of waiting for the guard), both
//! objects end marked (the one left in the list by the scan or by the writer's rooting,
//! which shades while marking; the one taken out by the rooting's shade, since the
//! objects' root scan runs first), and loom checks that every read of the list holds the
//! cell's lock (the contents' `UnsafeCell`). Checked to fail three ways (thirty-second
//! session): a chunk read without the read lock (a causality violation), the scan
//! resuming without looking at `ROOTED` (it spins for ever behind the guard: loom's branch
//! limit), and the rooting's shade switched off (`roots::barrier_on`: a handle ends
//! white).

use super::fixture::{ListInHeap, ListObject, Probe};
use super::model;
use super::roots::mark;
use super::thread;
use crate::sync::{Arc, AtomicBool, Ordering};

#[test]
fn loom_chunked_cell_scan_vs_a_writer() {
    model(|| {
        let l = ListInHeap::<2>::new();
        let (objects, objs, lists, list) = (&l.objects, l.objs, &l.lists, l.list);
        let marked = Arc::new(AtomicBool::new(false));
        let writer = thread::spawn({
            let (lists, marked) = (lists.clone(), marked.clone());
            move || {
                // SAFETY: the list lives as long as its span, which this thread holds.
                let l = unsafe { lists.get::<ListObject>(list) };
                let mut guard = l.field.borrow_mut();
                let taken = guard.pop().expect("two handles");
                // The guard held until the mark is over (user code between two writes, or
                // a leaked guard): the scan must not wait for it.
                while !marked.load(Ordering::SeqCst) {
                    loom::thread::yield_now();
                }
                drop(guard);
                let addr = &*taken as *const Probe as usize;
                // Its count stays on the object through the mark (the model's spans are
                // freed whole at its end).
                std::mem::forget(taken);
                addr
            }
        });
        // The objects' root scan first: a count the writer takes after it is found only
        // through the rooting's shade.
        mark(&[objects, lists]);
        marked.store(true, Ordering::SeqCst);
        let taken = writer.join().unwrap();
        assert_eq!(taken, objs[1].1, "the writer took the last handle");
        for (idx, _) in objs {
            assert!(
                objects.is_marked(idx),
                "slot {idx} ended white: the scan in chunks lost it"
            );
        }
    });
}
