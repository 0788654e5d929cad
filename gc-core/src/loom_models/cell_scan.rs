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

use super::fixture::{ModelSpan, Padded, Probe};
use super::model;
use super::roots::mark;
use super::thread;
use crate::alloc::heap::HEAP;
use crate::gc::roots;
use crate::sync::{Arc, AtomicBool, Ordering};
use crate::{Gc, GcCell, Trace};

/// A heap object holding a list in a cell, as an interpreter's list object.
type List = Padded<GcCell<Vec<Gc<Probe>>>>;

#[test]
fn loom_chunked_cell_scan_vs_a_writer() {
    model(|| {
        let sg = HEAP.sweepgen();
        let objects = std::sync::Arc::new(ModelSpan::new::<Probe>(sg));
        let lists = std::sync::Arc::new(ModelSpan::new::<List>(sg));
        let objs = [(); 2].map(|_| {
            let (idx, addr) = objects.alloc(Probe::new().0);
            roots::set_new_root(&objects, idx);
            (idx, addr)
        });
        // SAFETY: each object's count (set above) moves to its handle.
        let handles = objs.map(|(_, addr)| unsafe { Gc::<Probe>::from_counted_addr(addr) });
        let (l_idx, list) = lists.alloc(List::new(GcCell::new(handles.into())));
        // Moved into the heap, as `Gc::new` does: the handles become the list's edges.
        // SAFETY: just allocated; no other thread knows it yet.
        unsafe { (*(list as *mut List)).unroot() };
        roots::set_new_root(&lists, l_idx);
        let marked = Arc::new(AtomicBool::new(false));
        let writer = thread::spawn({
            let (lists, marked) = (lists.clone(), marked.clone());
            move || {
                // SAFETY: the list lives as long as its span, which this thread holds.
                let l = unsafe { lists.get::<List>(list) };
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
        mark(&[&objects, &lists]);
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
